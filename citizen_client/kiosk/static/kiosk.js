// The booth's kiosk page: choose the place and the matter, take a ticket, wait, be served on
// video, rate, take the receipt; then everything of that citizen is cleared.
//
// Authentication (docs/booth.md): the booth token is given once as ?token=... when the booth is
// set up, kept in localStorage and removed from the address bar; every (re)connection trades it
// for a short-lived connect token (POST /api/booths/{booth}/connect-token, role "booth").

import { io } from "/kiosk/vendor/socket.io.esm.min.js";
import qrcode from "/kiosk/vendor/qrcode.mjs";
import { PROTOCOL } from "/kiosk/protocol/protocol.js";
import { apply, getLang, nameOf, setLang, t, themeName, tIn } from "./i18n.js";
import { hush, repeat, say } from "./speech.js";
import { Calls } from "./calls.js";
import { DeviceView } from "./device.js";

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => [...document.querySelectorAll(sel)];

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") el.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "data") Object.assign(el.dataset, v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

// --- set-up: the booth token, the device agent's port, test knobs ----------------------------

const BOOTH = document.body.dataset.booth;
const TOKEN_KEY = `rw.kiosk.${BOOTH}.token`;
const PORT_KEY = "rw.kiosk.devicePort";
const DISMISSED_KEY = `rw.kiosk.${BOOTH}.dismissed`;
const params = new URLSearchParams(location.search);
if (params.get("token")) localStorage.setItem(TOKEN_KEY, params.get("token"));
if (/^\d{1,5}$/.test(params.get("device") || "")) localStorage.setItem(PORT_KEY, params.get("device"));
if (params.has("token") || params.has("device")) {
  params.delete("token");
  params.delete("device");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "")); // the token leaves the address bar
}
const IDLE_S = Number(params.get("idle")) || 0; // seconds; tests shorten the idle timeouts
const IDLE_CHOOSING_S = IDLE_S || 90; // nobody touched a choosing screen for this long: start over
const IDLE_RECEIPT_S = IDLE_S || 45; // the receipt stays this long
const DEVICE_PORT = Number(localStorage.getItem(PORT_KEY)) || 8765;
const GOOD = new Set(["accepted", "ok", "pass", "passed", "approved"]);
const BAD = new Set(["rejected", "recapture", "retake", "fail", "failed"]);
const SESSION_SCREENS = new Set(["waiting", "service"]);

// --- state ---------------------------------------------------------------------------------------

const S = {
  screen: null,
  catalogue: null,
  province: null,
  region: null,
  audience: "person",
  matter: null,
  priority: "",
  session: null, // {sid, ticket, state, matter, agent, agent_centre, position, ahead, eta_s, wide, outcome, case_number}
  materials: new Map(),
  rating: null,
  iceServers: [],
  authProblem: null,
  greeted: null, // the specialist we announced, so a renegotiation is not announced again
};

const SCREENS = {
  setup: {},
  welcome: { say: "say_welcome" },
  region: { step: 1, say: "say_region", idle: IDLE_CHOOSING_S },
  matter: { step: 2, say: "say_matter", idle: IDLE_CHOOSING_S },
  priority: { step: 3, say: "say_priority", idle: IDLE_CHOOSING_S },
  consent: { step: 4, say: "say_consent", idle: IDLE_CHOOSING_S },
  waiting: {},
  service: {},
  ended: { idle: IDLE_CHOOSING_S },
  rating: { say: "say_rating", idle: IDLE_CHOOSING_S },
  reason: { say: "say_reason", idle: IDLE_CHOOSING_S },
  receipt: { say: "say_receipt", idle: IDLE_RECEIPT_S },
};

let idleTimer = null;
let countdown = null;

