// The screens and what every screen shares: the one way screens change (go), idle timeouts,
// starting over for the next citizen, the banner, toasts and the yes/no question.

import { $, $$ } from "../shared/dom.js";
import { getLang, setLang, t } from "./i18n.js";
import { hush, say } from "./speech.js";
import { DISMISSED_KEY, IDLE_CHOOSING_S, IDLE_RECEIPT_S, S } from "./state.js";
import { render, renderMaterials } from "./views.js";
import { clearReceipt } from "./receipt.js";
import { needsPlace } from "./finder.js";
import { calls, device } from "./media.js";
import { clearChat } from "./chat.js"; // issue 18, conversation

export const SCREENS = {
  setup: {},
  welcome: { say: "say_welcome" },
  // the choosing steps: the place is a step only when the chosen matter exists in several regions
  matter: { step: "matter", say: "say_matter", idle: IDLE_CHOOSING_S },
  place: { step: "place", say: "say_place", idle: IDLE_CHOOSING_S },
  priority: { step: "priority", say: "say_priority", idle: IDLE_CHOOSING_S },
  consent: { step: "consent", say: "say_consent", idle: IDLE_CHOOSING_S },
  declined: { say: "say_declined", idle: IDLE_CHOOSING_S },
  waiting: {},
  service: {},
  ended: { idle: IDLE_CHOOSING_S },
  rating: { say: "say_rating", idle: IDLE_CHOOSING_S },
  reason: { say: "say_reason", idle: IDLE_CHOOSING_S },
  receipt: { say: "say_receipt", idle: IDLE_RECEIPT_S },
  slip: { idle: IDLE_RECEIPT_S }, // hall (issue 18, helper A): hall.js fills it and says its prompt
};

/** 第 n 步，共 m 步: m is known once the matter is (3 steps, or 4 with the place); before, 第 1 步. */
export function stepText(step) {
  const path = ["matter", ...(needsPlace() ? ["place"] : []), "priority", "consent"];
  const n = path.indexOf(step) + 1;
  if (step === "matter" && !S.matter && !S.group) return t("step_first");
  return t("step_of", { n, m: path.length });
}

export let idleTimer = null;
export let countdown = null;

/** The one way screens change: log old -> new, show it, speak its prompt, arm its idle timer. */
export function go(screen, { speak = true } = {}) {
  const spec = SCREENS[screen];
  if (!spec) throw new Error(`no screen ${screen}`);
  const old = S.screen;
  if (old !== screen) console.info(`kiosk: screen ${old} -> ${screen}`);
  S.screen = screen;
  document.body.dataset.screen = screen;
  for (const el of $$(".screen")) el.classList.toggle("active", el.dataset.screen === screen);
  $("#step").textContent = spec.step ? stepText(spec.step) : "";
  $("#btn-home").hidden = !spec.step && screen !== "ended";
  render(screen);
  if (speak && spec.say && old !== screen) say(spec.say);
  armIdle();
}

export function armIdle() {
  clearTimeout(idleTimer);
  clearInterval(countdown);
  const spec = SCREENS[S.screen];
  if (!spec?.idle) {
    $("#receipt-countdown").textContent = "";
    return;
  }
  const deadline = Date.now() + spec.idle * 1000;
  idleTimer = setTimeout(() => {
    console.info(`kiosk: idle on ${S.screen}: starting over`);
    reset();
  }, spec.idle * 1000);
  if (S.screen === "receipt") {
    const tick = () => {
      const n = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      $("#receipt-countdown").textContent = t("receipt_countdown", { n });
    };
    tick();
    countdown = setInterval(tick, 1000);
  }
}

/** Clear everything of the previous citizen and go back to the start. */
export function reset(toast = "") {
  hush();
  calls.closeAll();
  device.stop();
  closeModal();
  if (S.session?.sid) dismiss(S.session.sid);
  Object.assign(S, { category: null, group: null, region: null, matter: null, priority: "", session: null,
    rating: null, greeted: null });
  S.materials.clear();
  clearChat(); // issue 18: the conversation goes with the citizen
  $("#matter-search").value = "";
  $("#reason-comment").value = "";
  for (const chip of $$(".chip")) chip.setAttribute("aria-pressed", "false");
  for (const id of ["#ticket", "#waiting-matter", "#waiting-position", "#waiting-eta", "#receipt-sid", "#receipt-matter",
    "#receipt-outcome", "#receipt-case", "#receipt-rating", "#receipt-time"]) $(id).textContent = "";
  const qr = $("#receipt-qr");
  qr.getContext("2d").clearRect(0, 0, qr.width, qr.height);
  clearReceipt(); // issue 18: the missing list, the masked address, the status page's QR code
  renderMaterials();
  sessionStorage.clear();
  if (getLang() !== "zh") setLang("zh");
  banner("");
  go(S.authProblem ? "setup" : "welcome");
  if (toast) showToast(toast);
}

export function dismiss(sid) {
  const list = JSON.parse(localStorage.getItem(DISMISSED_KEY) || "[]").filter((x) => x !== sid);
  list.push(sid);
  localStorage.setItem(DISMISSED_KEY, JSON.stringify(list.slice(-20)));
}

export const dismissed = (sid) => JSON.parse(localStorage.getItem(DISMISSED_KEY) || "[]").includes(sid);

export let bannerKey = "";
export function banner(key) {
  bannerKey = key;
  const el = $("#banner");
  el.hidden = !key;
  el.textContent = key ? t(key) : "";
}

export let toastTimer = null;
export function showToast(text) {
  const el = $("#toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 5000);
}

export let modalAnswer = null;
export function ask(textKey, yesKey, noKey) {
  closeModal();
  $("#modal-text").textContent = t(textKey);
  $("#modal-yes").textContent = t(yesKey);
  $("#modal-no").textContent = t(noKey);
  $("#modal").hidden = false;
  return new Promise((resolve) => {
    modalAnswer = resolve;
  });
}

export function closeModal(answer = false) {
  $("#modal").hidden = true;
  if (modalAnswer) modalAnswer(answer);
  modalAnswer = null;
}

/** Listen for touches (they re-arm the idle timer) and for the question's answers. */
export function bindScreens() {
  document.addEventListener("pointerdown", () => armIdle(), { capture: true });
  document.addEventListener("keydown", () => armIdle(), { capture: true });
  $("#modal-yes").addEventListener("click", () => closeModal(true));
  $("#modal-no").addEventListener("click", () => closeModal(false));
}
