// The screens and what every screen shares: the one way screens change (go), idle timeouts,
// starting over for the next citizen, the banner, toasts and the yes/no question.

import { $, $$ } from "../shared/dom.js";
import { getLang, setLang, t } from "./i18n.js";
import { hush, say } from "./speech.js";
import { DISMISSED_KEY, IDLE_CHOOSING_S, IDLE_RECEIPT_S, S } from "./state.js";
import { render, renderMaterials } from "./views.js";
import { calls, device } from "./media.js";

export const SCREENS = {
  setup: {},
  welcome: { say: "say_welcome" },
  region: { step: 1, say: "say_region", idle: IDLE_CHOOSING_S },
  matter: { step: 2, say: "say_matter", idle: IDLE_CHOOSING_S },
  priority: { step: 3, say: "say_priority", idle: IDLE_CHOOSING_S },
  consent: { step: 4, say: "say_consent", idle: IDLE_CHOOSING_S },
  declined: { say: "say_declined", idle: IDLE_CHOOSING_S },
  waiting: {},
  service: {},
  ended: { idle: IDLE_CHOOSING_S },
  rating: { say: "say_rating", idle: IDLE_CHOOSING_S },
  reason: { say: "say_reason", idle: IDLE_CHOOSING_S },
  receipt: { say: "say_receipt", idle: IDLE_RECEIPT_S },
};

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
  $("#step").textContent = spec.step ? t("step", { n: spec.step }) : "";
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
  Object.assign(S, { province: null, region: null, audience: "person", matter: null, priority: "", session: null,
    rating: null, greeted: null });
  S.materials.clear();
  $("#matter-search").value = "";
  $("#reason-comment").value = "";
  for (const chip of $$(".chip")) chip.setAttribute("aria-pressed", "false");
  for (const id of ["#ticket", "#waiting-matter", "#waiting-position", "#waiting-eta", "#receipt-sid", "#receipt-matter",
    "#receipt-outcome", "#receipt-case", "#receipt-rating", "#receipt-time"]) $(id).textContent = "";
  const qr = $("#receipt-qr");
  qr.getContext("2d").clearRect(0, 0, qr.width, qr.height);
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
