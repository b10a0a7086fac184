// Asking the citizen to sign (签字, docs/console.md): "请签字" (S) opens a dialog to pick the
// document (告知承诺书 or 申请表); sign_request sends it to the kiosk. The panel lists the session's
// signatures, newest first, each with its signed PDF; signature_added adds one at once, and
// sign_declined says the citizen chose 暂不签. Every signature is kept: asking again adds another.

import { $, h, fill, show } from "../shared/dom.js";
import { get } from "../shared/api.js";
import { t } from "./i18n.js";
import { errText, report, toast } from "./feedback.js";
import { HELD, S, sock } from "./state.js";

const sig = { sid: null, list: [], pending: null };

const docName = (doc) => t(`sign.doc.${doc}`);

function time(ms) {
  return new Date(ms).toLocaleTimeString("zh-CN", { hour12: false });
}

export function renderSigning() {
  const own = S.sess && sig.sid === S.sess.sid;
  const list = own ? [...sig.list].reverse() : [];
  $("#sign-count").textContent = list.length ? String(list.length) : "";
  const pending = own && sig.pending;
  show($("#sign-pending"), Boolean(pending));
  $("#sign-pending").textContent = pending ? t("sign.pending", { doc: docName(pending.doc) }) : "";
  fill($("#sign-list"), list.length ? list.map((s) => h("li.sign-item", { dataset: { id: s.id } },
    h("span", `${t("sign.no", { n: s.n + 1 })} · ${docName(s.doc)} · ${time(s.at)} `),
    h("a.sign-pdf", { href: s.url, target: "_blank", rel: "noopener", id: `sign-pdf-${s.id}` }, t("sign.open")),
    h("span.hash", { title: s.pdf_sha256 }, ` SHA-256 ${s.sha256.slice(0, 12)}…`))) : [h("li.muted", t("sign.none"))]);
}

async function load(sid) {
  sig.sid = sid;
  sig.list = [];
  sig.pending = null;
  try {
    const r = await get(`/api/sessions/${encodeURIComponent(sid)}/signatures`);
    if (sig.sid !== sid) return;
    sig.list = r.signatures;
    sig.pending = r.pending.at(-1) || null;
  } catch (err) {
    report(err);
  }
  renderSigning();
}

export function openSign() {
  if (!S.sess || !HELD.has(S.sess.state)) return;
  $("#sign-error").textContent = "";
  $("#dlg-sign").showModal();
  $("#form-sign").querySelector("input[name=doc]:checked").focus();
}

async function submitSign(ev) {
  ev.preventDefault();
  const doc = $("#form-sign").elements.doc.value;
  try {
    const r = await sock.call("sign_request", { sid: S.sess.sid, doc });
    $("#dlg-sign").close();
    if (sig.sid !== S.sess.sid) await load(S.sess.sid);
    sig.pending = { request_id: r.request_id, doc: r.doc, sha256: r.sha256 };
    toast(t("sign.sent", { doc: docName(doc) }), "ok");
    renderSigning();
  } catch (err) {
    $("#sign-error").textContent = errText(err);
  }
}

export function bindSigning() {
  $("#btn-sign").addEventListener("click", openSign);
  $("#form-sign").addEventListener("submit", (ev) => submitSign(ev).catch(report));
  sock.on("session_state", (d) => {
    if (HELD.has(d.state) && d.sid !== sig.sid) load(d.sid);
    else renderSigning();
  });
  sock.on("signature_added", (d) => {
    if (d.sid !== sig.sid) return;
    if (!sig.list.some((s) => s.id === d.signature.id)) sig.list.push(d.signature);
    if (sig.pending?.request_id === d.signature.request_id) sig.pending = null;
    toast(t("sign.added", { doc: docName(d.signature.doc) }), "ok");
    renderSigning();
  });
  sock.on("sign_declined", (d) => {
    if (d.sid !== sig.sid) return;
    if (sig.pending?.request_id === d.request_id) sig.pending = null;
    toast(t("sign.declined", { doc: docName(d.doc) }), "warn");
    renderSigning();
  });
}

// for tests: what the panel holds
export const signing = sig;
