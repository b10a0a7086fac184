// The specialist's console: presence, queue, offers, the session in service, its media, its
// materials, identity check, notes, transfer and completion. One page, one /agent socket.
//
// Media (docs/console.md): the console offers "call" (to the booth page) and "preview" (to the
// device agent); its own screen share is a separate "screen" pc it offers; a booth's screen
// share arrives as an offer from the booth and is answered here. Reconnect = new peer
// connections under the same session (aiortc has no ICE restart).

import { AgentSocket } from "./agent.js";
import { get, post } from "../shared/api.js";
import { $, $$, h, fill, show, clock, hms, debounce } from "./dom.js";
import { loadStrings, t, has, nameOf, setLang, getLang, onLang } from "./i18n.js";
import { Peer, attach, firstFrame, localMedia, now } from "./media.js";
import { Materials } from "./materials.js";

const HELD = new Set(["in_service", "transferring", "reconnecting"]);
const HIDDEN_ACTS = new Set(["material_viewed"]);
const ENDS = { complete: "ended.completed", no_show: "ended.no_show", interrupt: "ended.interrupted",
  requeue: "ended.requeue", leave: "ended.abandoned" };

const S = {
  ctx: null, // /api/console/context
  me: "",
  skew: 0, // server clock - this clock, ms
  presence: "offline",
  queue: [],
  queueAt: 0,
  offer: null, // {sid, deadline, transfer, matter, region, detail}
  sess: null, // {sid, ticket, matter, region, intake, state, since, detail, identity, xfer, banner}
  wrap: null, // {until, sid, rating}
  local: null, // MediaStream of my camera and microphone
  peers: new Map(), // pc name -> Peer
  device: null, // {sid, cameras} from device_ready
  muted: false,
  camOff: false,
  share: null, // my display MediaStream while sharing
  marks: {}, // timings for tests and the bench (wall-clock ms)
};

const sock = new AgentSocket({ onStatus: connStatus });
const materials = new Materials({ sock, state: S, toast, onChange: () => renderSide() });
const serverNow = () => Date.now() + S.skew;

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
  sock.on("material_verdict", (d) => {
    materials.onVerdict(d);
    reloadDetail();
  });
  sock.on("screen_share_reply", (d) => {
    if (S.sess && d.sid === S.sess.sid) toast(t(d.accepted ? "media.share_yes" : "media.share_no"), d.accepted ? "ok" : "warn");
  });
  sock.on("connect", () => refreshQueue());
}

function connStatus(online) {
  const el = $("#conn");
  el.className = "conn " + (online ? "on" : "off");
  el.textContent = online ? t("conn.online") : t("conn.offline");
}

// --- presence and queue ---------------------------------------------------------------------

function setPresence(status) {
  const was = S.presence;
  S.presence = status;
  if (status === "wrap_up" && was !== "wrap_up") {
    S.wrap = { ...(S.wrap || {}), until: Date.now() + S.ctx.timing.wrap_up_s * 1000 };
  } else if (status !== "wrap_up" && S.wrap) {
    S.wrap.until = null;
  }
  renderTop();
  renderWork();
}

async function changePresence(status) {
  try {
    await sock.call("presence", { status });
  } catch (err) {
    report(err);
  }
}

async function refreshQueue() {
  if (!sock.connected) return;
  try {
    const r = await sock.call("queue_view", {});
    S.queue = r.sessions || [];
    S.queueAt = Date.now();
    renderQueue();
  } catch (err) {
    console.debug("queue_view", err.code);
  }
}

// --- offers ------------------------------------------------------------------------------------

function onOffer(d) {
  if (S.sess && S.sess.sid === d.sid) return; // a resent offer of what we already serve
  S.offer = { ...d, detail: null };
  S.marks.offer = now();
  renderOffer();
  beep();
  prepareCall(d.sid).catch((err) => console.debug("pre-warm", err));
  sock.call("session_detail", { sid: d.sid }).then((r) => {
    if (S.offer && S.offer.sid === d.sid) {
      S.offer.detail = r;
      renderOffer();
    }
  }).catch(() => {});
}

