// What each screen shows: the matter and the place (finder.js), the choice summed up, the ticket
// and the wait, the checklist during service (checklist.js), the receipt with its QR code.

import { $, h } from "../shared/dom.js";
import { STATE } from "../protocol/protocol.js";
import { nameOf, t } from "./i18n.js";
import { BOOTH, S } from "./state.js";
import { renderMatters, renderPlaces, placeWords } from "./finder.js";
import { renderMaterials } from "./checklist.js";
import { renderReceipt } from "./receipt.js";

export { verdictClass, materialName, renderMaterials } from "./checklist.js";

export const matterOf = (code) => S.catalogue?.matters.find((m) => m.code === code) || null;
export const regionOf = (code) => {
  for (const p of S.catalogue?.provinces || []) {
    if (p.code === code) return p;
    const r = p.regions.find((x) => x.code === code);
    if (r) return r;
  }
  return null;
};
export const centreName = (id) => nameOf(S.catalogue?.centres?.[id], id || "");

// --- rendering -----------------------------------------------------------------------------------

export function render(screen = S.screen) {
  if (screen === "matter") renderMatters();
  else if (screen === "place") renderPlaces();
  else if (screen === "priority") renderChosen("#priority-chosen");
  else if (screen === "consent") renderConsent();
  else if (screen === "waiting") renderWaiting();
  else if (screen === "service") renderMaterials();
  else if (screen === "receipt") renderReceipt();
  else if (screen === "setup") $("#setup-tech").textContent = t("setup_tech", { booth: BOOTH });
}

export function priorityLabel(p) {
  return t(`priority_${p || "none"}`);
}

/** Days a recording is kept (RW_RECORDING_RETENTION_DAYS, rendered into the page by the server). */
export function retentionDays() {
  const days = Number(document.body.dataset.recordingRetentionDays);
  return Number.isFinite(days) && days > 0 ? Math.round(days) : 180;
}

/** The service modes of a matter in plain words (全程网办 · 异地代收代办). */
export function modesOf(m) {
  return (m?.service_modes || []).map((mode) => t(`mode_${mode}`)).join(" · ");
}

/** The chosen matter as a card: its name, the place, how it is handled and who is responsible. */
export function renderChosen(selector) {
  const m = matterOf(S.matter);
  const el = $(selector);
  el.replaceChildren();
  if (!m) return;
  el.append(h("p", { class: "chosen" }, nameOf(m)),
    h("dl", { class: "facts" },
      h("dt", {}, t("chosen_place")), h("dd", {}, placeWords(m.region)),
      h("dt", {}, t("chosen_modes")), h("dd", { class: "modes" }, modesOf(m)),
      h("dt", {}, t("chosen_department")), h("dd", { class: "department" }, m.department)));
}

export function renderConsent() {
  const m = matterOf(S.matter);
  const parts = [nameOf(m), placeWords(m?.region || S.region)];
  if (S.priority) parts.push(priorityLabel(S.priority));
  $("#consent-summary").textContent = parts.join(" · ");
  $("#consent-modes").textContent = modesOf(m);
  $("#consent-department").textContent = m?.department || "";
  $("#consent-keep").textContent = t("consent_keep", { days: retentionDays() });
}

export function renderWaiting() {
  const s = S.session || {};
  $("#ticket").textContent = s.ticket || "";
  $("#waiting-matter").textContent = nameOf(matterOf(s.matter || S.matter));
  const note = $("#waiting-note");
  note.hidden = true;
  if (s.state === STATE.OFFERED) {
    $("#waiting-position").textContent = t("waiting_calling");
    $("#waiting-eta").textContent = s.agent_centre ? t("waiting_centre", { centre: centreName(s.agent_centre) }) : "";
    return;
  }
  const ahead = s.ahead ?? (s.position ? s.position - 1 : null);
  $("#waiting-position").textContent = ahead === null ? "" : ahead <= 0 ? t("waiting_next") : t("waiting_position", { n: ahead });
  const eta = s.eta_s;
  $("#waiting-eta").textContent =
    eta === null || eta === undefined ? t("waiting_eta_unknown") : eta < 60 ? t("waiting_eta_soon") : t("waiting_eta", { n: Math.ceil(eta / 60) });
  if (s.requeued) {
    note.textContent = t("waiting_requeued");
    note.hidden = false;
  } else if (s.wide) {
    note.textContent = t("waiting_wide");
    note.hidden = false;
  }
}

// The receipt and its QR code live in receipt.js (issue 18); re-exported for the modules that import them here.
export { renderReceipt, drawQr } from "./receipt.js";
