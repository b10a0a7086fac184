// Signing on the kiosk (签字, docs/booth.md "Signing"): the specialist sends a document
// (sign_request); it opens over the service screen, where the call goes on underneath. First the
// document in large type, paged with big 上一页 / 下一页 buttons (no gestures needed); then a pad
// to sign with a finger. The strokes are kept as [x, y, t_ms] points (CSS pixels of the pad, ms
// since the first touch) and sent over HTTPS with the booth's token:
//   POST /api/sessions/{sid}/signatures {request_id, strokes, width, height}
// The server draws the signature into the stamped PDF from exactly these points. 暂不签 tells the
// specialist (sign_declined). Nothing here is pre-selected: 确认签名 stays disabled until there is ink.

import { $, h } from "../shared/dom.js";
import { PROTOCOL } from "../protocol/protocol.js";
import { t } from "./i18n.js";
import { say } from "./speech.js";
import { BOOTH, TOKEN_KEY, S } from "./state.js";
import { showToast } from "./screens.js";
import { socket, request } from "./connection.js";

const HELD = new Set(PROTOCOL.sessions.held);
const MAX_POINTS = 19_000; // the server takes 20,000
const PEN_PX = 3; // as the server draws it (window_server/signing/render.py)

const sign = {
  req: null, // the sign_request being shown
  strokes: [],
  current: null,
  t0: null,
  lastT: 0,
  points: 0,
  sending: false,
};

const el = (tag, cls, text, lang) => h(`${tag}.${cls}`, { lang }, text);

/** Show a sign request over the service screen. */
export function openSigning(d) {
  if (!S.session || d.sid !== S.session.sid) return;
  sign.req = d;
  clearPad();
  const title = $("#sign-title");
  title.replaceChildren(el("span", "zh", d.title.zh, "zh-CN"), el("span", "en", d.title.en, "en"));
  $("#sign-subtitle").textContent = t("sign_binding");
  $("#sign-subtitle").dataset.i18n = "sign_binding";
  const doc = $("#sign-doc");
  doc.replaceChildren(...d.paragraphs.flatMap((p) => [el("p", "zh", p.zh, "zh-CN"), el("p", "en", p.en, "en")]));
  doc.scrollTop = 0;
  $("#sign-read").hidden = false;
  $("#sign-pad-step").hidden = true;
  $("#signing").hidden = false;
  document.body.dataset.signing = "read";
  requestAnimationFrame(where);
  say("say_sign");
}

export function closeSigning() {
  sign.req = null;
  clearPad();
  $("#signing").hidden = true;
  delete document.body.dataset.signing;
}

// --- reading -------------------------------------------------------------------------------------

function where() {
  const doc = $("#sign-doc");
  const page = Math.max(1, doc.clientHeight);
  const total = Math.max(1, Math.ceil((doc.scrollHeight - 2) / page));
  const n = Math.min(total, Math.floor((doc.scrollTop + 2) / page) + 1);
  const atEnd = doc.scrollTop + doc.clientHeight >= doc.scrollHeight - 2;
  $("#sign-where").textContent = t("sign_where", { n: atEnd ? total : n, total });
  $("#sign-prev").disabled = doc.scrollTop <= 0;
  $("#sign-next").disabled = atEnd;
}

function turn(direction) {
  const doc = $("#sign-doc");
  doc.scrollBy({ top: direction * doc.clientHeight * 0.9, behavior: "instant" });
  where();
}

// --- the pad -------------------------------------------------------------------------------------

function showPad() {
  $("#sign-read").hidden = true;
  $("#sign-pad-step").hidden = false;
  document.body.dataset.signing = "pad";
  sizePad();
  say("say_sign_pad");
}

function sizePad() {
  const pad = $("#sign-pad");
  const r = pad.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  pad.width = Math.round(r.width * dpr);
  pad.height = Math.round(r.height * dpr);
  redraw();
}

function clearPad() {
  Object.assign(sign, { strokes: [], current: null, t0: null, lastT: 0, points: 0 });
  $("#sign-status").textContent = "";
  redraw();
  update();
}

function redraw() {
  const pad = $("#sign-pad");
  const ctx = pad.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, pad.width, pad.height);
  const r = pad.getBoundingClientRect();
  if (!r.width) return;
  ctx.scale(pad.width / r.width, pad.height / r.height);
  ctx.lineWidth = PEN_PX * 1.5;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#111";
  ctx.fillStyle = "#111";
  for (const s of sign.strokes) {
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    if (s.length === 1) ctx.arc(s[0][0], s[0][1], PEN_PX * 0.75, 0, Math.PI * 2);
    for (const p of s.slice(1)) ctx.lineTo(p[0], p[1]);
    if (s.length === 1) ctx.fill();
    else ctx.stroke();
  }
}

function update() {
  const empty = sign.points === 0;
  $("#sign-confirm").disabled = empty || sign.sending;
  $("#sign-clear").disabled = empty || sign.sending;
}