async function accept() {
  const o = S.offer;
  if (!o) return;
  S.marks.accept = now();
  $("#btn-accept").disabled = true;
  try {
    await sock.call("accept", { sid: o.sid });
    S.marks.accepted = now();
    await startSession(o.sid, { detail: o.detail });
  } catch (err) {
    report(err);
    if (["offer_expired", "not_your_offer", "unknown_session", "illegal_transition"].includes(err.code)) clearOffer();
  } finally {
    $("#btn-accept").disabled = false;
  }
}

async function decline() {
  const o = S.offer;
  if (!o) return;
  clearOffer();
  try {
    await sock.call("decline", { sid: o.sid });
  } catch (err) {
    report(err);
  }
}

function clearOffer(message) {
  if (!S.offer) return;
  const sid = S.offer.sid;
  S.offer = null;
  const call = S.peers.get("call");
  if (call && call.held && call.sid === sid && !(S.sess && S.sess.sid === sid)) {
    call.close({ bye: false });
    S.peers.delete("call");
  }
  if (message) toast(t(message));
  renderOffer();
}

// --- the session ---------------------------------------------------------------------------------

async function startSession(sid, { detail = null, resumed = false } = {}) {
  if (S.offer && S.offer.sid === sid) S.offer = null;
  const fresh = !S.sess || S.sess.sid !== sid;
  if (fresh) {
    if (S.sess) endSession(null);
    S.sess = { sid, state: "in_service", since: Date.now(), detail: null, identity: null, xfer: null, banner: null };
    S.wrap = null;
    materials.reset(sid);
  }
  if (detail) applyDetail(detail);
  renderAll();
  const media = [ensureCall(sid)];
  if (S.device && S.device.sid === sid) media.push(startPreview(sid));
  await Promise.all(media);
  if (resumed) toast(t("banner.resumed", { sid }));
  await loadDetail();
  materials.load().catch((err) => console.debug("materials", err.code || err));
}

function applyDetail(r) {
  if (!S.sess || !r || !r.session || r.session.sid !== S.sess.sid) return;
  const s = r.session;
  S.sess.detail = r;
  Object.assign(S.sess, {
    ticket: s.ticket, matter: s.matter, region: s.region, intake: s.intake_centre, priority: s.priority,
    state: s.state || S.sess.state,
  });
  if (s.answered && S.sess.since > Number(s.answered)) S.sess.since = Number(s.answered) - S.skew;
  if (s.identity) S.sess.identity = s.identity;
}

async function loadDetail() {
  if (!S.sess) return;
  const sid = S.sess.sid;
  try {
    const r = await sock.call("session_detail", { sid });
    if (S.sess && S.sess.sid === sid) {
      applyDetail(r);
      materials.setMatter(matterOf(S.sess.matter));
      renderAll();
    }
  } catch (err) {
    console.debug("session_detail", err.code);
  }
}
const reloadDetail = debounce(loadDetail, 150);

function endSession(message) {
  for (const p of S.peers.values()) p.close({ bye: HELD.has(S.sess?.state) });
  S.peers.clear();
  stopShare(false);
  for (const id of ["#v-citizen", "#v-preview", "#v-screen", "#v-face"]) $(id).srcObject = null;
  const sid = S.sess && S.sess.sid;
  S.sess = null;
  S.device = null;
  materials.reset(null);
  if (sid) S.wrap = { ...(S.wrap || {}), sid };
  if (message) toast(t(message));
  renderAll();
}

