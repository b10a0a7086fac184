// How the session ends (issue 18): the 需补正 list — each missing material with how it is supplied
// (post, upload, visit; the matter's allowed ways from the context, its default first) — and the
// 结果寄递 address typed with the citizen (kept in full only on the server's private record; the
// booth, the receipt and the history show it masked). Keyboard: Tab through, Enter saves the address.

import { $, $$, h, show } from "../shared/dom.js";
import { t, nameOf } from "./i18n.js";
import { errText } from "./feedback.js";
import { S, sock, materials } from "./state.js";

const HOWS = ["post", "upload", "visit"];

function matterMaterials() {
  return (materials.matter && materials.matter.materials) || [];
}

/** The complete dialog's missing list: every material of the matter, the required ones not accepted yet ticked. */
export function fillMissing() {
  const missing = new Set(materials.missingRequired().map((m) => m.kind));
  $("#done-missing").replaceChildren(...matterMaterials().map((m) => {
    const hows = m.hows && m.hows.length ? m.hows : HOWS;
    const select = h("select", { name: "how", dataset: { kind: m.kind }, "aria-label": `${t("done.how")}: ${nameOf(m)}` },
      hows.map((x) => h("option", { value: x }, t(`how.${x}`))));
    return h("div.missing-row", { dataset: { kind: m.kind } },
      h("label", h("input", { type: "checkbox", name: "missing", value: m.kind, checked: missing.has(m.kind) }), " ", nameOf(m)),
      " ", select);
  }));
  fillDelivery();
}

/** The ticked materials as the complete event's ``missing``: [{kind, how}]. */
export function missingPayload(form) {
  return $$("input[name=missing]:checked", form).map((i) => ({
    kind: i.value, how: $(`select[name=how][data-kind="${i.value}"]`, form).value }));
}

export function showOutcomeBoxes(outcome) {
  show($("#done-delivery-box"), outcome === "postal_delivery");
}

function savedDelivery() {
  if (!S.sess) return null;
  if (S.sess.delivery) return S.sess.delivery;
  const raw = S.sess.detail && S.sess.detail.session && S.sess.detail.session.delivery;
  try {
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function fillDelivery() {
  const saved = savedDelivery();
  $("#delivery-saved").textContent = saved ? t("delivery.saved", { address: saved.address }) : "";
}

function typed() {
  return { recipient: $("#delivery-recipient").value.trim(), phone: $("#delivery-phone").value.trim(),
           address: $("#delivery-address").value.trim() };
}

/** Save what is typed (delivery_address); true when saved. Errors go to the dialog's line. */
export async function saveDelivery() {
  if (!S.sess) return false;
  try {
    const r = await sock.call("delivery_address", { sid: S.sess.sid, ...typed() });
    S.sess.delivery = r.delivery;
    fillDelivery();
    $("#done-error").textContent = "";
    return true;
  } catch (err) {
    $("#done-error").textContent = errText(err);
    return false;
  }
}

/** Before completing with 结果寄递: an address typed but not saved is saved first. */
export async function deliveryReady() {
  const x = typed();
  if (x.recipient || x.phone || x.address) return saveDelivery();
  return true; // nothing typed: the server answers address_required if none was saved before
}

export function clearDelivery() {
  for (const id of ["#delivery-recipient", "#delivery-phone", "#delivery-address"]) $(id).value = "";
}

export function bindOutcomes() {
  $("#delivery-save").addEventListener("click", () => { saveDelivery(); });
  for (const id of ["#delivery-recipient", "#delivery-phone", "#delivery-address"]) {
    $(id).addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      ev.preventDefault(); // not the dialog's submit: save the address, stay in the dialog
      saveDelivery();
    });
  }
}
