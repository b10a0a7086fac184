// Drawing the console from its state: the top bar, the queue, the offer, the session, media
// buttons, the side panel (checklist, identity, notes, history) and the clocks.

import { $, $$, h, fill, show, clock, hms } from "../shared/dom.js";
import { t, has, nameOf } from "./i18n.js";
import { STATE, PRESENCE } from "../protocol/protocol.js";
import { parseJson, ring, soundAllowed } from "./feedback.js";
import { S, materials, serverNow } from "./state.js";
import { className, reasonText } from "./recognition.js";

const HIDDEN_ACTS = new Set(["material_viewed"]);

export function connStatus(online) {
  const el = $("#conn");
  el.className = "conn " + (online ? "on" : "off");
  el.textContent = online ? t("conn.online") : t("conn.offline");
}

export function matterOf(code) {
  return S.ctx.matters[code] || null;
}

export function centreName(id) {
  return nameOf(S.ctx.centres[id], id || "");
}

export function renderAll() {
  renderTop();
  renderQueue();
  renderOffer();
  renderWork();
  renderSide();
  renderMedia();
}

export function renderTop() {
  const u = S.ctx.user;
  fill($("#who"), h("b", u.name || u.username), h("span.muted", ` · ${centreName(u.centre)}`));
  $("#btn-available").classList.toggle("on", S.presence === PRESENCE.AVAILABLE);
  $("#btn-away").classList.toggle("on", S.presence === PRESENCE.AWAY);
  // An offer or a session decides presence: the server refuses a hand switch (presence_busy).
  const busy = S.presence === PRESENCE.OFFERED || S.presence === PRESENCE.IN_SERVICE;
  $("#btn-available").disabled = busy;
  $("#btn-away").disabled = busy;
  const pill = $("#status-pill");
  pill.className = `pill p-${S.presence}`;
  pill.textContent = t(`presence.${S.presence}`);
  show($("#wrapup"), S.presence === PRESENCE.WRAP_UP);
}

export function renderQueue() {
  const rows = S.queue.map((q) => {
    const m = matterOf(q.matter);
    const waited = q.waited_s + (Date.now() - S.queueAt) / 1000;
    return h("tr", { dataset: { sid: q.sid }, class: S.offer && S.offer.sid === q.sid ? "hot" : "" },
      h("td.ticket", q.ticket, q.priority ? h("span.prio", t(`prio.${q.priority}`)) : null,
        q.lang && q.lang !== "zh" ? h("span.tag.lang", q.lang.toUpperCase()) : null),
      h("td.matter", { title: nameOf(m, q.matter) }, h("span.mname", nameOf(m, q.matter)),
        h("span.centre", centreName(q.intake_centre), q.wide ? h("span.tag", t("queue.wide")) : null)),
      h("td.num.wait", { dataset: { waited: q.waited_s } }, clock(waited)),
      h("td.act", q.takeable && !S.offer && !S.sess
        ? h("button.take", { type: "button", dataset: { take: q.sid }, title: t("queue.take_title") }, t("queue.take"))
        : null));
  });
  fill($("#queue-rows"), rows);
  $("#queue-count").textContent = String(S.queue.length);
  show($("#queue-empty"), S.queue.length === 0);
}

/** The citizen's language as a badge: "EN English / 英语" (issue 19). */
export function langBadge(el, lang) {
  const code = lang || "zh";
  el.className = `flag lang-${code}`;
  fill(el, h("b", code.toUpperCase()), " ", has(`lang.${code}`) ? t(`lang.${code}`) : code);
}

/** The priority lane as a badge: "优先：老年人", hidden without one. */
export function prioBadge(el, prio) {
  show(el, !!prio);
  el.textContent = prio ? t("offer.prio", { p: t(`prio.${prio}`) }) : "";
}

