// The specialist's verdict keys (V accept, R reject) on the still being looked at (issue 17).
//
// - A verdict names the still the viewer showed when the key was pressed, and carries the
//   automatic verdict the console showed for it (seen_verdict: accepted, rejected, or pending while
//   its class is being recognised). The server refuses it with stale_material when the still has
//   changed since (a recognition, a sides check): the console re-reads the stills and says so.
// - V on a still whose class is still being recognised does nothing but say 正在识别，请稍候.
// - Accepting a still the automatic check rejected opens a confirmation that asks why (a picklist
//   and free text); only its confirmation (Enter) sends the verdict, with override_reason. Esc or
//   the cancel button accept nothing.
// - R opens the reasons dialog for the still shown at the key press; its seen_verdict is what the
//   viewer shows when the reason is submitted (a rejection needs no override).

import { $, h, fill, hms } from "../shared/dom.js";
import { t, tIn } from "./i18n.js";
import { errText } from "./feedback.js";
import { PROTOCOL } from "../protocol/protocol.js";
import { shownAuto, reasonsText, classLine } from "./recognition.js";

const VERDICT_REASONS = PROTOCOL.materials.verdictReasons; // domain/materials.py, in its order
// Why a specialist accepts a still the automatic check rejected (the picklist, keys 1-3).
const OVERRIDE_REASONS = Object.freeze(["checked", "misread", "other"]);
const MAX_REASON = 200;

export class Verdicts {
  constructor(mats) {
    this.mats = mats;
    this.overrideFor = null; // {id, seen} while the confirmation is open
    this.rejectFor = null; // material id while the reasons dialog is open
  }

  // --- V -----------------------------------------------------------------------------------------

  /** V: accept the still in the viewer, as shown now. */
  accept() {
    const m = this.mats.shown();
    if (!m || !this.mats.sid) return;
    const seen = shownAuto(m);
    if (seen === "pending") {
      this.mats.toast(t("rec.wait"), "warn");
      return;
    }
    if (seen === "rejected") {
      this.openOverride(m, seen);
      return;
    }
    return this.send(m.id, "accepted", { seen });
  }

  openOverride(m, seen) {
    const dlg = this.overrideDialog();
    this.overrideFor = { id: m.id, seen };
    fill($("#ovr-what"),
      h("b", `${this.mats.kindName(m.kind)} · ${hms(m.at)}`), h("br"),
      `${classLine(m)} · ${t("mat.auto")}: ${t("mat.auto_bad")}（${reasonsText(m)}）`);
    for (const r of dlg.querySelectorAll("input[name=oreason]")) r.checked = false;
    $("#ovr-text").value = "";
    $("#ovr-error").textContent = "";
    dlg.dataset.material = m.id;
    dlg.showModal();
    dlg.querySelector("input[name=oreason]").focus();
  }

