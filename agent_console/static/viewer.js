// The still viewer of the console: tools (zoom, rotate, corrected/original, masked, compare), the
// panes, and under them what the automatic check found (quality, recognised class, what was read)
// and the specialist's verdict with its keys. Drawn from a Materials object (materials.js).

import { $, h, fill, hms } from "../shared/dom.js";
import { t, has } from "./i18n.js";
import { autoBadge, classLine, recognising, recognitionFacts, reasonsText, wrongKind, wrongKindText } from "./recognition.js";

export function renderViewer(mats) {
  const viewer = $("#viewer");
  const m = mats.shown();
  if (!m) return fill(viewer);
  const v = mats.view;
  const tools = h("div.vtools",
    h("button", { type: "button", title: t("mat.zoom_out"), on: { click: () => mats.zoom(-1) } }, "−"),
    h("span.zoom", v.zoom === 1 ? t("mat.fit") : `${Math.round(v.zoom * 100)}%`),
    h("button", { type: "button", title: t("mat.zoom_in"), on: { click: () => mats.zoom(1) } }, "+"),
    h("button", { type: "button", on: { click: () => mats.setView({ zoom: 1, rotate: 0 }) } }, t("mat.fit")),
    h("button", { type: "button", on: { click: () => mats.setView({ rotate: (v.rotate + 90) % 360 }) } }, `⟳ ${t("mat.rotate")}`),
    h("button", { type: "button", class: v.variant === "corrected" ? "on" : "", on: { click: () => mats.setView({ variant: "corrected" }) } }, t("mat.corrected")),
    h("button", { type: "button", class: v.variant === "original" ? "on" : "", on: { click: () => mats.setView({ variant: "original" }) } }, t("mat.original")),
    h("button#btn-mat-masked", { type: "button", class: v.masked ? "on" : "", title: t("mat.masked_title"), "aria-pressed": String(v.masked),
      on: { click: () => mats.toggleMasked() } }, h("kbd", "H"), " ", t("mat.masked")),
    h("button", { type: "button", class: mats.comparing ? "on" : "", on: { click: () => mats.toggleCompare() } }, mats.comparing ? t("mat.compare_off") : t("mat.compare")),
    h("span.spacer"),
    mats.latest("id_card_front") && mats.latest("id_card_back")
      ? h("button", { type: "button", on: { click: () => mats.mergeId() } }, t("mat.id_merge")) : null,
    h("a.button", { href: `/api/sessions/${encodeURIComponent(mats.sid)}/materials.pdf`, target: "_blank", rel: "noopener" }, t("mat.pdf")));
  const panes = [pane(mats, m)];
  if (mats.comparing) {
    const c = mats.compare && mats.list.get(mats.compare);
    panes.push(c ? pane(mats, c) : h("div.pane.hint", t("mat.pick_compare")));
  }
  fill(viewer, tools, h(`div.panes${mats.comparing ? ".two" : ""}`, panes), verdictBox(mats, m));
  mats.fresh = null; // the arrival flash plays once
}

/** Which variant a pane shows: the masked rendition while the toggle is on and one exists. */
export function paneVariant(mats, m) {
  return mats.view.masked && m.masked ? "masked" : mats.view.variant;
}

function pane(mats, m) {
  const v = mats.view;
  const variant = paneVariant(mats, m);
  const img = mats.img(m, variant, { alt: mats.kindName(m.kind), draggable: false });
  if (v.zoom > 1) img.style.width = `${v.zoom * 100}%`;
  else img.classList.add("fit");
  img.style.transform = `rotate(${v.rotate}deg)`;
  const note = v.masked && !m.masked ? ` · ${t("mat.no_masked")}` : variant === "masked" ? ` · ${t("mat.masked")}` : "";
  const el = h("div.pane", { class: [m.id === mats.fresh ? "fresh" : "", variant === "masked" ? "masked" : ""].join(" "), dataset: { id: m.id, variant } },
    h("div.scroll", img), h("span.cap", `${mats.kindName(m.kind)} · ${m.width}×${m.height} · ${hms(m.at)}${note}`));
  el.addEventListener("wheel", (ev) => {
    if (!ev.ctrlKey) return;
    ev.preventDefault();
    mats.zoom(ev.deltaY < 0 ? 1 : -1);
  }, { passive: false });
  return el;
}

function verdictBox(mats, m) {
  const review = m.review;
  const wrong = wrongKind(m);
  const facts = recognising(m) ? [] : recognitionFacts(m);
  const recog = m.class !== undefined
    ? h("div.recog", { class: recognising(m) ? "pending" : wrong ? "wrong" : "", dataset: { class: m.class || "" } },
      h("b.cls", classLine(m)), facts.length ? h("span.facts", ` · ${facts.join(" · ")}`) : null,
      wrong ? h("span.plain", wrongKindText(m, mats.kindName(m.kind))) : null)
    : null;
  return h("div.verdict", { dataset: { id: m.id } },
    h("div.auto",
      h("b", `${t("mat.auto")}: `), autoBadge(m),
      h("span.reasons", { class: m.verdict === "rejected" ? "bad-text" : "" }, reasonsText(m))),
    recog,
    mats.idFields.panel(m),
    h("div.review",
      review
        ? h(`span.badge.${review.verdict === "accepted" ? "ok" : "bad"}`, t(`mat.${review.verdict}`),
          review.reason ? ` · ${has(`vreason.${review.reason}`) ? t(`vreason.${review.reason}`) : review.reason}` : "",
          review.override ? ` · ${t("hist.override", { reason: review.override_reason || "" })}` : "",
          ` · ${t("mat.by", { by: review.by, time: hms(review.at) })}`)
        : h("span.badge.todo", t("mat.unverified")),
      h("span.spacer"),
      h("button.ok", { type: "button", id: "btn-mat-accept", on: { click: () => mats.accept() } }, h("kbd", "V"), " ", t("mat.accept")),
      h("button.bad", { type: "button", id: "btn-mat-reject", on: { click: () => mats.openReject() } }, h("kbd", "R"), " ", t("mat.reject"))));
}