export function renderOffer() {
  const o = S.offer;
  show($("#offer"), !!o);
  document.body.classList.toggle("ringing", !!o);
  ring(!!o); // the ring follows the offer, however it ends (accepted, declined, gone, missed)
  if (!o) return;
  $("#offer-title").textContent = t(o.transfer ? "offer.transfer" : "offer.title");
  const s = o.detail && o.detail.session;
  const m = matterOf(o.matter);
  langBadge($("#offer-lang"), o.language || (s && s.lang));
  prioBadge($("#offer-prio"), o.priority || (s && s.priority));
  const rows = [
    [t("svc.ticket"), o.ticket || (s ? s.ticket : "…")],
    [t("queue.matter"), nameOf(m, o.matter)],
    [t("svc.intake"), s ? centreName(s.intake_centre) : "…"],
  ];
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

export function renderWork() {
  const sess = S.sess;
  show($("#idle"), !sess && !S.offer); // a ringing offer takes the centre (issue 19)
  show($("#service"), !!sess);
  show($("#side"), !!sess);
  renderMissed();
  if (!sess) {
    const xfer = S.wrap && S.wrap.transferred; // issue 19: where my last session went
    show($("#idle-xfer"), !!xfer);
    if (xfer) $("#idle-xfer").textContent = t("xfer.sent_to", { who: xfer });
    const key = S.presence === PRESENCE.WRAP_UP ? (xfer ? "idle.wrap_xfer" : "idle.wrap")
      : S.presence === PRESENCE.AWAY || S.presence === PRESENCE.OFFLINE ? "idle.away" : "idle.available";
    $("#idle-text").textContent = t(key);
    const rating = S.wrap && S.wrap.rating;
    show($("#wrap-rating"), !!rating);
    if (rating) $("#wrap-rating").textContent = t("wrap.rating", { level: `${rating} · ${t(`rating.${rating}`)}` });
    return;
  }
  const m = matterOf(sess.matter);
  $("#s-ticket").textContent = sess.ticket || "…";
  langBadge($("#s-lang"), sess.lang);
  prioBadge($("#s-prio"), sess.priority);
  $("#s-matter").textContent = nameOf(m, sess.matter || "");
  $("#s-meta").textContent = [sess.sid, `${t("svc.intake")} ${centreName(sess.intake)}`,
    m ? `${t("svc.home")} ${m.department}` : ""].filter(Boolean).join(" · ");
  const st = $("#s-state");
  st.className = `state st-${sess.state}`;
  st.textContent = t(`state.${sess.state}`);
  renderRecording();
  let banner = sess.banner;
  if (!banner && sess.state === STATE.TRANSFERRING && sess.xfer) {
    banner = { kind: "info", text: t("xfer.waiting", { to: sess.xfer.to, mode: t(`xfer.${sess.xfer.mode}_short`) }) };
  }
  const b = $("#banner");
  show(b, !!banner);
  if (banner) {
    b.className = `banner ${banner.kind}`;
    b.textContent = banner.text;
  }
  for (const id of ["#btn-transfer", "#btn-complete", "#btn-noshow"]) $(id).disabled = sess.state !== STATE.IN_SERVICE;
  const dev = S.device && S.device.sid === sess.sid;
  $("#cap-status").textContent = t(dev ? "cap.device_on" : "cap.device_off");
  $("#cap-status").className = dev ? "ok-text" : "muted";
  materials.renderToolbar();
  materials.renderStills();
}

/** 你错过了 P001 的呼叫: in the centre until dismissed or the next offer (issue 19). */
function renderMissed() {
  const ms = S.missed;
  show($("#missed"), !!ms && !S.offer);
  if (!ms) return;
  $("#missed-text").textContent = t(ms.transfer ? "missed.transfer" : "missed.call", { ticket: ms.ticket });
  $("#missed-hint").textContent = t(S.presence === PRESENCE.AWAY ? "missed.away" : "missed.hint");
}

/** ● 录制中 while the booth's recording is acknowledged; a red 录制异常 banner with the error when it failed. */
export function renderRecording() {
  const rec = S.sess && S.sess.rec;
  show($("#s-rec"), !!rec && rec.state === "recording");
  const failed = !!rec && rec.state === "failed";
  const b = $("#rec-banner");
  show(b, failed);
  b.textContent = failed ? t("rec_failed", { error: recordingError(rec.error) }) : "";
}

/** The error of recording_status: a code we have words for, else the server's message. */
function recordingError(e) {
  if (!e) return t("rec_failed_unknown");
  const code = typeof e === "string" ? e : e.code;
  if (code && has(`rec_err_${code}`)) return t(`rec_err_${code}`);
  return (typeof e === "string" ? e : e.message || e.code) || t("rec_failed_unknown");
}

export function renderMedia() {
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

export function renderSide() {
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

export function renderHistory() {
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
        const reasons = (ev.reasons || "").split(",").filter(Boolean).map(reasonText);
        extra.push(`${materials.kindName(ev.kind)} · ${t("mat.auto")}: ${t(ev.verdict === "accepted" ? "mat.auto_ok" : "mat.auto_bad")}${reasons.length ? `（${reasons.join("、")}）` : ""}`);
      } else if (ev.act === "verdict") {
        const why = ev.why ? ` · ${has(`vreason.${ev.why}`) ? t(`vreason.${ev.why}`) : ev.why}` : "";
        const over = ev.override && ev.override !== "0" && ev.override !== "false"
          ? ` · ${t("hist.override", { reason: ev.override_reason || "" })}` : "";
        extra.push(`${materials.kindName(ev.kind)} · ${t(`mat.${ev.verdict}`)}${why}${over}`);
      } else if (ev.act === "recognised") {
        // the event's public fields only: the class, the reasons, the masked number
        const reasons = (ev.reasons || "").split(",").filter(Boolean).map(reasonText);
        extra.push([materials.kindName(ev.kind), ev.class ? t("rec.as", { cls: className(ev.class) }) : "",
          ev.id_number_masked || "", reasons.join("、")].filter(Boolean).join(" · "));
      } else if (ev.act === "capture_requested") {
        extra.push(materials.kindName(ev.kind));
      } else {
        if (ev.why) extra.push(ev.why);
        if (ev.to_agent || ev.to_centre) extra.push(`→ ${ev.to_agent || centreName(ev.to_centre)}`);
        if (ev.missing) { // issue 18: with how each is supplied, when the event says
          const hows = (ev.missing_how || "").split(",");
          extra.push(ev.missing.split(",").map((k, i) => materials.kindName(k) + (hows[i] ? `（${t(`how.${hows[i]}`)}）` : "")).join("、"));
        }
        if (ev.act === "delivery_address") extra.push(`${ev.recipient || ""} ${ev.phone || ""} ${ev.address || ""}`.trim()); // masked
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

export function tick() {
  tickOffer();
  if (S.queue.length) {
    for (const td of $$("#queue-rows td.wait")) {
      td.textContent = clock(Number(td.dataset.waited) + (Date.now() - S.queueAt) / 1000);
    }
  }
  if (S.sess) $("#s-elapsed").textContent = clock((Date.now() - S.sess.since) / 1000);
  if (S.presence === PRESENCE.WRAP_UP && S.wrap && S.wrap.until) {
    $("#wrapup-left").textContent = clock((S.wrap.until - Date.now()) / 1000);
  }
}

export function tickOffer() {
  const o = S.offer;
  if (!o) return;
  const left = Math.max(0, (o.deadline - serverNow()) / 1000);
  $("#offer-left").textContent = t("offer.left", { s: Math.ceil(left) });
  const total = S.ctx.timing.offer_timeout_s || 20;
  $("#offer-bar").style.width = `${Math.min(100, (left / total) * 100)}%`;
  $("#offer").classList.toggle("urgent", left < 5);
  show($("#offer-sound"), !soundAllowed());
}