function point(ev, pad) {
  const r = pad.getBoundingClientRect();
  const clamp = (v, hi) => Math.round(Math.min(Math.max(v, 0), Math.floor(hi)) * 10) / 10;
  if (sign.t0 === null) sign.t0 = performance.now();
  const t = Math.max(sign.lastT, Math.round(performance.now() - sign.t0)); // never back in time
  sign.lastT = t;
  return [clamp(ev.clientX - r.left, r.width), clamp(ev.clientY - r.top, r.height), t];
}

function bindPad() {
  const pad = $("#sign-pad");
  pad.addEventListener("pointerdown", (ev) => {
    if (sign.sending || sign.points >= MAX_POINTS) return;
    ev.preventDefault();
    pad.setPointerCapture(ev.pointerId);
    sign.current = [point(ev, pad)];
    sign.strokes.push(sign.current);
    sign.points += 1;
    $("#sign-status").textContent = "";
    redraw();
    update();
  });
  pad.addEventListener("pointermove", (ev) => {
    if (!sign.current || sign.points >= MAX_POINTS) return;
    ev.preventDefault();
    const events = typeof ev.getCoalescedEvents === "function" ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) {
      sign.current.push(point(e, pad));
      sign.points += 1;
    }
    redraw();
  });
  const end = () => {
    sign.current = null;
    update();
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  window.addEventListener("resize", () => {
    if (!$("#sign-pad-step").hidden) sizePad();
  });
}

async function confirm() {
  const req = sign.req;
  if (!req || sign.sending) return;
  if (!sign.points) {
    $("#sign-status").textContent = t("sign_empty");
    return;
  }
  const r = $("#sign-pad").getBoundingClientRect();
  const body = { request_id: req.request_id, strokes: sign.strokes, width: Math.floor(r.width),
    height: Math.floor(r.height) };
  sign.sending = true;
  update();
  $("#sign-status").textContent = t("sign_sending");
  try {
    const resp = await fetch(`/api/sessions/${encodeURIComponent(req.sid)}/signatures`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY) || ""}`,
        "X-Booth": BOOTH },
      body: JSON.stringify(body),
      cache: "no-store",
    });
    if (!resp.ok) {
      let code = `http_${resp.status}`;
      try {
        code = (await resp.json()).error?.code || code;
      } catch {
        /* not JSON */
      }
      throw new Error(code);
    }
    const answer = await resp.json();
    console.info(`kiosk: signature ${answer.signature.id} stored (request ${req.request_id})`);
    closeSigning();
    showToast(t("sign_done"));
    say("sign_done");
  } catch (err) {
    console.warn("kiosk: signature not stored", err.message);
    $("#sign-status").textContent = t("sign_failed");
    if (["sign_request_closed", "illegal_transition", "not_member"].includes(err.message)) closeSigning();
  } finally {
    sign.sending = false;
    update();
  }
}

async function notNow() {
  const req = sign.req;
  if (!req) return;
  closeSigning();
  await request("sign_declined", { sid: req.sid, request_id: req.request_id });
  showToast(t("sign_not_now"));
}

/** Listen to the specialist's requests and to the session, and bind the buttons. */
export function bindSigning() {
  bindPad();
  $("#sign-prev").addEventListener("click", () => turn(-1));
  $("#sign-next").addEventListener("click", () => turn(1));
  $("#sign-doc").addEventListener("scroll", where, { passive: true });
  $("#sign-go").addEventListener("click", showPad);
  $("#sign-back").addEventListener("click", () => {
    $("#sign-pad-step").hidden = true;
    $("#sign-read").hidden = false;
    document.body.dataset.signing = "read";
    where();
  });
  $("#sign-clear").addEventListener("click", clearPad);
  $("#sign-confirm").addEventListener("click", confirm);
  $("#sign-later").addEventListener("click", notNow);
  $("#sign-later2").addEventListener("click", notNow);
  $("#sign-lang").addEventListener("click", () => $("#btn-lang").click()); // the bar is under this view
  // the page numbers follow the language switch (apply() sets <html lang>)
  new MutationObserver(() => {
    if (sign.req) where();
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });

  socket.on("sign_request", (d) => openSigning(d));
  socket.on("signature_added", (d) => {
    if (sign.req && d.request_id === sign.req.request_id) closeSigning(); // stored (from this page or a retry)
  });
  socket.on("session_state", (d) => {
    if (!sign.req) {
      if (d.act === "resume" && HELD.has(d.state)) resumePending(d.sid); // a reloaded page: ask again
      return;
    }
    if (!S.session || d.sid !== sign.req.sid || !HELD.has(d.state)) closeSigning(); // the session moved on
  });
}

/** After a reload, show the request still waiting for this booth (if any). */
async function resumePending(sid) {
  try {
    const resp = await fetch(`/api/sessions/${encodeURIComponent(sid)}/signatures`, {
      headers: { Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY) || ""}`, "X-Booth": BOOTH },
      cache: "no-store",
    });
    if (!resp.ok) return;
    const pending = (await resp.json()).pending.at(-1);
    if (pending && !sign.req && S.session?.sid === sid && S.screen === "service") openSigning(pending);
  } catch (err) {
    console.warn("kiosk: pending sign requests not read", err.name);
  }
}