  /** The confirmation, built once (the page template has no room for it). */
  overrideDialog() {
    let dlg = $("#dlg-override");
    if (dlg) return dlg;
    const reasons = OVERRIDE_REASONS.map((r, i) => h("label", { dataset: { reason: r } },
      h("input", { type: "radio", name: "oreason", value: r }), " ", h("kbd", String(i + 1)), " ", h("span", { dataset: { i18n: `ovr.reason.${r}` } }, t(`ovr.reason.${r}`))));
    const form = h("form#form-override", { method: "dialog" },
      h("h3", { dataset: { i18n: "ovr.title" } }, t("ovr.title")),
      h("p#ovr-what.ovr-what"),
      h("p.muted", { dataset: { i18n: "ovr.ask" } }, t("ovr.ask")),
      h("div.reasons#ovr-reasons", reasons),
      h("input#ovr-text", { maxlength: String(MAX_REASON), autocomplete: "off", dataset: { i18nPlaceholder: "ovr.text" }, placeholder: t("ovr.text") }),
      h("p.form-error#ovr-error", { role: "alert" }),
      h("p.muted.ovr-keys", { dataset: { i18n: "ovr.keys" } }, t("ovr.keys")),
      h("menu",
        h("button.ghost#ovr-cancel", { type: "button", on: { click: () => dlg.close() } }, h("span", { dataset: { i18n: "common.cancel" } }, t("common.cancel"))),
        h("button.ok#ovr-submit", { type: "submit" }, h("span", { dataset: { i18n: "ovr.confirm" } }, t("ovr.confirm")))));
    dlg = h("dialog#dlg-override", { class: "override" }, form);
    document.body.append(dlg);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.confirmOverride();
    });
    dlg.addEventListener("keydown", (ev) => {
      const inText = ev.target === $("#ovr-text");
      const i = /^[1-9]$/.test(ev.key) ? Number(ev.key) - 1 : -1;
      if (!inText && i >= 0 && i < OVERRIDE_REASONS.length) {
        ev.preventDefault();
        const radio = dlg.querySelectorAll("input[name=oreason]")[i];
        radio.checked = true;
        (OVERRIDE_REASONS[i] === "other" ? $("#ovr-text") : radio).focus();
      } else if (ev.key === "Enter" && ev.target.tagName !== "BUTTON") {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    dlg.addEventListener("close", () => {
      this.overrideFor = null;
      delete dlg.dataset.material;
    });
    return dlg;
  }

  confirmOverride() {
    const bound = this.overrideFor;
    const dlg = $("#dlg-override");
    if (!bound) return dlg.close();
    const picked = dlg.querySelector("input[name=oreason]:checked");
    const text = $("#ovr-text").value.trim();
    if (!picked) {
      $("#ovr-error").textContent = t("ovr.need_reason");
      return;
    }
    if (picked.value === "other" && !text) {
      $("#ovr-error").textContent = t("ovr.need_text");
      $("#ovr-text").focus();
      return;
    }
    // The record keeps the reason in Chinese whatever the console's language (like the kiosk's).
    const label = picked.value === "other" ? "" : tIn("zh", `ovr.reason.${picked.value}`);
    const reason = [label, text].filter(Boolean).join("：").slice(0, MAX_REASON);
    dlg.close();
    return this.send(bound.id, "accepted", { seen: bound.seen, override: reason });
  }

  // --- R -----------------------------------------------------------------------------------------

  /** R: the reasons dialog for the still in the viewer now. */
  openReject() {
    const m = this.mats.shown();
    if (!m) return;
    this.rejectFor = m.id;
    const auto = (m.reasons || []).map((r) => ({ blur: "blurred", too_small: "illegible", too_dark: "illegible",
      no_document: "wrong_document", wrong_kind: "wrong_document", sides_mismatch: "wrong_document",
      id_number_invalid: "illegible" }[r] || r));
    const pick = VERDICT_REASONS.find((r) => auto.includes(r)) || "illegible";
    fill($("#reject-reasons"), VERDICT_REASONS.map((r) => h("label",
      h("input", { type: "radio", name: "vreason", value: r, checked: r === pick }), " ", t(`vreason.${r}`))));
    $("#reject-text").value = "";
    $("#reject-error").textContent = "";
    $("#dlg-reject").dataset.material = m.id;
    $("#dlg-reject").showModal();
  }

  async submitReject(ev) {
    ev.preventDefault();
    const f = ev.target;
    // A reason code gives the citizen plain words (domain/materials.py ADVICE); free text is
    // for "other" only, and is shown as written.
    let reason = f.elements.vreason.value || "other";
    const text = $("#reject-text").value.trim();
    if (reason === "other" && text) reason = text.slice(0, MAX_REASON);
    const id = this.rejectFor;
    $("#dlg-reject").close();
    const m = id && this.mats.list.get(id);
    if (!m) return;
    await this.send(id, "rejected", { seen: shownAuto(m), reason });
  }

  // --- both ----------------------------------------------------------------------------------------

  /** The still `id` changed under an open dialog (a recognition came): close it, say so. */
  changedUnder(id) {
    const m = this.mats.list.get(id);
    if (this.overrideFor && this.overrideFor.id === id && (!m || shownAuto(m) !== this.overrideFor.seen)) {
      $("#dlg-override").close();
      this.mats.toast(t("mat.stale"), "warn");
    }
  }

  async send(id, verdict, { seen, reason = "", override = "" }) {
    const mats = this.mats;
    const sid = mats.sid;
    const payload = { sid, material_id: id, verdict, reason, seen_verdict: seen };
    if (override) payload.override_reason = override;
    try {
      const r = await mats.sock.call("verdict", payload);
      const m = mats.list.get(id);
      if (mats.sid !== sid || !m) return;
      m.review = { verdict, reason, by: r.by || mats.S.me, at: r.at || Date.now(),
        ...(override ? { override: true, override_reason: r.override_reason || override } : {}) };
      if (verdict === "rejected") {
        mats.kind = m.kind; // re-capture the same kind
        mats.toast(t("cap.recapture"), "warn");
      } else {
        mats.kind = mats.nextKind();
      }
      mats.changed();
    } catch (err) {
      if (err.code === "stale_material" || err.code === "override_required") {
        // What the specialist judged is not what the server holds: show the still as it is now.
        mats.toast(t(err.code === "stale_material" ? "mat.stale" : "mat.override_required"), "warn");
        await mats.refresh().catch(() => {});
        return;
      }
      mats.toast(errText(err), "bad");
    }
  }
}
