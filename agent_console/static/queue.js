// What comes to the specialist: presence, the queue view, and offers (accept, decline).

import { $ } from "../shared/dom.js";
import { t } from "./i18n.js";
import { now } from "./media.js";
import { PRESENCE } from "../protocol/protocol.js";
import { report, toast } from "./feedback.js";
import { S, sock } from "./state.js";
import { startSession } from "./session.js";
import { prepareCall } from "./calls.js";
import { renderTop, renderQueue, renderOffer, renderWork } from "./render.js";

export function setPresence(status) {
  const was = S.presence;
  S.presence = status;
  if (status === PRESENCE.WRAP_UP && was !== PRESENCE.WRAP_UP) {
    S.wrap = { ...(S.wrap || {}), until: Date.now() + S.ctx.timing.wrap_up_s * 1000 };
  } else if (status !== PRESENCE.WRAP_UP && S.wrap) {
    S.wrap.until = null;
  }
  renderTop();
  renderWork();
  if (was !== status) refreshQueue(); // whether I may take a row (接办) follows my presence
}

export async function changePresence(status) {
  try {
    await sock.call("presence", { status });
  } catch (err) {
    report(err);
  }
}

export async function refreshQueue() {
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

export function onOffer(d) {
  if (S.sess && S.sess.sid === d.sid) return; // a resent offer of what we already serve
  S.offer = { ...d, detail: null };
  S.missed = null; // the next offer replaces the missed-call notice
  S.marks.offer = now();
  renderOffer();
  renderWork();
  renderQueue(); // renderOffer rings while S.offer is set
  prepareCall(d.sid).catch((err) => console.debug("pre-warm", err));
  sock.call("session_detail", { sid: d.sid }).then((r) => {
    if (S.offer && S.offer.sid === d.sid) {
      S.offer.detail = r;
      renderOffer();
    }
  }).catch(() => {});
}

export async function accept() {
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

export async function decline() {
  const o = S.offer;
  if (!o) return;
  clearOffer();
  try {
    await sock.call("decline", { sid: o.sid });
  } catch (err) {
    report(err);
  }
}

export function clearOffer(message) {
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
  renderWork();
  renderQueue();
}

// --- issue 19 (helper C): a missed offer, told plainly; taking a session from the queue list ----

/** The offer I held ran out: a notice in the centre until dismissed or the next offer. */
export function missedOffer(d) {
  const o = S.offer;
  S.missed = { sid: d.sid, ticket: d.ticket || (o && o.ticket) || d.sid, transfer: !!(o && o.transfer) };
  clearOffer();
  refreshQueue();
}

export function dismissMissed() {
  S.missed = null;
  renderWork();
}

/** 接办: take a waiting session from the queue list (the router's rules decide: rw_take). */
export async function take(sid) {
  if (S.offer || S.sess) return;
  S.marks.take = now();
  try {
    await sock.call("take", { sid });
    S.missed = null;
    await startSession(sid);
  } catch (err) {
    report(err);
    refreshQueue();
  }
}
