// The hall (issue 18): a waiting citizen may take a slip and sit down (取号凭条) and keep their
// place; the hall calls the ticket back (叫号) on its display and on every free booth, where a
// touch claims it; and any citizen at a booth may call the hall's staff (呼叫现场工作人员).
// docs/booth.md and docs/hall.md describe it. Loaded beside kiosk.js; it shares its modules.

import { $, $$, h } from "../shared/dom.js";
import { getLang, nameOf, onLang, t } from "./i18n.js";
import { say } from "./speech.js";
import { S } from "./state.js";
import { SCREENS, ask, go, reset, showToast } from "./screens.js";
import { onSession, request, socket } from "./connection.js";
import { drawQr, matterOf } from "./views.js";

const H = {
  calls: new Map(), // sid -> {sid, ticket, deadline}: what the hall is calling now
  help: null, // this booth's help call {since, reason}, or null
  slip: null, // the slip on screen {sid, ticket, matter, call_back_s, status_code?}
};

/** A free booth's screens: nobody's session here, the welcome screen or a choosing step. */
function freeScreen() {
  const screen = S.screen;
  return !S.session && (screen === "welcome" || screen === "declined" || Boolean(SCREENS[screen]?.step));
}

// --- sitting down with a slip ----------------------------------------------------------------

async function sitDown() {
  if (!S.session?.sid) return;
  if (!(await ask("hall_sit_confirm", "hall_sit_yes", "hall_sit_no")) || !S.session) return;
  // The session's latest view (its status page code, for the slip's QR) while it is still this booth's.
  const view = (await request("resume", {})).ok?.session;
  const before = { ...S.session, ...(view && view.sid === S.session.sid ? view : {}) };
  const reply = await request("sit_down", { sid: before.sid });
  if (reply.error) {
    showToast(t(reply.error.code === "not_waiting" ? "hall_sit_too_late" : "error_generic"));
    return;
  }
  showSlip({ ...before, ...reply.ok });
}

function showSlip(s) {
  H.slip = s;
  renderSlip();
  go("slip");
  say("say_slip", { ticket: s.ticket });
}

function renderSlip() {
  const s = H.slip;
  if (!s) return;
  $("#slip-ticket").textContent = s.ticket || "";
  $("#slip-matter").textContent = nameOf(matterOf(s.matter), s.matter || "");
  const min = Math.max(1, Math.round((s.call_back_s || 180) / 60));
  $("#slip-deadline").textContent = t("hall_slip_deadline", { min });
  $("#slip-time").textContent = new Date().toLocaleString(getLang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
  // The public status page (helper D2's /r/<code>), when the booth's session view carries its code.
  const code = s.status_code || "";
  $("#slip-qr-box").hidden = !code;
  drawQr($("#slip-qr"), code ? `${location.origin}/r/${code}` : "");
}

function clearSlip() {
  H.slip = null;
  for (const id of ["#slip-ticket", "#slip-matter", "#slip-deadline", "#slip-time"]) $(id).textContent = "";
  $("#slip-qr-box").hidden = true;
  drawQr($("#slip-qr"), "");
}

// --- the hall's calls on a free booth ----------------------------------------------------------

function renderCalls() {
  const box = $("#hall-calls");
  const list = $("#hall-calls-list");
  const calls = [...H.calls.values()].sort((a, b) => a.deadline - b.deadline);
  box.hidden = !calls.length || !freeScreen();
  document.body.classList.toggle("hall-calling", !box.hidden);
  list.replaceChildren(...calls.map((c) => h("button", {
    class: "hall-call", type: "button", dataset: { sid: c.sid, ticket: c.ticket },
    on: { click: () => claim(c) },
  }, t("hall_call_button", { ticket: c.ticket }))));
}

async function claim(call) {
  if (S.session) return;
  const reply = await request("claim_ticket", { sid: call.sid });
  if (reply.error) {
    H.calls.delete(call.sid);
    renderCalls();
    showToast(t(reply.error.code === "booth_busy" ? "error_booth_busy" : "hall_claim_failed"));
    return;
  }
  H.calls.delete(call.sid);
  // The citizen of that ticket is back: whatever this screen was choosing is dropped.
  Object.assign(S, { province: null, region: null, matter: null, priority: "" });
  const view = reply.ok.session || { sid: call.sid, ticket: reply.ok.ticket, state: reply.ok.state };
  onSession({ ...view, act: "resume" });
  renderCalls();
}

async function refresh() {
  const reply = await request("hall_calls", {});
  if (!reply.ok) return;
  H.calls = new Map(reply.ok.calls.map((c) => [c.sid, c]));
  setHelp(reply.ok.help);
  renderCalls();
}

// --- calling the hall's staff --------------------------------------------------------------------

function setHelp(help) {
  H.help = help || null;
  for (const box of $$(".help-box")) {
    box.dataset.ringing = String(Boolean(H.help));
    box.querySelector(".help-call").hidden = Boolean(H.help);
    box.querySelector(".help-ringing").hidden = !H.help;
    box.querySelector(".help-cancel").hidden = !H.help;
  }
}

async function callStaff() {
  const reply = await request("call_staff", { reason: "help" });
  if (!reply.ok) {
    showToast(t("error_generic"));
    return;
  }
  setHelp({ since: reply.ok.since, reason: "help" });
  say("say_help");
}

async function cancelStaff() {
  const reply = await request("call_staff_cancel", {});
  if (reply.ok) setHelp(null);
  else showToast(t("error_generic"));
}

// --- wiring -------------------------------------------------------------------------------------

function bind() {
  $("#btn-sit-down").addEventListener("click", () => sitDown());
  $("#slip-print").addEventListener("click", () => window.print());
  $("#slip-done").addEventListener("click", () => reset());
  for (const b of $$(".help-call")) b.addEventListener("click", () => callStaff());
  for (const b of $$(".help-cancel")) b.addEventListener("click", () => cancelStaff());

  socket.on("connect", () => refresh());
  socket.on("ticket_called", (d) => {
    H.calls.set(d.sid, d);
    renderCalls();
  });
  socket.on("ticket_call_over", (d) => {
    H.calls.delete(d.sid);
    renderCalls();
  });
  socket.on("staff_coming", () => {
    setHelp(null);
    showToast(t("hall_help_coming"));
  });

  // Screens change in one place (screens.js go): follow it to show or hide the calls and the slip.
  let shown = document.body.dataset.screen;
  new MutationObserver(() => {
    const now = document.body.dataset.screen;
    if (now === shown) return;
    if (shown === "slip") clearSlip();
    shown = now;
    renderCalls();
  }).observe(document.body, { attributes: true, attributeFilter: ["data-screen"] });
  onLang(() => {
    renderCalls();
    renderSlip();
  });
  setHelp(null);
}

bind();