/** The one way screens change: log old -> new, show it, speak its prompt, arm its idle timer. */
function go(screen, { speak = true } = {}) {
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

function armIdle() {
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

document.addEventListener("pointerdown", () => armIdle(), { capture: true });
document.addEventListener("keydown", () => armIdle(), { capture: true });

/** Clear everything of the previous citizen and go back to the start. */
function reset(toast = "") {
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

function dismiss(sid) {
  const list = JSON.parse(localStorage.getItem(DISMISSED_KEY) || "[]").filter((x) => x !== sid);
  list.push(sid);
  localStorage.setItem(DISMISSED_KEY, JSON.stringify(list.slice(-20)));
}

const dismissed = (sid) => JSON.parse(localStorage.getItem(DISMISSED_KEY) || "[]").includes(sid);

// --- small UI helpers ---------------------------------------------------------------------------

let bannerKey = "";
function banner(key) {
  bannerKey = key;
  const el = $("#banner");
  el.hidden = !key;
  el.textContent = key ? t(key) : "";
}

let toastTimer = null;
function showToast(text) {
  const el = $("#toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 5000);
}

let modalAnswer = null;
function ask(textKey, yesKey, noKey) {
  closeModal();
  $("#modal-text").textContent = t(textKey);
  $("#modal-yes").textContent = t(yesKey);
  $("#modal-no").textContent = t(noKey);
  $("#modal").hidden = false;
  return new Promise((resolve) => {
    modalAnswer = resolve;
  });
}

function closeModal(answer = false) {
  $("#modal").hidden = true;
  if (modalAnswer) modalAnswer(answer);
  modalAnswer = null;
}

$("#modal-yes").addEventListener("click", () => closeModal(true));
$("#modal-no").addEventListener("click", () => closeModal(false));

const matterOf = (code) => S.catalogue?.matters.find((m) => m.code === code) || null;
const regionOf = (code) => {
  for (const p of S.catalogue?.provinces || []) {
    if (p.code === code) return p;
    const r = p.regions.find((x) => x.code === code);
    if (r) return r;
  }
  return null;
};
const centreName = (id) => nameOf(S.catalogue?.centres?.[id], id || "");

// --- rendering -----------------------------------------------------------------------------------

function render(screen = S.screen) {
  if (screen === "region") renderRegions();
  else if (screen === "matter") renderMatters();
  else if (screen === "consent") renderConsent();
  else if (screen === "waiting") renderWaiting();
  else if (screen === "service") renderMaterials();
  else if (screen === "receipt") renderReceipt();
  else if (screen === "setup") $("#setup-tech").textContent = t("setup_tech", { booth: BOOTH });
}

function renderRegions() {
  const list = $("#region-list");
  list.replaceChildren();
  if (!S.catalogue) return;
  if (!S.province) {
    $("#region-title").textContent = t("region_title");
    for (const p of S.catalogue.provinces) {
      list.append(h("button", { class: "tile", type: "button", data: { province: p.code },
        on: { click: () => { S.province = p.code; renderRegions(); say("say_region_pick"); } } }, nameOf(p)));
    }
    return;
  }
  const province = regionOf(S.province);
  $("#region-title").textContent = t("region_pick", { province: nameOf(province) });
  for (const r of province.regions) {
    const level = r.level === "province" ? t("region_level_province") : t(`region_level_${r.level}`);
    list.append(h("button", { class: "tile", type: "button", data: { region: r.code },
      on: { click: () => { S.region = r.code; S.audience = firstAudience(); go("matter"); } } },
      nameOf(r), h("small", {}, level)));
  }
}

function regionMatters() {
  return (S.catalogue?.matters || []).filter((m) => m.region === S.region);
}

function firstAudience() {
  return regionMatters().some((m) => m.audience === "person") ? "person" : "company";
}

function renderMatters() {
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
      group.append(h("button", { class: "matter", type: "button", data: { matter: m.code },
        on: { click: () => { S.matter = m.code; go("priority"); } } }, nameOf(m), h("small", {}, days)));
    }
    list.append(group);
  }
}

function priorityLabel(p) {
  return t(`priority_${p || "none"}`);
}

function renderConsent() {
  const m = matterOf(S.matter);
  const parts = [nameOf(regionOf(S.region)), nameOf(m)];
  if (S.priority) parts.push(priorityLabel(S.priority));
  $("#consent-summary").textContent = parts.join(" · ");
}

function renderWaiting() {
  const s = S.session || {};
  $("#ticket").textContent = s.ticket || "";
  $("#waiting-matter").textContent = nameOf(matterOf(s.matter || S.matter));
  const note = $("#waiting-note");
  note.hidden = true;
  if (s.state === "offered") {
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
function verdictClass(m) {
  if (BAD.has(m.verdict)) return "bad";
  if (m.stage === "specialist" && GOOD.has(m.verdict)) return "good";
  return "pending";
}

function materialName(kind) {
  const m = matterOf(S.session?.matter || S.matter);
  const item = m?.materials.find((x) => x.kind === kind);
  return item ? nameOf(item) : kind || "";
}

function renderMaterials() {
  const list = $("#materials");
  list.replaceChildren();
  const items = [...S.materials.values()].reverse();
  $("#materials-empty").hidden = items.length > 0;
  for (const m of items) {
    const cls = verdictClass(m);
    const label = { good: t("verdict_ok"), bad: t("verdict_bad"), pending: t("verdict_pending") }[cls];
    const advice = getLang() === "en" ? m.advice_en : m.advice_zh;
    list.append(h("li", { class: cls, data: { material: m.id } }, materialName(m.kind), h("span", { class: "badge" }, label),
      advice && cls !== "good" ? h("span", { class: cls === "bad" ? "advice" : "advice soft" }, advice) : null));
  }
}

function renderReceipt() {
  const s = S.session || {};
  $("#receipt-sid").textContent = s.sid || "";
  $("#receipt-matter").textContent = nameOf(matterOf(s.matter), s.matter || "");
  $("#receipt-outcome").textContent = s.outcome ? t(`outcome_${s.outcome}`) : "";
  $("#receipt-case").textContent = s.case_number || t("receipt_case_none");
  $("#receipt-rating").textContent = S.rating ? t(`rating_${S.rating}`) : "—";
  $("#receipt-time").textContent = new Date().toLocaleString(getLang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
  drawQr($("#receipt-qr"), s.sid || "");
}

function drawQr(canvas, text) {
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

// --- the flow's buttons ----------------------------------------------------------------------------

$("#btn-lang").addEventListener("click", () => {
  setLang(getLang() === "zh" ? "en" : "zh");
  go(S.screen, { speak: false });
  if (bannerKey) banner(bannerKey);
  repeat();
});
$("#btn-repeat").addEventListener("click", () => repeat());
$("#btn-home").addEventListener("click", () => reset());
$("#btn-start").addEventListener("click", () => {
  S.province = null;
  go("region");
});
$("#region-back").addEventListener("click", () => {
  if (S.province) {
    S.province = null;
    renderRegions();
  } else reset();
});
$("#matter-back").addEventListener("click", () => go("region"));
$("#priority-back").addEventListener("click", () => go("matter"));
$("#consent-no").addEventListener("click", () => go("priority"));
$("#ended-home").addEventListener("click", () => reset());
$("#matter-search").addEventListener("input", () => renderMatters());
for (const tab of $$("#matter-tabs .tab")) {
  tab.addEventListener("click", () => {
    S.audience = tab.dataset.audience;
    $("#matter-search").value = "";
    renderMatters();
  });
}
for (const b of $$("#priority-list .choice")) {
  b.addEventListener("click", () => {
    S.priority = b.dataset.priority;
    go("consent");
  });
}

$("#consent-yes").addEventListener("click", async () => {
  const button = $("#consent-yes");
  button.disabled = true;
  try {
    const reply = await request("request_service", { matter: S.matter, priority: S.priority, source: "walk_in",
      lang: getLang(), consent: true });
    if (reply.error) {
      if (reply.error.code === "booth_busy") return resume();
      showToast(t("error_generic"));
      return;
    }
    const ok = reply.ok;
    if (S.session?.sid === ok.sid) Object.assign(S.session, { ticket: ok.ticket, matter: S.matter }); // a push came first
    else {
      S.session = { ...ok, matter: S.matter };
      go("waiting");
    }
    say("say_ticket", { ticket: ok.ticket });
  } finally {
    button.disabled = false;
  }
});

$("#btn-leave").addEventListener("click", async () => {
  if (!(await ask("leave_confirm", "leave_yes", "leave_no")) || !S.session) return;
  const reply = await request("leave_queue", { sid: S.session.sid });
  if (reply.ok || reply.error?.code === "illegal_transition") reset(t("abandoned"));
  else showToast(t("error_generic"));
});

/** A button that switches something on and off, its words saying what a touch will do. */
function toggleButton(selector, apply, wordsWhenOn, wordsWhenOff) {
  let on = false;
  const b = $(selector);
  b.addEventListener("click", () => {
    on = !on;
    apply(on);
    b.dataset.i18n = on ? wordsWhenOn : wordsWhenOff;
    b.textContent = t(b.dataset.i18n);
    b.setAttribute("aria-pressed", String(on));
  });
}
toggleButton("#btn-mute", (on) => calls.setMuted(on), "service_unmute", "service_mute");
toggleButton("#btn-camera", (on) => calls.setCameraOff(on), "service_camera_on", "service_camera_off");
$("#btn-share-stop").addEventListener("click", () => calls.stopShare());

for (const b of $$("#rating-list .rate")) {
  b.addEventListener("click", () => {
    S.rating = Number(b.dataset.level);
    if (S.rating <= 2) go("reason");
    else submitRating("");
  });
}
$("#rating-skip").addEventListener("click", () => {
  S.rating = null;
  go("receipt");
});
for (const chip of $$(".chip")) {
  chip.addEventListener("click", () => chip.setAttribute("aria-pressed", String(chip.getAttribute("aria-pressed") !== "true")));
}
$("#reason-submit").addEventListener("click", () => {
  // Reasons go to staff in Chinese whatever the screen's language; the free text as typed.
  const picked = $$(".chip[aria-pressed='true']").map((c) => tIn("zh", c.dataset.reason));
  const free = $("#reason-comment").value.trim();
  submitRating([...picked, free].filter(Boolean).join("；").slice(0, 500));
});

async function submitRating(comment) {
  const sid = S.session?.sid;
  if (sid && S.rating) {
    const reply = await request("rate", { sid, level: S.rating, comment });
    if (reply.error && !["already_rated", "rating_closed"].includes(reply.error.code)) {
      showToast(t("error_generic"));
      return;
    }
  }
  go("receipt");
}

$("#receipt-done").addEventListener("click", () => reset());

// --- the socket ------------------------------------------------------------------------------------------

class SetupNeeded extends Error {}
class TokenRefused extends Error {}

async function fetchGrant() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) throw new SetupNeeded("no booth token");
  const resp = await fetch(`/api/booths/${encodeURIComponent(BOOTH)}/connect-token`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ role: "booth" }),
    cache: "no-store",
  });
  if (resp.status === 401) throw new TokenRefused("booth token refused");
  if (!resp.ok) throw new Error(`connect-token: HTTP ${resp.status}`);
  const body = await resp.json();
  S.iceServers = body.ice_servers || [];
  return body.token;
}

const socket = io(PROTOCOL.namespaces.booth, {
  autoConnect: false,
  transports: ["websocket"],
  reconnectionDelay: 500,
  reconnectionDelayMax: 10000,
  auth: (cb) => {
    fetchGrant().then(
      (token) => {
        S.authProblem = null;
        cb({ token });
      },
      (err) => {
        S.authProblem = err instanceof TokenRefused || err instanceof SetupNeeded ? err : null;
        cb({});
      },
    );
  },
});

let retry = 500;
socket.on("connect", () => {
  retry = 500;
  banner(S.screen === "service" && S.session?.state === "reconnecting" ? "service_reconnecting" : "");
  resume();
});
socket.on("disconnect", () => banner("offline"));
socket.on("connect_error", () => {
  if (S.authProblem) {
    showSetup(S.authProblem instanceof TokenRefused ? "token_refused" : "setup_body");
    return; // an operator must act; the page is reloaded after set-up
  }
  banner("offline");
  if (!socket.active) {
    // refused at the door (token expired in between, server not ready): ask again with backoff
    setTimeout(() => socket.connect(), retry);
    retry = Math.min(retry * 2, 10000);
  }
});

async function request(event, payload) {
  try {
    return await socket.timeout(10000).emitWithAck(event, payload);
  } catch {
    return { error: { code: "timeout", message: "no answer" } };
  }
}

/** Ask the server for this booth's open session and show it (after any (re)connection). */
async function resume() {
  const reply = await request("resume", {});
  const s = reply.ok?.session;
  if (s) onSession({ ...s, act: "resume" });
  else if (reply.ok && SESSION_SCREENS.has(S.screen)) showEnded("interrupted");
}

socket.on("session_state", (d) => onSession(d));
socket.on("queue_position", (d) => {
  if (!S.session || d.sid !== S.session.sid) return;
  Object.assign(S.session, { position: d.position, ahead: d.ahead, eta_s: d.eta_s, wide: d.wide });
  if (S.screen === "waiting") renderWaiting();
});
socket.on("signal", (d) => {
  if (!S.session || d.sid !== S.session.sid) return;
  calls.onSignal(d).catch((err) => console.warn("kiosk: signaling failed", d.kind, d.pc, err.name));
});
socket.on("screen_share_request", async (d) => {
  if (!S.session || d.sid !== S.session.sid || S.screen !== "service") return;
  say("say_share");
  const yes = await ask("share_request", "share_yes", "share_no");
  request("screen_share_reply", { sid: d.sid, accepted: yes });
  if (!yes) return;
  try {
    await calls.shareScreen(d.sid);
    $("#btn-share-stop").hidden = false;
  } catch (err) {
    console.warn("kiosk: screen share failed", err.name);
    request("screen_share_reply", { sid: d.sid, accepted: false });
  }
});
// Materials: first the automatic check (material_added: taken, or what to fix), then the
// specialist's verdict (material_verdict). Both come with plain words in both languages.
socket.on("material_added", (d) => {
  if (!S.session || d.sid !== S.session.sid || !d.material) return;
  const m = d.material;
  S.materials.set(m.id, { id: m.id, kind: m.kind, stage: "check", verdict: m.verdict, advice_zh: d.advice_zh,
    advice_en: d.advice_en });
  renderMaterials();
  if (m.verdict === "rejected") sayAdvice(m.kind, d.advice_zh, d.advice_en);
});
socket.on("material_verdict", (d) => {
  if (!S.session || d.sid !== S.session.sid) return;
  S.materials.set(d.material_id, { id: d.material_id, kind: d.kind, stage: "specialist", verdict: d.verdict,
    advice_zh: d.advice_zh, advice_en: d.advice_en });
  renderMaterials();
  if (verdictClass(S.materials.get(d.material_id)) === "bad") sayAdvice(d.kind, d.advice_zh, d.advice_en);
});

function sayAdvice(kind, zh, en) {
  say("say_recapture", { material: materialName(kind), advice: (getLang() === "en" ? en : zh) || "" });
}

/** A session change from the server (pushed, or the answer to resume). */
function onSession(d) {
  if (!d || !d.sid) return;
  const same = S.session?.sid === d.sid;
  if (!same && d.act !== "resume" && S.session) return; // an old session's late news
  if (!same && ["completed", "rated"].includes(d.state) && dismissed(d.sid)) return; // a citizen who walked away
  const before = same ? S.session : {};
  S.session = { ...before, ...d, requeued: d.act === "requeue" || (before.requeued && d.state === "waiting") };
  switch (d.state) {
    case "waiting":
    case "offered":
      if (S.screen === "service") calls.closeAll();
      go("waiting");
      if (d.act === "resume" && before.ticket !== d.ticket) say("say_ticket", { ticket: d.ticket });
      break;
    case "in_service":
    case "transferring":
    case "reconnecting":
      showService(d);
      break;
    case "completed":
      endMedia();
      request("resume", {}).then((r) => {
        const view = r.ok?.session;
        if (view && view.sid === d.sid) Object.assign(S.session, view);
      });
      if (!["rating", "reason", "receipt"].includes(S.screen)) go("rating");
      break;
    case "rated":
      if (!["receipt"].includes(S.screen)) go("receipt");
      break;
    case "no_show":
      showEnded("no_show");
      break;
    case "interrupted":
      showEnded("interrupted");
      break;
    case "abandoned":
      reset(t("abandoned"));
      break;
    default:
      break;
  }
}

function showService(d) {
  if (S.screen !== "service") {
    go("service");
    calls.localMedia(); // the self view at once, before the specialist's offer arrives
    device.start();
  }
  if (d.state === "reconnecting") banner("service_reconnecting");
  else if (d.state === "transferring") {
    banner("service_transferring");
    say("say_transferring");
  } else banner(socket.connected ? "" : "offline");
  if (d.act === "transfer_accept" && d.agent_centre) showToast(t("service_transferred", { centre: centreName(d.agent_centre) }));
}

function showEnded(kind) {
  endMedia();
  $("#ended-title").textContent = t(kind === "no_show" ? "no_show_title" : "interrupted_title");
  $("#ended-body").textContent = t(kind === "no_show" ? "no_show_body" : "interrupted_body");
  banner("");
  go("ended");
}

function endMedia() {
  calls.closeAll();
  device.stop();
  closeModal();
  banner("");
  $("#btn-share-stop").hidden = true;
}

function showSetup(key) {
  calls.closeAll();
  device.stop();
  $("#setup-body").textContent = t(key);
  go("setup");
}

// --- media ----------------------------------------------------------------------------------------

const calls = new Calls({
  send: (msg) => request("signal", msg),
  iceServers: () => S.iceServers,
  onLocal: (stream, failed) => {
    $("#self-video").srcObject = stream;
    if (failed && S.screen === "service") showToast(t("service_no_camera"));
  },
  onRemote: (name, stream) => {
    if (name === "call") {
      $("#remote-video").srcObject = stream;
      $("#remote-wait").hidden = Boolean(stream);
    } else if (name === "screen") {
      const own = calls.sharing;
      $("#shared-video").srcObject = own ? null : stream;
      $("#shared-pane").hidden = !stream || own;
      $("#stage").classList.toggle("sharing", Boolean(stream) && !own);
    }
  },
  onState: (name, state) => {
    document.body.dataset[`pc_${name}`] = state;
    if (name !== "call") return;
    if (state === "connected") {
      if (["service_media_lost", "service_connecting"].includes(bannerKey)) banner("");
      const who = `${S.session?.sid}:${S.session?.agent}`;
      if (S.greeted !== who) {
        S.greeted = who;
        say("say_connected");
      }
    } else if (state === "failed" || state === "disconnected") {
      if (!bannerKey) banner("service_media_lost");
    }
  },
  onShareEnded: () => {
    $("#btn-share-stop").hidden = true;
  },
});

const device = new DeviceView(DEVICE_PORT, { img: $("#doc-img"), off: $("#doc-off") });

// Each picture marks itself live once it shows something (for a hall technician's eye, and tests).
for (const el of $$(".pane video")) {
  el.addEventListener("loadeddata", () => { el.dataset.live = "1"; });
  el.addEventListener("emptied", () => { delete el.dataset.live; });
}
$("#doc-img").addEventListener("load", (ev) => { ev.target.dataset.live = "1"; });

// --- start -------------------------------------------------------------------------------------------

async function loadCatalogue() {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15000)) {
    try {
      const resp = await fetch("/api/catalogue");
      if (resp.ok) return await resp.json();
    } catch {
      // the server is not there yet
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function start() {
  apply();
  if (!localStorage.getItem(TOKEN_KEY)) {
    S.authProblem = new SetupNeeded("no booth token");
    showSetup("setup_body");
    return;
  }
  go("welcome", { speak: false });
  S.catalogue = await loadCatalogue();
  render();
  socket.connect();
}

start();
