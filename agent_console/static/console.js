// The specialist's console: presence, queue, offers, the session in service, its media, its
// materials, identity check, notes, transfer and completion. One page, one /agent socket.
//
// Media (docs/console.md): the console offers "call" (to the booth page) and "preview" (to the
// device agent); its own screen share is a separate "screen" pc it offers; a booth's screen
// share arrives as an offer from the booth and is answered here. Reconnect = new peer
// connections under the same session (aiortc has no ICE restart).

import { $, $$, h, debounce } from "../shared/dom.js";
import { get, post } from "../shared/api.js";
import { loadStrings, t, setLang, getLang, onLang } from "./i18n.js";
import { localMedia } from "./media.js";
import { PRESENCE } from "../protocol/protocol.js";
import { report, toast } from "./feedback.js";
import { S, sock, materials } from "./state.js";
import { setPresence, changePresence, refreshQueue, onOffer, accept, decline, take, dismissMissed } from "./queue.js";
import { reloadDetail, onSessionState } from "./session.js";
import { restartCall, startPreview, onDeviceReady, onSignal, toggleMute, toggleCamera, toggleShare, startShare, askShare, updateStats } from "./calls.js";
import { recordIdentity, addNote, openTransfer, submitTransfer, openComplete, updateCompleteForm, submitComplete, noShow } from "./actions.js";
import { bindOutcomes } from "./outcomes.js";
import { connStatus, renderAll, renderSide, tick } from "./render.js";
import { bindPlayback, openPlayback } from "./playback.js";
import { bindSigning, openSign } from "./signing.js"; // issue 18: asking to sign
import { bindChat } from "./chat.js"; // issue 18, conversation
import { bindGuests } from "./guests.js"; // issue 19: supervisors and reviewers in the session

// --- boot -------------------------------------------------------------------------------------

async function boot() {
  await loadStrings();
  try {
    S.ctx = await get("/api/console/context");
  } catch (err) {
    if (err.status === 401 || err.status === 403) return location.assign("/console/login");
    throw err;
  }
  S.me = S.ctx.user.username;
  S.skew = S.ctx.now - Date.now();
  bindUi();
  renderAll();
  document.body.classList.remove("booting");
  S.local = await localMedia();
  if (S.local) $("#v-self").srcObject = S.local;
  else toast(t("media.no_camera"), "warn");
  bindSocket();
  sock.connect();
  setInterval(tick, 250);
  setInterval(refreshQueue, 15000);
  setInterval(updateStats, 2000);
}

function bindSocket() {
  sock.on("presence", (d) => setPresence(d.status));
  sock.on("offer", onOffer);
  sock.on("session_state", (d) => onSessionState(d).catch(report));
  sock.on("queue_changed", debounce(refreshQueue, 200));
  sock.on("signal", (d) => onSignal(d).catch(report));
  sock.on("device_ready", onDeviceReady);
  sock.on("identity", (d) => {
    if (S.sess && d.sid === S.sess.sid) {
      S.sess.identity = d;
      renderSide();
    }
  });
  // documents: capture results, new stills, verdicts
  sock.on("capture_result", (d) => materials.onCaptureResult(d));
  sock.on("material_added", (d) => {
    materials.onAdded(d);
    reloadDetail();
  });
  sock.on("material_recognised", (d) => {
    materials.onRecognised(d);
    reloadDetail();
  });
  sock.on("material_verdict", (d) => {
    materials.onVerdict(d);
    reloadDetail();
  });
  sock.on("screen_share_reply", (d) => {
    if (S.sess && d.sid === S.sess.sid) toast(t(d.accepted ? "media.share_yes" : "media.share_no"), d.accepted ? "ok" : "warn");
  });
  sock.on("connect", () => refreshQueue());
  bindGuests();
}

// --- keyboard ------------------------------------------------------------------------------------

