// What the specialist does to the session in service: the identity check, notes, transfer,
// completion and no-show.

import { $, $$, h, fill, show } from "../shared/dom.js";
import { t, nameOf } from "./i18n.js";
import { STATE } from "../protocol/protocol.js";
import { errText, report } from "./feedback.js";
import { HELD, S, sock, materials } from "./state.js";
import { loadDetail, reloadDetail } from "./session.js";
import { renderAll, renderSide } from "./render.js";
import { clearDelivery, deliveryReady, fillMissing, missingPayload, showOutcomeBoxes } from "./outcomes.js";

export async function recordIdentity(result) {
  if (!S.sess) return;
  const method = $("#id-method").value;
  const payload = { sid: S.sess.sid, method, result };
  const idm = materials.idPhoto(); // an accepted ID photo side only (no fallback to the latest still)
  if (result === "passed" && method === "id_card_face" && !idm) return report({ code: "no_id_photo" });
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

export async function addNote(text) {
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

export function openTransfer() {
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

export async function submitTransfer(ev) {
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

export function identityPassed() {
  return S.sess && S.sess.identity && S.sess.identity.result === "passed";
}

export function openComplete() {
  if (!S.sess || S.sess.state !== STATE.IN_SERVICE) return;
  fillMissing(); // issue 18: each missing material with how it is supplied; the delivery address
  $("#done-error").textContent = "";
  $("#dlg-complete").showModal();
  updateCompleteForm();
}

export function updateCompleteForm() {
  const outcome = $("#form-complete").elements.outcome.value;
  const blocked = outcome === "intake" && !identityPassed();
  show($("#done-identity"), blocked);
  show($("#done-missing-box"), outcome === "needs_supplement");
  showOutcomeBoxes(outcome);
  $("#done-submit").disabled = blocked;
}

export async function submitComplete(ev) {
  ev.preventDefault();
  const f = $("#form-complete");
  const payload = { sid: S.sess.sid, outcome: f.elements.outcome.value };
  const cn = $("#done-case").value.trim();
  if (cn) payload.case_number = cn;
  if (payload.outcome === "needs_supplement") payload.missing = missingPayload(f);
  if (payload.outcome === "postal_delivery" && !(await deliveryReady())) return;
  try {
    await sock.call("complete", payload);
    $("#dlg-complete").close();
    $("#done-case").value = "";
    clearDelivery();
  } catch (err) {
    $("#done-error").textContent = errText(err);
  }
}

export async function noShow() {
  if (!S.sess || !confirm(t("act.no_show_confirm"))) return;
  try {
    await sock.call("no_show", { sid: S.sess.sid });
  } catch (err) {
    report(err);
  }
}
