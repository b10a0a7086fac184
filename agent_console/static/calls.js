// The session's peer connections: the call (to the booth page), the preview (from the device
// agent), screen shares both ways, mute/camera switches and the media figures. On a weak link
// (issue 21, shared/quality.js): encoder roles and a send budget, a good/weak/lost indicator per
// connection, and after a network change an ICE restart of the call (both ends are browsers) or
// a new preview connection (aiortc has no ICE restart).

import { $, show } from "../shared/dom.js";
import { t } from "./i18n.js";
import { Peer, attach, firstFrame, now } from "./media.js";
import { report, toast } from "./feedback.js";
import { HELD, S, sock, materials } from "./state.js";
import { renderWork, renderMedia } from "./render.js";
import { onGuestSignal } from "./guests.js"; // issue 19: guests' peers, keyed by gid
import { CONSOLE_SEND_KBPS, IceWatch, QualityMonitor, capSendRate, tuneSender } from "../shared/quality.js";

export function makePeer(name, to, sid) {
  const peer = new Peer({
    name, to, sid, rtc: sock.rtc,
    signal: (msg) => sock.send("signal", msg),
    onTrack: (track, stream) => onRemoteTrack(peer, track, stream),
    onState: (state) => onPeerState(peer, state),
  });
  watchPeer(peer);
  return peer;
}

// --- on a weak link (issue 21) ------------------------------------------------------------------

// ~25 s of ICE restarts (IceWatch.retryMs 3 s) before a new connection: longer than the 20 s a
// booth link may drop for, so a drop that ends is healed in place (same DTLS, same recording leg)
const RESTARTS_BEFORE_REBUILD = 8;
const QUALITY_EL = { call: "#q-call", preview: "#q-preview" }; // the indicators beside the pictures

/** The quality indicator for the call and the preview, and what brings each back after a network change. */
function watchPeer(peer) {
  const shown = QUALITY_EL[peer.name];
  if (shown) {
    peer.quality = new QualityMonitor(peer.pc, (state) => showQuality(peer, state)).start();
  }
  if (peer.name === "call") {
    // both ends are browsers: renegotiate the same connection with new candidates
    peer.iceWatch = new IceWatch(peer.pc, () => {
      if (S.peers.get("call") !== peer || !S.sess) return null;
      // restarts that never connect (a kiosk that lost its connection object): a new one
      if (peer.iceWatch.restarts > RESTARTS_BEFORE_REBUILD) return restartCall();
      return peer.restartIce();
    });
  } else if (peer.name === "preview") {
    // the device agent (aiortc) cannot restart ICE: a new connection, again while none connects
    peer.iceWatch = new IceWatch(peer.pc, () => {
      if (S.peers.get("preview") === peer && S.sess && S.device) return startPreview(S.sess.sid, { force: true });
      return null;
    });
  }
}

function showQuality(peer, state) {
  if (S.peers.get(peer.name) !== peer || peer.closed) return;
  const el = $(QUALITY_EL[peer.name]);
  if (!el) return;
  el.dataset.quality = state;
  const hint = peer.name === "preview" && state === "weak" ? ` ${t("quality.still_hint")}` : "";
  el.textContent = `${t(`quality.${state}`)}${hint}`;
  el.title = hint ? t("quality.still_hint") : "";
  el.hidden = false;
}

function clearQuality(peer) {
  if (peer.quality) peer.quality.stop();
  if (peer.iceWatch) peer.iceWatch.stop();
  const sel = QUALITY_EL[peer.name];
  if (sel && S.peers.get(peer.name) === peer && $(sel)) {
    $(sel).hidden = true;
    delete $(sel).dataset.quality;
  }
}

/** Encoder roles for what this console sends, then the budget over all of it. */
async function tunePeer(peer) {
  for (const sender of peer.pc.getSenders()) {
    if (!sender.track) continue;
    const role = sender.track.kind === "audio" ? "voice" : peer.name === "screen" ? "screen" : "face";
    await tuneSender(sender, role);
  }
  await capAll();
}

/** The console's send budget (CONSOLE_SEND_KBPS) over the call and my screen share. */
export function capAll() {
  const pcs = ["call", "screen"].map((n) => S.peers.get(n)).filter((p) => p && !p.closed).map((p) => p.pc);
  return capSendRate(pcs, CONSOLE_SEND_KBPS).catch(() => ({}));
}

export function livePeer(name) {
  const p = S.peers.get(name);
  return p && !p.closed && !["failed", "closed"].includes(p.state) ? p : null;
}

export function localTracks() {
  return S.local ? S.local.getTracks() : [];
}

