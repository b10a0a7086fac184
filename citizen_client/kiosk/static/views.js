// What each screen shows: the catalogue's places and matters, the ticket and the wait, the
// materials' verdicts during service, the receipt with its QR code.

import qrcode from "/kiosk/vendor/qrcode.mjs";
import { $, $$, h } from "../shared/dom.js";
import { STATE } from "../protocol/protocol.js";
import { getLang, nameOf, t, themeName } from "./i18n.js";
import { say } from "./speech.js";
import { BOOTH, S } from "./state.js";
import { go } from "./screens.js";

const GOOD = new Set(["accepted", "ok", "pass", "passed", "approved"]);
const BAD = new Set(["rejected", "recapture", "retake", "fail", "failed"]);

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
  if (screen === "region") renderRegions();
  else if (screen === "matter") renderMatters();
  else if (screen === "consent") renderConsent();
  else if (screen === "waiting") renderWaiting();
  else if (screen === "service") renderMaterials();
  else if (screen === "receipt") renderReceipt();
  else if (screen === "setup") $("#setup-tech").textContent = t("setup_tech", { booth: BOOTH });
}

export function renderRegions() {
  const list = $("#region-list");
  list.replaceChildren();
  if (!S.catalogue) return;
  if (!S.province) {
    $("#region-title").textContent = t("region_title");
    for (const p of S.catalogue.provinces) {
      list.append(h("button", { class: "tile", type: "button", dataset: { province: p.code },
        on: { click: () => { S.province = p.code; renderRegions(); say("say_region_pick"); } } }, nameOf(p)));
    }
    return;
  }
  const province = regionOf(S.province);
  $("#region-title").textContent = t("region_pick", { province: nameOf(province) });
  for (const r of province.regions) {
    const level = r.level === "province" ? t("region_level_province") : t(`region_level_${r.level}`);
    list.append(h("button", { class: "tile", type: "button", dataset: { region: r.code },
      on: { click: () => { S.region = r.code; S.audience = firstAudience(); go("matter"); } } },
      nameOf(r), h("small", {}, level)));
  }
}

export function regionMatters() {
  return (S.catalogue?.matters || []).filter((m) => m.region === S.region);
}

export function firstAudience() {
  return regionMatters().some((m) => m.audience === "person") ? "person" : "company";
}

export function renderMatters() {
  const all = regionMatters();
  for (const tab of $$("#matter-tabs .tab")) {
    tab.hidden = !all.some((m) => m.audience === tab.dataset.audience);
    tab.setAttribute("aria-selected", String(tab.dataset.audience === S.audience));
  }
  const q = $("#matter-search").value.trim().toLowerCase();
  const shown = all.filter((m) => (q ? `${m.name_zh} ${m.name_en} ${m.theme}`.toLowerCase().includes(q) : m.audience === S.audience));
  const list = $("#matter-list");
  list.replaceChildren();
  if (!shown.length) {
    list.append(h("p", { class: "empty" }, t("matter_none")));
    return;
  }
  const themes = [...new Set(shown.map((m) => m.theme))];
  for (const theme of themes) {
    list.append(h("h2", { class: "theme" }, themeName(theme)));
    const group = h("div", { class: "matter-list" });
    for (const m of shown.filter((x) => x.theme === theme)) {
      const days = m.promised_days ? t("matter_days", { n: m.promised_days }) : t("matter_days_0");
      group.append(h("button", { class: "matter", type: "button", dataset: { matter: m.code },
        on: { click: () => { S.matter = m.code; go("priority"); } } }, nameOf(m), h("small", {}, days)));
    }
    list.append(group);
  }
}

export function priorityLabel(p) {
  return t(`priority_${p || "none"}`);
}

/** Days a recording is kept (RW_RECORDING_RETENTION_DAYS, rendered into the page by the server). */
export function retentionDays() {
  const days = Number(document.body.dataset.recordingRetentionDays);
  return Number.isFinite(days) && days > 0 ? Math.round(days) : 180;
}

export function renderConsent() {
  const m = matterOf(S.matter);
  const parts = [nameOf(regionOf(S.region)), nameOf(m)];
  if (S.priority) parts.push(priorityLabel(S.priority));
  $("#consent-summary").textContent = parts.join(" · ");
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

/** good: the specialist accepted it; bad: it must be taken again; pending: waiting for the specialist. */
export function verdictClass(m) {
  if (BAD.has(m.verdict)) return "bad";
  if (m.stage === "specialist" && GOOD.has(m.verdict)) return "good";
  return "pending";
}

export function materialName(kind) {
  const m = matterOf(S.session?.matter || S.matter);
  const item = m?.materials.find((x) => x.kind === kind);
  return item ? nameOf(item) : kind || "";
}

export function renderMaterials() {
  const list = $("#materials");
  list.replaceChildren();
  const items = [...S.materials.values()].reverse();
  $("#materials-empty").hidden = items.length > 0;
  for (const m of items) {
    const cls = verdictClass(m);
    const label = { good: t("verdict_ok"), bad: t("verdict_bad"), pending: t("verdict_pending") }[cls];
    const advice = getLang() === "en" ? m.advice_en : m.advice_zh;
    // another document than the one asked for: its words in the largest type of the list
    const wrong = cls === "bad" && m.stage === "check" && (m.reasons || []).includes("wrong_kind");
    const data = { material: m.id };
    if (m.cls) data.class = m.cls;
    list.append(h("li", { class: cls, dataset: data }, materialName(m.kind), h("span", { class: "badge" }, label),
      advice && cls !== "good" ? h("span", { class: cls === "bad" ? `advice${wrong ? " wrong" : ""}` : "advice soft" }, advice) : null));
  }
}

export function renderReceipt() {
  const s = S.session || {};
  $("#receipt-sid").textContent = s.sid || "";
  $("#receipt-matter").textContent = nameOf(matterOf(s.matter), s.matter || "");
  $("#receipt-outcome").textContent = s.outcome ? t(`outcome_${s.outcome}`) : "";
  $("#receipt-case").textContent = s.case_number || t("receipt_case_none");
  $("#receipt-rating").textContent = S.rating ? t(`rating_${S.rating}`) : "—";
  $("#receipt-time").textContent = new Date().toLocaleString(getLang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
  drawQr($("#receipt-qr"), s.sid || "");
}

export function drawQr(canvas, text) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!text) return;
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  const cell = Math.floor(canvas.width / (n + 2 * quiet));
  const offset = Math.floor((canvas.width - cell * n) / 2);
  ctx.fillStyle = "#000";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) ctx.fillRect(offset + c * cell, offset + r * cell, cell, cell);
  canvas.dataset.qr = text;
}
