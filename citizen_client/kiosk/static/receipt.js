// The receipt (issue 18): what came of the session in plain words, what is still missing and how
// to supply each, where the result is posted (masked), and a QR code of the public status page
// (/r/<status_code>). 打印回执 prints it on the booth's 80 mm receipt printer (receipt.css).

import qrcode from "/kiosk/vendor/qrcode.mjs";
import { $, h } from "../shared/dom.js";
import { STATE } from "../protocol/protocol.js";
import { getLang, nameOf, t } from "./i18n.js";
import { S } from "./state.js";

const HOW_KEYS = { post: "receipt_how_post", upload: "receipt_how_upload", visit: "receipt_how_visit" };

const matterOf = (code) => S.catalogue?.matters.find((m) => m.code === code) || null;

/** The public status page of the session: what the QR code opens. */
export function statusUrl(code) {
  return code ? `${location.origin}/r/${encodeURIComponent(code)}` : "";
}

/** How to supply a missing material, in plain words (posting names the department). */
export function howWords(how, matter) {
  if (how === "post") return matter?.department ? t("receipt_how_post", { department: matter.department }) : t("receipt_how_post_plain");
  return HOW_KEYS[how] ? t(HOW_KEYS[how]) : "";
}

export function renderReceipt() {
  const s = S.session || {};
  const matter = matterOf(s.matter);
  const ended = [STATE.COMPLETED, STATE.RATED].includes(s.state) || Boolean(s.outcome);
  $("#receipt-sid").textContent = s.sid || "";
  $("#receipt-matter").textContent = nameOf(matter, s.matter || "");
  $("#receipt-department").textContent = matter?.department || "—";
  // an empty outcome: the citizen hung up (or the call was ended without one)
  $("#receipt-outcome").textContent = s.outcome ? t(`outcome_${s.outcome}`) : ended ? t("receipt_ended") : "";
  $("#receipt-case").textContent = s.case_number || t("receipt_case_none");
  $("#receipt-rating").textContent = S.rating ? t(`rating_${S.rating}`) : "—";
  $("#receipt-time").textContent = new Date().toLocaleString(getLang() === "en" ? "en-GB" : "zh-CN", { hour12: false });

  const missing = s.outcome === "needs_supplement" ? s.missing || [] : [];
  $("#receipt-missing-box").hidden = missing.length === 0;
  $("#receipt-missing").replaceChildren(...missing.map((m) => {
    const item = matter?.materials.find((x) => x.kind === m.kind);
    return h("li", { dataset: { kind: m.kind, how: m.how } },
      h("span", { class: "material" }, item ? nameOf(item) : m.kind), h("span", { class: "how" }, howWords(m.how, matter)));
  }));

  const delivery = s.outcome === "postal_delivery" ? s.delivery : null;
  const where = $("#receipt-delivery");
  where.hidden = !delivery?.address;
  where.replaceChildren(...(delivery?.address ? [
    h("span", {}, t("receipt_delivery", { address: delivery.address })),
    delivery.recipient ? h("span", { class: "to" }, t("receipt_delivery_to", { recipient: delivery.recipient })) : null,
  ] : []));

  const next = $("#receipt-next");
  const words = !s.outcome && ended ? t("receipt_ended_body")
    : s.outcome === "intake" && matter ? t("receipt_next_intake", { n: matter.promised_days }) : "";
  next.textContent = words;
  next.hidden = !words;

  drawQr($("#receipt-qr"), statusUrl(s.status_code));
  if (s.sid && s.status_code === undefined && ended) refresh(s.sid);
}

/** The session's view (missing, delivery, status_code) when the receipt came before it. */
async function refresh(sid) {
  const { request } = await import("./connection.js"); // not at load: connection.js imports the views
  const view = (await request("resume", {})).ok?.session;
  if (view && view.sid === sid && S.session?.sid === sid) {
    Object.assign(S.session, view);
    if (S.screen === "receipt") renderReceipt();
  }
}

export function drawQr(canvas, text) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.qr = text || "";
  if (!text) return;
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  const cell = Math.floor(canvas.width / (n + 2 * quiet));
  const offset = Math.floor((canvas.width - cell * n) / 2);
  ctx.fillStyle = "#000";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) ctx.fillRect(offset + c * cell, offset + r * cell, cell, cell);
}

/** 打印回执: the browser's print, laid out for the 80 mm receipt printer by receipt.css. */
export async function printReceipt() {
  renderReceipt();
  const { armIdle, showToast } = await import("./screens.js"); // not at load: screens.js imports the views
  showToast(t("receipt_printing"));
  window.print();
  armIdle(); // printing is a touch: the receipt stays its full time again
}

document.getElementById("receipt-print")?.addEventListener("click", () => { printReceipt(); });

/** Start over: nothing of this citizen's receipt stays (the list, the masked address, the QR code). */
export function clearReceipt() {
  for (const id of ["#receipt-department", "#receipt-delivery", "#receipt-next"]) $(id).textContent = "";
  $("#receipt-missing").replaceChildren();
  for (const id of ["#receipt-missing-box", "#receipt-delivery", "#receipt-next"]) $(id).hidden = true;
  drawQr($("#receipt-qr"), "");
}