/** Build the call's offer before the accept (ICE gathering included); send it on accept. */
export async function prepareCall(sid) {
  const old = S.peers.get("call");
  if (S.sess) return; // busy: an offer while serving is a transfer back, handled on accept
  if (old) old.close({ bye: false });
  const peer = makePeer("call", "booth", sid);
  S.peers.set("call", peer);
  await peer.offer(callSpec());
  await tunePeer(peer);
}

export function callSpec() {
  const send = localTracks();
  const kinds = new Set(send.map((tr) => tr.kind));
  const recv = ["audio", "video"].filter((k) => !kinds.has(k));
  return { send, recv, stream: S.local };
}

export async function ensureCall(sid) {
  const p = S.peers.get("call");
  if (p && !p.closed && p.sid === sid && p.held) {
    p.release(sid);
    S.marks.callReleased = now();
    return;
  }
  if (p && !p.closed && p.sid === sid && !["failed", "closed"].includes(p.state)) return;
  await restartCall();
}

/** Whether the call's media still arrives: a connected call whose inbound bytes grow over `ms`. */
export async function callFlowing(ms = 1000) {
  const p = livePeer("call");
  if (!p || p.pc.connectionState !== "connected") return false;
  const received = async () => {
    let n = 0;
    (await p.pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp") n += s.bytesReceived || 0; });
    return n;
  };
  const before = await received();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return S.peers.get("call") === p && !p.closed && (await received()) > before;
}

export async function restartCall() {
  if (!S.sess) return;
  const sid = S.sess.sid;
  const old = S.peers.get("call");
  if (old) old.close({ bye: false });
  show($("#w-citizen"), true);
  const peer = makePeer("call", "booth", sid);
  S.peers.set("call", peer);
  await peer.offer(callSpec());
  await tunePeer(peer);
  peer.release();
  peer.iceWatch.expect(); // a new connection that never connects is retried like a lost one
  S.marks.callReleased = now();
}

export async function startPreview(sid, { force = false } = {}) {
  const old = S.peers.get("preview");
  if (!force && old && !old.closed && old.sid === sid && old.state === "new" && now() - old.marks.created < 1500) return;
  if (old) old.close({ bye: false });
  show($("#w-preview"), true);
  const peer = makePeer("preview", "device", sid);
  S.peers.set("preview", peer);
  S.marks.previewStart = now();
  await peer.offer({ recv: ["video"] });
  peer.release();
  peer.iceWatch.expect(); // a new connection that never connects is retried like a lost one
}

export function onDeviceReady(d) {
  S.device = d;
  renderWork();
  materials.setCameras(d.cameras || []);
  if (S.sess && S.sess.sid === d.sid && HELD.has(S.sess.state)) startPreview(d.sid).catch(report);
}

export async function onSignal(d) {
  if (d.from === "guest") return onGuestSignal(d);
  if (!S.sess || d.sid !== S.sess.sid) return;
  const name = d.pc || "call";
  let peer = S.peers.get(name);
  if (d.kind === "offer") {
    // The other side offers: the booth shares its screen. Its offer replaces any pc of that name.
    if (peer) {
      peer.close({ bye: false });
      if (name === "screen") stopShare(false);
    }
    peer = makePeer(name, d.from, d.sid);
    S.peers.set(name, peer);
    await peer.answer(d.data);
    return;
  }
  if (!peer) return;
  if (d.kind === "bye") {
    peer.close({ bye: false });
    S.peers.delete(name);
    if (name === "screen") stopShare(false);
    renderMedia();
    return;
  }
  await peer.handle(d.kind, d.data);
}

export function onRemoteTrack(peer, track, stream) {
  if (S.peers.get(peer.name) !== peer) return;
  let video;
  if (peer.name === "call") video = $("#v-citizen");
  else if (peer.name === "preview") video = $("#v-preview");
  else video = $("#v-screen");
  if (track.kind === "video") {
    firstFrame(video).then((ts) => {
      peer.marks.firstFrame = ts;
      if (peer.name === "call") S.marks.callFrame = ts;
      if (peer.name === "preview") S.marks.previewFrame = ts;
      if (peer.name === "call") show($("#w-citizen"), false);
      if (peer.name === "preview") show($("#w-preview"), false);
    });
    if (peer.name === "call") $("#v-face").srcObject = stream;
    if (peer.name !== "call" && peer.name !== "preview") {
      $("#screen-caption").textContent = t("video.booth_screen");
      show($("#tile-screen"), true);
    }
  }
  attach(video, stream, { onMutedFallback: () => toast(t("media.unmute_hint"), "warn") });
}

export function onPeerState(peer, state) {
  if (state === "closed") clearQuality(peer);
  if (S.peers.get(peer.name) !== peer) return;
  renderMedia();
  // the call's ICE failure is the IceWatch's (an ICE restart); a refused restart is rebuilt here
  if (state === "failed" && peer.name === "call" && !peer.restartRefused) return;
  if (state === "failed" && S.sess && HELD.has(S.sess.state) && !(S.sess.xfer && S.sess.xfer.mode === "cold")) {
    // No ICE restart (aiortc): build a new connection after a short pause.
    setTimeout(() => {
      if (S.peers.get(peer.name) !== peer || !S.sess) return;
      if (peer.name === "call") restartCall().catch(report);
      else if (peer.name === "preview" && S.device) startPreview(S.sess.sid).catch(report);
    }, 1000);
  }
}

export function toggleMute() {
  S.muted = !S.muted;
  if (S.local) for (const tr of S.local.getAudioTracks()) tr.enabled = !S.muted;
  renderMedia();
}

export function toggleCamera() {
  S.camOff = !S.camOff;
  if (S.local) for (const tr of S.local.getVideoTracks()) tr.enabled = !S.camOff;
  renderMedia();
}

// --- the screen-share guard (issue 19) ---------------------------------------------------------
// The console marks its own tab with a capture handle: a share that captured it (or a whole
// screen, which shows it too) is stopped before anything is offered to the booth.

export const CONSOLE_HANDLE = "rw-console";
try {
  navigator.mediaDevices?.setCaptureHandleConfig?.({ handle: CONSOLE_HANDLE, permittedOrigins: ["*"], exposeOrigin: true });
} catch (err) {
  console.debug("capture handle", err);
}

/** Why a captured track must not go to the booth ("console", "monitor"), or "" when it may. */
export function refusedSurface(track) {
  const handle = track.getCaptureHandle ? track.getCaptureHandle() : null;
  if (handle && handle.handle === CONSOLE_HANDLE) return "console";
  const surface = (track.getSettings && track.getSettings().displaySurface) || "";
  return surface === "monitor" ? "monitor" : "";
}

/** 共享我的屏幕: first the guard's dialog (what the citizen will see, pick a window or another tab). */
export async function toggleShare() {
  if (!S.sess) return;
  if (S.share) return stopShare(true);
  $("#share-error").textContent = "";
  $("#dlg-share").showModal();
}

export async function startShare(ev) {
  if (ev) ev.preventDefault();
  $("#dlg-share").close();
  if (!S.sess || S.share) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({
      video: true, audio: false, selfBrowserSurface: "exclude", preferCurrentTab: false,
      surfaceSwitching: "include", monitorTypeSurfaces: "exclude",
    });
  } catch (err) {
    return toast(t("err.generic", { msg: err.name }), "warn");
  }
  const first = stream.getVideoTracks()[0];
  const why = first ? refusedSurface(first) : "console";
  if (why) { // stop it before anything reaches the booth, and say so plainly
    for (const tr of stream.getTracks()) tr.stop();
    S.marks.shareRefused = why;
    $("#share-error").textContent = t(`share.refused_${why}`);
    $("#dlg-share").showModal();
    return;
  }
  S.share = stream;
  const track = stream.getVideoTracks()[0];
  track.addEventListener("ended", () => stopShare(true));
  track.addEventListener("capturehandlechange", () => { // switched to the console mid-share
    const now = refusedSurface(track);
    if (!now) return;
    stopShare(true);
    toast(t(`share.refused_${now}`), "bad");
  });
  const old = S.peers.get("screen");
  if (old) old.close({ bye: false });
  const peer = makePeer("screen", "booth", S.sess.sid);
  S.peers.set("screen", peer);
  await peer.offer({ send: [track], stream, sendOnly: true });
  await tunePeer(peer);
  peer.release();
  $("#v-screen").srcObject = stream;
  $("#screen-caption").textContent = t("video.my_screen");
  show($("#tile-screen"), true);
  renderMedia();
}

export function stopShare(bye) {
  if (S.share) for (const tr of S.share.getTracks()) tr.stop();
  S.share = null;
  const peer = S.peers.get("screen");
  if (bye && peer) {
    peer.close();
    S.peers.delete("screen");
  }
  if (!S.peers.get("screen")) {
    $("#v-screen").srcObject = null;
    show($("#tile-screen"), false);
  }
  renderMedia();
}

export async function askShare() {
  if (!S.sess) return;
  try {
    await sock.call("screen_share_request", { sid: S.sess.sid });
    toast(t("media.asked"), "ok");
  } catch (err) {
    report(err);
  }
}

export async function updateStats() {
  for (const [name, sel] of [["call", "#st-call"], ["preview", "#st-preview"]]) {
    const p = S.peers.get(name);
    const el = $(sel);
    if (!p || p.closed) {
      el.textContent = "";
      continue;
    }
    const st = await p.inboundVideo().catch(() => null);
    el.textContent = st && st.framesDecoded
      ? `${st.width}×${st.height} · ${Math.round(st.fps || 0)} fps`
      : p.state;
  }
}
