// What the automatic check recognised a still as (issue 17), in the console's words.
//
// A material's "class" is null while the recognition is pending, then one of the classes
// (id_card_front, id_card_back, household_register, business_licence, bank_card, page, unknown);
// "recognition" carries the public part: {class, confidence, id_number_masked?, id_number_valid?,
// valid_until?, expired?, sides?, ms}. Never a full ID number: that comes only from the
// id-fields route, to the specialist serving the session (see idfields.js).

import { h } from "../shared/dom.js";
import { t, has } from "./i18n.js";

/** True while the still's class is not known yet (material_recognised has not come). A record
 * of a server without recognition has no "class" field at all: nothing is pending there. */
export function recognising(m) {
  return !!m && "class" in m && (m.class === null || m.class === undefined);
}

/** The automatic verdict the console shows for a still: "pending" while recognising, else the
 * record's verdict. It is what a verdict carries as seen_verdict. */
export function shownAuto(m) {
  return recognising(m) ? "pending" : m.verdict;
}

export function className(cls) {
  return has(`class.${cls}`) ? t(`class.${cls}`) : cls;
}

export function reasonText(r) {
  return has(`auto.${r}`) ? t(`auto.${r}`) : r;
}

export function reasonsText(m) {
  const reasons = m.reasons || [];
  return reasons.length ? reasons.map(reasonText).join("、") : t("mat.reasons_none");
}

export function wrongKind(m) {
  return !!m && (m.reasons || []).includes("wrong_kind");
}

/** "识别为：身份证人像面" or "识别中…" (one short line: thumbs, history). */
export function classLine(m) {
  if (recognising(m)) return t("rec.pending");
  if (!m.class) return "";
  return t("rec.as", { cls: className(m.class) });
}

/** The masked ID number the record carries (the only number anything but the id-fields panel shows). */
export function maskedNumber(m) {
  return (m && m.recognition && m.recognition.id_number_masked) || "";
}

/** The automatic verdict's badge: 合格 / 不合格 / 识别中. */
export function autoBadge(m) {
  const seen = shownAuto(m);
  if (seen === "pending") return h("span.auto.todo.recog", t("mat.auto_pending"));
  return h(`span.auto.${seen === "accepted" ? "ok" : "bad"}`, seen === "accepted" ? t("mat.auto_ok") : t("mat.auto_bad"));
}

/** The class a still of `kind` must be, in words (from the record's reasons and the class names). */
export function wrongKindText(m, wantName) {
  return t("rec.wrong_kind", { want: wantName, cls: className(m.class) });
}

/** The recognition's line in the viewer: class, confidence, and per class what was read (public part). */
export function recognitionFacts(m) {
  const r = m.recognition || {};
  const facts = [];
  if (typeof r.confidence === "number") facts.push(t("rec.confidence", { p: Math.round(r.confidence * 100) }));
  if (m.class === "id_card_back" && r.valid_until) {
    facts.push(r.valid_until === "长期" ? t("idf.long_term") : t("idf.valid_until", { date: r.valid_until }));
    if (r.expired) facts.push(t("idf.expired"));
  }
  if (r.sides === "match") facts.push(t("idf.sides_match"));
  else if (r.sides === "mismatch") facts.push(t("idf.sides_mismatch"));
  return facts;
}