async function onSessionState(d) {
  const mine = d.agent === S.me;
  if (S.offer && d.sid === S.offer.sid && d.act !== "offer" && d.act !== "transfer_offer") {
    if ((d.act === "accept" || d.act === "transfer_accept") && mine) {
      /* the accept ack starts the session */
    } else if (d.act === "leave") clearOffer("ended.left_offer");
    else if (d.act === "accept" || d.act === "transfer_accept") clearOffer("ended.offer_gone");
    else if (!(d.act === "transfer" && d.agent !== S.me)) clearOffer();
  }
  if (d.act === "resume") {
    if (HELD.has(d.state)) await startSession(d.sid, { resumed: true });
    return;
  }
  if (d.state === "rated" && S.wrap && S.wrap.sid === d.sid) {
    reloadRating(d.sid);
    return;
  }
  if (!S.sess || S.sess.sid !== d.sid) {
    // a session comes (back) to me without an accept of mine on this page (another tab, a return)
    if (mine && HELD.has(d.state) && ["transfer_decline", "transfer_timeout", "media_back"].includes(d.act)) {
      await startSession(d.sid);
    }
    return;
  }
  const sess = S.sess;
  sess.state = d.state;
  switch (d.act) {
    case "transfer":
      sess.xfer = { to: d.to_agent || d.to_centre, mode: d.mode || "warm" };
      if (d.mode === "cold") {
        for (const p of S.peers.values()) p.close();
        S.peers.clear();
        sess.banner = { kind: "warn", text: t("banner.cold") };
      } else {
        sess.banner = null;
      }
      break;
    case "transfer_accept":
      if (!mine) {
        endSession(null);
        toast(t("xfer.done", { who: d.agent }), "ok");
        return;
      }
      break;
    case "transfer_decline":
    case "transfer_timeout":
      sess.xfer = null;
      sess.banner = { kind: "warn", text: t("xfer.returned", { why: d.why || t(`ev.${d.act}`) }) };
      await ensureCall(sess.sid);
      if (S.device && S.device.sid === sess.sid && !livePeer("preview")) await startPreview(sess.sid);
      break;
    case "media_lost":
      sess.banner = { kind: "warn", text: t(d.party === "agent" ? "banner.reconnecting_agent" : "banner.reconnecting_booth") };
      break;
    case "media_back":
      sess.banner = null;
      // The booth page came back with new peer connections to make: offer again.
      if (d.party === "booth") await restartCall();
      break;
    default:
      if (ENDS[d.act]) {
        endSession(ENDS[d.act]);
        return;
      }
  }
  renderAll();
  reloadDetail();
}

async function reloadRating(sid) {
  try {
    const r = await sock.call("session_detail", { sid });
    if (S.wrap && S.wrap.sid === sid) {
      S.wrap.rating = Number(r.session.rating) || null;
      renderWork();
    }
  } catch {
    /* not allowed any more: no rating to show */
  }
}

// --- media -------------------------------------------------------------------------------------

function makePeer(name, to, sid) {
  const peer = new Peer({
    name, to, sid, iceServers: sock.iceServers,
    signal: (msg) => sock.send("signal", msg),
    onTrack: (track, stream) => onRemoteTrack(peer, track, stream),
    onState: (state) => onPeerState(peer, state),
  });
  return peer;
}

function livePeer(name) {
  const p = S.peers.get(name);
  return p && !p.closed && !["failed", "closed"].includes(p.state) ? p : null;
}

function localTracks() {
  return S.local ? S.local.getTracks() : [];
}

/** Build the call's offer before the accept (ICE gathering included); send it on accept. */
async function prepareCall(sid) {
  const old = S.peers.get("call");
  if (S.sess) return; // busy: an offer while serving is a transfer back, handled on accept
  if (old) old.close({ bye: false });
  const peer = makePeer("call", "booth", sid);
  S.peers.set("call", peer);
  await peer.offer(callSpec());
}

function callSpec() {
  const send = localTracks();
  const kinds = new Set(send.map((tr) => tr.kind));
  const recv = ["audio", "video"].filter((k) => !kinds.has(k));
  return { send, recv, stream: S.local };
}

