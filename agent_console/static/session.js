// The session in service: starting it (after an accept, a return, a resume), its detail, the
// session_state pushes that move it, and its end.

import { $, debounce } from "../shared/dom.js";
import { t } from "./i18n.js";
import { STATE } from "../protocol/protocol.js";
import { toast } from "./feedback.js";
import { HELD, S, sock, materials } from "./state.js";
import { clearOffer, missedOffer } from "./queue.js";
import { callFlowing, livePeer, ensureCall, restartCall, startPreview, stopShare } from "./calls.js";
import { centreName, matterOf, renderAll, renderWork, renderRecording } from "./render.js";
import { loadChat } from "./chat.js"; // issue 18, conversation

const ENDS = { complete: "ended.completed", no_show: "ended.no_show", interrupt: "ended.interrupted",
  requeue: "ended.requeue", leave: "ended.abandoned", hang_up: "ended.hung_up" };

export async function startSession(sid, { detail = null, resumed = false } = {}) {
  if (S.offer && S.offer.sid === sid) S.offer = null;
  const fresh = !S.sess || S.sess.sid !== sid;
  if (fresh) {
    if (S.sess) endSession(null);
    S.sess = { sid, state: STATE.IN_SERVICE, since: Date.now(), detail: null, identity: null, xfer: null, banner: null };
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
  loadChat(sid); // issue 18: the conversation so far
}

export function applyDetail(r) {
  if (!S.sess || !r || !r.session || r.session.sid !== S.sess.sid) return;
  const s = r.session;
  S.sess.detail = r;
  Object.assign(S.sess, {
    ticket: s.ticket, matter: s.matter, region: s.region, intake: s.intake_centre, priority: s.priority, lang: s.lang,
    state: s.state || S.sess.state,
  });
  if (s.answered && S.sess.since > Number(s.answered)) S.sess.since = Number(s.answered) - S.skew;
  if (s.identity) S.sess.identity = s.identity;
}

export async function loadDetail() {
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
export const reloadDetail = debounce(loadDetail, 150);

export function endSession(message) {
  for (const p of S.peers.values()) p.close({ bye: HELD.has(S.sess?.state) });
  S.peers.clear();
  stopShare(false);
  for (const id of ["#v-citizen", "#v-preview", "#v-screen", "#v-face"]) $(id).srcObject = null;
  const sid = S.sess && S.sess.sid;
  S.sess = null;
  S.device = null;
  materials.reset(null);
  loadChat(null); // issue 18
  if (sid) S.wrap = { ...(S.wrap || {}), sid };
  if (message) toast(t(message));
  renderAll();
}

export async function onSessionState(d) {
  const mine = d.agent === S.me;
  // issue 19: the offer I held ran out (a queue offer, or a transfer offered to me)
  const ranOut = (d.act === "offer_timeout" && mine) || (d.act === "transfer_timeout" && d.to_agent === S.me);
  if (S.offer && d.sid === S.offer.sid && ranOut) missedOffer(d);
  else if (S.offer && d.sid === S.offer.sid && d.act !== "offer" && d.act !== "transfer_offer") {
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
  if (d.state === STATE.RATED && S.wrap && S.wrap.sid === d.sid) {
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
        // issue 19: the centre says where it went, not 上一件已办结
        const who = [d.agent_centre ? centreName(d.agent_centre) : "", d.agent].filter(Boolean).join(" · ");
        endSession(null);
        S.wrap = { ...(S.wrap || {}), transferred: who };
        toast(t("xfer.done", { who }), "ok");
        renderWork();
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
      // The booth's socket came back. A reloaded kiosk has new peer connections to make: offer
      // again. A kiosk whose link only dropped kept its call, healed in place by the ICE restart
      // (calls.js): rebuilding it would interrupt the picture a second time.
      if (d.party === "booth" && !(await callFlowing())) await restartCall();
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

export async function reloadRating(sid) {
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

/**
 * recording_status {sid, state: "recording" | "failed" | "stopped", segment?, error?}: the booth's
 * recording of my session (docs/recording.md). It only informs: with 录制异常 the specialist
 * decides whether to carry on. A console that opens mid-session hears it when the booth starts
 * the next segment, which its new call connection causes.
 */
export function onRecordingStatus(d) {
  if (!S.sess || !d || d.sid !== S.sess.sid) return;
  const seen = S.sess.rec;
  // An earlier segment's end after the next one began (pushes from two nodes may cross).
  if (d.state === "stopped" && seen && seen.segment !== null && d.segment !== undefined && d.segment < seen.segment) return;
  S.sess.rec = { state: d.state, segment: d.segment ?? (seen ? seen.segment : null), error: d.error || null };
  renderRecording();
}

// Registered with the session's other handlers' module so the console's boot needs no change.
sock.on("recording_status", onRecordingStatus);