const KEYS = {
  a: () => accept(),
  d: () => decline(),
  c: () => materials.capture(),
  v: () => materials.accept(),
  r: () => materials.openReject(),
  n: () => S.sess && $("#note-input").focus(),
  t: () => openTransfer(),
  i: () => S.sess && $("#id-method").focus(),
  e: () => openComplete(),
  m: () => S.sess && toggleMute(),
  p: () => openPlayback(),
  s: () => openSign(),
  h: () => materials.toggleMasked(),
};

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
  const tag = (ev.target.tagName || "").toLowerCase();
  if (["input", "textarea", "select"].includes(tag) || ev.target.isContentEditable) {
    if (ev.key === "Escape") ev.target.blur();
    return;
  }
  if (document.querySelector("dialog[open]")) return;
  const fn = KEYS[ev.key.toLowerCase()];
  if (fn) {
    ev.preventDefault();
    Promise.resolve(fn()).catch(report);
  }
}

function bindUi() {
  $("#btn-available").addEventListener("click", () => changePresence(PRESENCE.AVAILABLE));
  $("#btn-away").addEventListener("click", () => changePresence(PRESENCE.AWAY));
  $("#btn-ready").addEventListener("click", () => changePresence(PRESENCE.AVAILABLE));
  $("#btn-lang").addEventListener("click", () => setLang(getLang() === "en" ? "zh" : "en"));
  $("#btn-logout").addEventListener("click", async () => {
    await post("/api/logout").catch(() => {});
    location.assign("/console/login");
  });
  $("#btn-accept").addEventListener("click", () => accept());
  $("#btn-decline").addEventListener("click", () => decline());
  $("#btn-mute").addEventListener("click", toggleMute);
  $("#btn-cam").addEventListener("click", toggleCamera);
  $("#btn-share").addEventListener("click", () => toggleShare().catch(report)); // the guard's dialog first
  $("#form-share").addEventListener("submit", (ev) => startShare(ev).catch(report));
  $("#queue-rows").addEventListener("click", (ev) => { // 接办 (issue 19)
    const b = ev.target.closest("button[data-take]");
    if (b) take(b.dataset.take).catch(report);
  });
  $("#btn-missed-ok").addEventListener("click", dismissMissed);
  $("#btn-ask-share").addEventListener("click", askShare);
  $("#btn-restart").addEventListener("click", () => {
    restartCall().catch(report);
    if (S.device && S.sess) startPreview(S.sess.sid).catch(report);
  });
  $("#v-citizen").addEventListener("click", (ev) => {
    ev.target.muted = false;
    ev.target.play().catch(() => {});
  });
  $("#btn-id-pass").addEventListener("click", () => recordIdentity("passed"));
  $("#btn-id-fail").addEventListener("click", () => recordIdentity("failed"));
  $("#note-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    addNote($("#note-input").value);
  });
  $("#btn-transfer").addEventListener("click", openTransfer);
  $("#btn-complete").addEventListener("click", openComplete);
  $("#btn-noshow").addEventListener("click", noShow);
  $("#form-transfer").addEventListener("submit", (ev) => submitTransfer(ev).catch(report));
  $("#form-complete").addEventListener("submit", (ev) => submitComplete(ev).catch(report));
  $("#form-complete").addEventListener("change", updateCompleteForm);
  $("#xfer-agent").addEventListener("focus", () => {
    $("#form-transfer").elements.target.value = "agent";
  });
  $("#xfer-centre").addEventListener("focus", () => {
    $("#form-transfer").elements.target.value = "centre";
  });
  for (const b of $$(".js-cancel")) b.addEventListener("click", () => b.closest("dialog").close());
  materials.bind();
  bindOutcomes(); // issue 18: the delivery address form
  bindPlayback();
  bindSigning();
  bindChat();
  document.addEventListener("keydown", onKey);
  onLang(() => {
    renderAll();
    connStatus(sock.connected);
  });
}

// For tests and the bench: the page's state and media figures, read through page.evaluate.
window.rwConsole = {
  state: S,
  materials,
  marks: S.marks,
  async stats(name) {
    const p = S.peers.get(name);
    return p ? { ...(await p.inboundVideo()), state: p.state, marks: p.marks } : null;
  },
};

boot().catch((err) => {
  console.error(err);
  toast(String(err.message || err), "bad");
});