async function ensureCall(sid) {
  const p = S.peers.get("call");
  if (p && !p.closed && p.sid === sid && p.held) {
    p.release(sid);
    S.marks.callReleased = now();
    return;
  }
  if (p && !p.closed && p.sid === sid && !["failed", "closed"].includes(p.state)) return;
  await restartCall();
}

async function restartCall() {
  if (!S.sess) return;
  const sid = S.sess.sid;
  const old = S.peers.get("call");
  if (old) old.close({ bye: false });
  show($("#w-citizen"), true);
  const peer = makePeer("call", "booth", sid);
  S.peers.set("call", peer);
  await peer.offer(callSpec());
  peer.release();
  S.marks.callReleased = now();
}

async function startPreview(sid) {
  const old = S.peers.get("preview");
  if (old && !old.closed && old.sid === sid && old.state === "new" && now() - old.marks.created < 1500) return;
  if (old) old.close({ bye: false });
  show($("#w-preview"), true);
  const peer = makePeer("preview", "device", sid);
  S.peers.set("preview", peer);
  S.marks.previewStart = now();
  await peer.offer({ recv: ["video"] });
  peer.release();
}

function onDeviceReady(d) {
  S.device = d;
  renderWork();
  materials.setCameras(d.cameras || []);
  if (S.sess && S.sess.sid === d.sid && HELD.has(S.sess.state)) startPreview(d.sid).catch(report);
}

async function onSignal(d) {
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

function onRemoteTrack(peer, track, stream) {
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

function onPeerState(peer, state) {
  if (S.peers.get(peer.name) !== peer) return;
  renderMedia();
  if (state === "failed" && S.sess && HELD.has(S.sess.state) && !(S.sess.xfer && S.sess.xfer.mode === "cold")) {
    // No ICE restart (aiortc): build a new connection after a short pause.
    setTimeout(() => {
      if (S.peers.get(peer.name) !== peer || !S.sess) return;
      if (peer.name === "call") restartCall().catch(report);
      else if (peer.name === "preview" && S.device) startPreview(S.sess.sid).catch(report);
    }, 1000);
  }
}

function toggleMute() {
  S.muted = !S.muted;
  if (S.local) for (const tr of S.local.getAudioTracks()) tr.enabled = !S.muted;
  renderMedia();
}

function toggleCamera() {
  S.camOff = !S.camOff;
  if (S.local) for (const tr of S.local.getVideoTracks()) tr.enabled = !S.camOff;
  renderMedia();
}

async function toggleShare() {
  if (!S.sess) return;
  if (S.share) return stopShare(true);
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { displaySurface: "browser" }, audio: false });
  } catch (err) {
    return toast(t("err.generic", { msg: err.name }), "warn");
  }
  S.share = stream;
  const track = stream.getVideoTracks()[0];
  track.addEventListener("ended", () => stopShare(true));
  const old = S.peers.get("screen");
  if (old) old.close({ bye: false });
  const peer = makePeer("screen", "booth", S.sess.sid);
  S.peers.set("screen", peer);
  await peer.offer({ send: [track], stream, sendOnly: true });
  peer.release();
  $("#v-screen").srcObject = stream;
  $("#screen-caption").textContent = t("video.my_screen");
  show($("#tile-screen"), true);
  renderMedia();
}

