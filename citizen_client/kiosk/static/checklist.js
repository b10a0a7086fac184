// The live checklist of the citizen's matter on the service screen, as the specialist sees it:
// every material of the matter (required first, optional marked) with its state, keyed by the
// material's kind, the latest still of a kind deciding: needed (no still yet) / captured, being
// checked / accepted / to redo (with the plain reason). Stills of another kind (`other`, the
// merged ID card) are listed below. The socket's pushes (material_added, material_recognised,
// material_verdict in connection.js) update S.materials; a reload or a reconnection rebuilds it
// from GET /api/sessions/{sid}/materials (the booth may read it while the session is open).

import { $, h } from "../shared/dom.js";
import { getLang, nameOf, t } from "./i18n.js";
import { BOOTH, TOKEN_KEY, S } from "./state.js";

const GOOD = new Set(["accepted", "ok", "pass", "passed", "approved"]);
const BAD = new Set(["rejected", "recapture", "retake", "fail", "failed"]);

const matterOf = (code) => S.catalogue?.matters.find((m) => m.code === code) || null;
const sessionMatter = () => matterOf(S.session?.matter || S.matter);

/** good: the specialist accepted it; bad: it must be taken again; pending: waiting for the specialist. */
export function verdictClass(m) {
  if (BAD.has(m.verdict)) return "bad";
  if (m.stage === "specialist" && GOOD.has(m.verdict)) return "good";
  return "pending";
}

/** The material's name in the matter's words (or the words for a kind the matter does not list). */
export function materialName(kind) {
  const item = sessionMatter()?.materials.find((x) => x.kind === kind);
  if (item) return nameOf(item);
  const key = `kind_${kind}`;
  const words = t(key);
  return words === key ? t("kind_other") : words;
}

const LABEL = { needed: "checklist_needed", pending: "checklist_checking", good: "checklist_accepted", bad: "checklist_redo" };

function row(name, state, still, optional) {
  const data = { state };
  if (still) {
    data.material = still.id;
    if (still.cls) data.class = still.cls;
  }
  const advice = still ? (getLang() === "en" ? still.advice_en : still.advice_zh) : "";
  // another document than the one asked for: its words in the largest type of the list
  const wrong = state === "bad" && still.stage === "check" && (still.reasons || []).includes("wrong_kind");
  return h("li", { class: state, dataset: data },
    h("span", { class: "item-name" }, name),
    optional ? h("span", { class: "optional" }, t("checklist_optional")) : null,
    h("span", { class: "badge" }, t(LABEL[state])),
    advice && (state === "bad" || state === "pending")
      ? h("span", { class: state === "bad" ? `advice${wrong ? " wrong" : ""}` : "advice soft" }, advice) : null);
}

/** Draw the checklist from S.materials (the stills in the order they came) and the matter. */
export function renderMaterials() {
  const list = $("#materials");
  list.replaceChildren();
  const stills = [...S.materials.values()];
  $("#materials-empty").hidden = stills.length > 0;
  const matter = sessionMatter();
  if (!matter || !S.session) return;
  const latest = new Map(); // kind -> the latest still of that kind
  for (const m of stills) latest.set(m.kind, m);
  const items = [...matter.materials.filter((x) => x.required), ...matter.materials.filter((x) => !x.required)];
  for (const item of items) {
    const still = latest.get(item.kind) || null;
    list.append(row(nameOf(item), still ? verdictClass(still) : "needed", still, !item.required));
  }
  const listed = new Set(matter.materials.map((x) => x.kind));
  const others = stills.filter((m) => !listed.has(m.kind));
  const more = $("#materials-other");
  more.replaceChildren();
  $("#materials-other-title").hidden = others.length === 0;
  for (const m of others) more.append(row(materialName(m.kind), verdictClass(m), m, false));
}

/** A still as the page keeps it, from a record of GET /api/sessions/{sid}/materials. */
function fromRecord(m) {
  const review = m.review || null;
  return { id: m.id, kind: m.kind, stage: review ? "specialist" : "check", verdict: review ? review.verdict : m.verdict,
    cls: m.class ?? null, reasons: review ? [] : m.reasons || [], advice_zh: m.advice_zh || "", advice_en: m.advice_en || "",
    at: m.at || 0 };
}

/** Fetch the session's materials with the booth token and rebuild the checklist (after a reload,
 * a reconnection). Pushes that came meanwhile stay; the server's word wins for the same still,
 * unless only the page has heard the specialist's verdict yet. */
export async function rebuildChecklist(sid) {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!sid || !token) return;
  let body;
  try {
    const resp = await fetch(`/api/sessions/${encodeURIComponent(sid)}/materials`, {
      headers: { Authorization: `Bearer ${token}`, "X-Booth": BOOTH }, cache: "no-store" });
    if (!resp.ok) return; // the session is over (403): nothing to rebuild
    body = await resp.json();
  } catch {
    return; // offline: the next (re)connection tries again
  }
  if (S.session?.sid !== sid) return; // another citizen by now
  const next = new Map();
  for (const record of body.materials || []) {
    const fetched = fromRecord(record);
    const heard = S.materials.get(fetched.id);
    next.set(fetched.id, heard && heard.stage === "specialist" && fetched.stage === "check" ? heard : fetched);
  }
  for (const [id, m] of S.materials) if (!next.has(id)) next.set(id, m); // pushed after the server's answer
  S.materials.clear();
  for (const [id, m] of next) S.materials.set(id, m);
  renderMaterials();
}