function stopShare(bye) {
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

async function askShare() {
  if (!S.sess) return;
  try {
    await sock.call("screen_share_request", { sid: S.sess.sid });
    toast(t("media.asked"), "ok");
  } catch (err) {
    report(err);
  }
}

async function updateStats() {
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

// --- identity, notes, transfer, complete -----------------------------------------------------

async function recordIdentity(result) {
  if (!S.sess) return;
  const method = $("#id-method").value;
  const payload = { sid: S.sess.sid, method, result };
  const idm = materials.idPhoto();
  if (idm && method !== "face_only") payload.material_id = idm.id;
  try {
    const r = await sock.call("identity", payload);
    S.sess.identity = r.identity;
    renderSide();
    reloadDetail();
  } catch (err) {
    report(err);
  }
}

async function addNote(text) {
  if (!S.sess || !text.trim()) return;
  try {
    await sock.call("note", { sid: S.sess.sid, text: text.trim() });
    $("#note-input").value = "";
    $("#note-input").blur(); // back to the shortcuts
    await loadDetail();
  } catch (err) {
    report(err);
  }
}

function openTransfer() {
  if (!S.sess || !HELD.has(S.sess.state)) return;
  const region = S.sess.region;
  const centres = Object.entries(S.ctx.centres).filter(([, c]) => c.serves.includes(region));
  fill($("#xfer-centre"), centres.map(([id, c]) => h("option", { value: id }, `${nameOf(c)} (${id})`)));
  const own = S.ctx.user.centre;
  const other = centres.find(([id]) => id !== own);
  if (other) $("#xfer-centre").value = other[0];
  fill($("#xfer-agents"), centres.map(([id]) => h("option", { value: `spec-${id}` })));
  $("#xfer-error").textContent = "";
  $("#dlg-transfer").showModal();
  $("#xfer-reason").focus();
}

async function submitTransfer(ev) {
  ev.preventDefault();
  const f = $("#form-transfer");
  const target = f.elements.target.value;
  const payload = { sid: S.sess.sid, reason: $("#xfer-reason").value.trim(), mode: f.elements.mode.value };
  if (target === "agent") payload.to_agent = $("#xfer-agent").value.trim();
  else payload.to_centre = $("#xfer-centre").value;
  if (!payload.reason) return ($("#xfer-error").textContent = t("err.reason_required"));
  try {
    await sock.call("transfer", payload);
    $("#dlg-transfer").close();
    $("#xfer-reason").value = "";
    S.sess.xfer = { to: payload.to_agent || payload.to_centre, mode: payload.mode };
    renderAll();
  } catch (err) {
    $("#xfer-error").textContent = errText(err);
  }
}

function identityPassed() {
  return S.sess && S.sess.identity && S.sess.identity.result === "passed";
}

function openComplete() {
  if (!S.sess || S.sess.state !== "in_service") return;
  const missing = materials.missingRequired();
  fill($("#done-missing"), missing.map((m) =>
    h("label", h("input", { type: "checkbox", name: "missing", value: m.kind, checked: true }), " ", nameOf(m))));
  $("#done-error").textContent = "";
  $("#dlg-complete").showModal();
  updateCompleteForm();
}

function updateCompleteForm() {
  const outcome = $("#form-complete").elements.outcome.value;
  const blocked = outcome === "intake" && !identityPassed();
  show($("#done-identity"), blocked);
  show($("#done-missing-box"), outcome === "needs_supplement");
  $("#done-submit").disabled = blocked;
}

async function submitComplete(ev) {
  ev.preventDefault();
  const f = $("#form-complete");
  const payload = { sid: S.sess.sid, outcome: f.elements.outcome.value };
  const cn = $("#done-case").value.trim();
  if (cn) payload.case_number = cn;
  if (payload.outcome === "needs_supplement") {
    payload.missing = $$("input[name=missing]:checked", f).map((i) => i.value);
  }
  try {
    await sock.call("complete", payload);
    $("#dlg-complete").close();
    $("#done-case").value = "";
  } catch (err) {
    $("#done-error").textContent = errText(err);
  }
}

async function noShow() {
  if (!S.sess || !confirm(t("act.no_show_confirm"))) return;
  try {
    await sock.call("no_show", { sid: S.sess.sid });
  } catch (err) {
    report(err);
  }
}

// --- keyboard ------------------------------------------------------------------------------------

const KEYS = {
  a: () => accept(),
  d: () => decline(),
  c: () => materials.capture(),
  v: () => materials.verdict("accepted"),
  r: () => materials.openReject(),
  n: () => S.sess && $("#note-input").focus(),
  t: () => openTransfer(),
  i: () => S.sess && $("#id-method").focus(),
  e: () => openComplete(),
  m: () => S.sess && toggleMute(),
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

// --- rendering ---------------------------------------------------------------------------------

function matterOf(code) {
  return S.ctx.matters[code] || null;
}

function centreName(id) {
  return nameOf(S.ctx.centres[id], id || "");
}

function renderAll() {
  renderTop();
  renderQueue();
  renderOffer();
  renderWork();
  renderSide();
  renderMedia();
}

function renderTop() {
  const u = S.ctx.user;
  fill($("#who"), h("b", u.name || u.username), h("span.muted", ` · ${centreName(u.centre)}`));
  $("#btn-available").classList.toggle("on", S.presence === "available");
  $("#btn-away").classList.toggle("on", S.presence === "away");
  const busy = ["offered", "in_service"].includes(S.presence);
  $("#btn-available").disabled = busy;
  $("#btn-away").disabled = busy;
  const pill = $("#status-pill");
  pill.className = `pill p-${S.presence}`;
  pill.textContent = t(`presence.${S.presence}`);
  show($("#wrapup"), S.presence === "wrap_up");
}

function renderQueue() {
  const rows = S.queue.map((q) => {
    const m = matterOf(q.matter);
    const waited = q.waited_s + (Date.now() - S.queueAt) / 1000;
    return h("tr", { dataset: { sid: q.sid }, class: S.offer && S.offer.sid === q.sid ? "hot" : "" },
      h("td.ticket", q.ticket, q.priority ? h("span.prio", t(`prio.${q.priority}`)) : null),
      h("td.matter", { title: nameOf(m, q.matter) }, h("span.mname", nameOf(m, q.matter)),
        h("span.centre", centreName(q.intake_centre), q.wide ? h("span.tag", t("queue.wide")) : null)),
      h("td.num.wait", { dataset: { waited: q.waited_s } }, clock(waited)));
  });
  fill($("#queue-rows"), rows);
  $("#queue-count").textContent = String(S.queue.length);
  show($("#queue-empty"), S.queue.length === 0);
}

function renderOffer() {
  const o = S.offer;
  show($("#offer"), !!o);
  document.body.classList.toggle("ringing", !!o);
  if (!o) return;
  $("#offer-title").textContent = t(o.transfer ? "offer.transfer" : "offer.title");
  const s = o.detail && o.detail.session;
  const m = matterOf(o.matter);
  const rows = [
    [t("svc.ticket"), s ? s.ticket : "…"],
    [t("queue.matter"), nameOf(m, o.matter)],
    [t("svc.intake"), s ? centreName(s.intake_centre) : "…"],
  ];
  if (s && s.priority) rows.push([t("prio." + s.priority), "✓"]);
  if (o.transfer && s) {
    const x = parseJson(s.xfer);
    if (x) {
      rows.push([t("offer.reason"), x.reason]);
      rows.push(["", t("offer.from", { who: x.from })]);
    }
    rows.push(["", t("offer.history")]);
  }
  fill($("#offer-body"), rows.map(([k, v]) => [h("dt", k), h("dd", v)]));
  tickOffer();
}

function renderWork() {
  const sess = S.sess;
  show($("#idle"), !sess);
  show($("#service"), !!sess);
  show($("#side"), !!sess);
  if (!sess) {
    const key = S.presence === "wrap_up" ? "idle.wrap" : S.presence === "away" || S.presence === "offline"
      ? "idle.away" : "idle.available";
    $("#idle-text").textContent = t(key);
    const rating = S.wrap && S.wrap.rating;
    show($("#wrap-rating"), !!rating);
    if (rating) $("#wrap-rating").textContent = t("wrap.rating", { level: `${rating} · ${t(`rating.${rating}`)}` });
    return;
  }
  const m = matterOf(sess.matter);
  $("#s-ticket").textContent = sess.ticket || "…";
  $("#s-matter").textContent = nameOf(m, sess.matter || "");
  $("#s-meta").textContent = [sess.sid, `${t("svc.intake")} ${centreName(sess.intake)}`,
    m ? `${t("svc.home")} ${m.department}` : ""].filter(Boolean).join(" · ");
  const st = $("#s-state");
  st.className = `state st-${sess.state}`;
  st.textContent = t(`state.${sess.state}`);
  let banner = sess.banner;
  if (!banner && sess.state === "transferring" && sess.xfer) {
    banner = { kind: "info", text: t("xfer.waiting", { to: sess.xfer.to, mode: t(`xfer.${sess.xfer.mode}_short`) }) };
  }
  const b = $("#banner");
  show(b, !!banner);
  if (banner) {
    b.className = `banner ${banner.kind}`;
    b.textContent = banner.text;
  }
  for (const id of ["#btn-transfer", "#btn-complete", "#btn-noshow"]) $(id).disabled = sess.state !== "in_service";
  const dev = S.device && S.device.sid === sess.sid;
  $("#cap-status").textContent = t(dev ? "cap.device_on" : "cap.device_off");
  $("#cap-status").className = dev ? "ok-text" : "muted";
  materials.renderToolbar();
  materials.renderStills();
}

function renderMedia() {
  $("#btn-mute").lastElementChild.textContent = t(S.muted ? "media.unmute" : "media.mute");
  $("#btn-mute").classList.toggle("on", S.muted);
  $("#btn-cam").textContent = t(S.camOff ? "media.cam_on" : "media.cam_off");
  $("#btn-cam").classList.toggle("on", S.camOff);
  $("#btn-share").textContent = t(S.share ? "media.unshare" : "media.share");
  $("#btn-share").classList.toggle("on", !!S.share);
  const call = S.peers.get("call");
  $("#tile-citizen").dataset.state = call ? call.state : "none";
  const prev = S.peers.get("preview");
  $("#tile-preview").dataset.state = prev ? prev.state : "none";
}

function renderSide() {
  const sess = S.sess;
  if (!sess) return;
  materials.renderChecklist();
  materials.renderIdPhoto($("#id-photo"));
  // identity
  const idc = sess.identity;
  const idState = $("#id-state");
  idState.className = `count ${idc ? (idc.result === "passed" ? "ok" : "bad") : ""}`;
  idState.textContent = idc ? t(`id.result.${idc.result}`) : t("id.none");
  $("#id-result").textContent = idc
    ? t("id.recorded", { result: t(`id.result.${idc.result}`), method: t(`id.method.${idc.method}`),
      time: hms(idc.at), by: idc.by })
    : t("id.needed");
  // notes
  const notes = (sess.detail && sess.detail.notes) || [];
  fill($("#notes"), notes.length
    ? notes.slice().reverse().map((n) => h("li", h("span.when", `${hms(n.at)} ${n.by}`), h("p", n.text)))
    : h("li.empty", t("notes.empty")));
  // history
  renderHistory();
}

function renderHistory() {
  const d = S.sess && S.sess.detail;
  const items = [];
  if (d) {
    for (const ev of d.events || []) {
      if (HIDDEN_ACTS.has(ev.act)) continue; // every image view is audited; not news for the specialist
      const label = has(`ev.${ev.act}`) ? t(`ev.${ev.act}`) : ev.act;
      const extra = [];
      if (ev.act === "identity") {
        extra.push(t("hist.identity", { result: t(`id.result.${ev.result}`), method: t(`id.method.${ev.method}`) }));
      } else if (ev.act === "material_added") {
        const reasons = (ev.reasons || "").split(",").filter(Boolean).map((r) => (has(`auto.${r}`) ? t(`auto.${r}`) : r));
        extra.push(`${materials.kindName(ev.kind)} · ${t("mat.auto")}: ${t(ev.verdict === "accepted" ? "mat.auto_ok" : "mat.auto_bad")}${reasons.length ? `（${reasons.join("、")}）` : ""}`);
      } else if (ev.act === "verdict") {
        const why = ev.why ? ` · ${has(`vreason.${ev.why}`) ? t(`vreason.${ev.why}`) : ev.why}` : "";
        extra.push(`${materials.kindName(ev.kind)} · ${t(`mat.${ev.verdict}`)}${why}`);
      } else if (ev.act === "capture_requested") {
        extra.push(materials.kindName(ev.kind));
      } else {
        if (ev.why) extra.push(ev.why);
        if (ev.to_agent || ev.to_centre) extra.push(`→ ${ev.to_agent || centreName(ev.to_centre)}`);
        if (ev.missing) extra.push(ev.missing.split(",").map((k) => materials.kindName(k)).join("、"));
        if (ev.outcome) extra.push(t(`outcome.${ev.outcome}`));
        if (ev.mode) extra.push(t(`xfer.${ev.mode}_short`));
      }
      items.push(h("li", { class: `ev-${ev.act}` }, h("span.when", hms(ev.ts)), h("b", label),
        ev.by ? h("span.by", ev.by) : null, extra.length ? h("span.why", extra.join(" · ")) : null));
    }
  }
  const list = fill($("#history"), items.length ? items : h("li.empty", t("hist.none")));
  list.scrollTop = list.scrollHeight;
}

// --- clocks --------------------------------------------------------------------------------------

function tick() {
  tickOffer();
  if (S.queue.length) {
    for (const td of $$("#queue-rows td.wait")) {
      td.textContent = clock(Number(td.dataset.waited) + (Date.now() - S.queueAt) / 1000);
    }
  }
  if (S.sess) $("#s-elapsed").textContent = clock((Date.now() - S.sess.since) / 1000);
  if (S.presence === "wrap_up" && S.wrap && S.wrap.until) {
    $("#wrapup-left").textContent = clock((S.wrap.until - Date.now()) / 1000);
  }
}

function tickOffer() {
  const o = S.offer;
  if (!o) return;
  const left = Math.max(0, (o.deadline - serverNow()) / 1000);
  $("#offer-left").textContent = t("offer.left", { s: Math.ceil(left) });
  const total = S.ctx.timing.offer_timeout_s || 20;
  $("#offer-bar").style.width = `${Math.min(100, (left / total) * 100)}%`;
  $("#offer").classList.toggle("urgent", left < 5);
}

// --- small things ----------------------------------------------------------------------------------

function parseJson(s) {
  if (!s) return null;
  if (typeof s === "object") return s;
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

function errText(err) {
  const key = `err.${err.code}`;
  return has(key) ? t(key) : t("err.generic", { msg: err.message || err.code });
}

function report(err) {
  console.warn(err);
  toast(errText(err), "bad");
}

function toast(text, kind = "info") {
  const el = h(`div.toast.${kind}`, text);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "bad" ? 6000 : 3500);
}

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.08, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.36);
  } catch {
    /* no audio output */
  }
}

function bindUi() {
  $("#btn-available").addEventListener("click", () => changePresence("available"));
  $("#btn-away").addEventListener("click", () => changePresence("away"));
  $("#btn-ready").addEventListener("click", () => changePresence("available"));
  $("#btn-lang").addEventListener("click", () => setLang(getLang() === "en" ? "zh" : "en"));
  $("#btn-logout").addEventListener("click", async () => {
    await post("/api/logout").catch(() => {});
    location.assign("/console/login");
  });
  $("#btn-accept").addEventListener("click", () => accept());
  $("#btn-decline").addEventListener("click", () => decline());
  $("#btn-mute").addEventListener("click", toggleMute);
  $("#btn-cam").addEventListener("click", toggleCamera);
  $("#btn-share").addEventListener("click", () => toggleShare().catch(report));
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
  document.addEventListener("keydown", onKey);
  onLang(() => {
    renderAll();
    connStatus(sock.connected);
  });
}

// For tests and the bench: the page's state and media figures, read through page.evaluate.
window.rwConsole = {
  state: S,
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
