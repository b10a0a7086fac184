// Materials of the session in service: capture, the stills with their automatic check, the
// viewer (zoom, rotate, compare), the specialist's verdicts, the checklist of the matter.
//
// A material as the documents API gives it: {id, kind, camera, width, height,
// verdict: automatic "accepted"|"rejected", reasons: [codes], at, by, corrected_sha256,
// review: {verdict, reason, by, at} | null}. Images: /api/sessions/{sid}/materials/{id}/{variant}.

import { get, api } from "../shared/api.js";
import { $, h, fill, show, hms } from "../shared/dom.js";
import { t, has, nameOf } from "./i18n.js";
import { PROTOCOL } from "../protocol/protocol.js";

const VERDICT_REASONS = PROTOCOL.materials.verdictReasons; // domain/materials.py, in its order
const ZOOMS = [1, 1.5, 2, 3, 4]; // 1 = the whole page fits the pane

export class Materials {
  constructor({ sock, state, toast, onChange }) {
    Object.assign(this, { sock, S: state, toast, onChange });
    this.reset(null);
    this.cameras = [];
  }

  reset(sid) {
    for (const u of (this.blobs || new Map()).values()) u.then((url) => URL.revokeObjectURL(url)).catch(() => {});
    this.blobs = new Map(); // "id/variant" -> Promise of an object URL: each image is fetched once
    this.sid = sid;
    this.list = new Map(); // id -> material
    this.pending = new Map(); // request_id -> {kind, at}
    this.selected = null;
    this.compare = null; // id shown beside the selected one
    this.comparing = false;
    this.view = { zoom: 1, rotate: 0, variant: "corrected" };
    this.kind = null;
    this.matter = null;
    this.unavailable = false;
  }

  setMatter(matter) {
    if (matter === this.matter) return;
    this.matter = matter;
    if (!this.kind) this.kind = this.nextKind();
    this.renderToolbar();
  }

  setCameras(cams) {
    this.cameras = cams;
  }

  kinds() {
    const list = this.matter ? this.matter.materials.slice() : [];
    list.push({ kind: "other", name_zh: t("kind.other"), name_en: t("kind.other"), required: false });
    return list;
  }

  kindName(kind) {
    const m = this.matter && this.matter.materials.find((x) => x.kind === kind);
    if (m) return nameOf(m);
    return has(`kind.${kind}`) ? t(`kind.${kind}`) : kind;
  }

  /** The first required material not yet accepted (what to capture next). */
  nextKind() {
    const need = this.missingRequired();
    return (need[0] && need[0].kind) || (this.matter && this.matter.materials[0] && this.matter.materials[0].kind) || "other";
  }

  latest(kind) {
    let best = null;
    for (const m of this.list.values()) if (m.kind === kind && (!best || m.at >= best.at)) best = m;
    return best;
  }

  accepted(kind) {
    for (const m of this.list.values()) if (m.kind === kind && m.review && m.review.verdict === "accepted") return m;
    return null;
  }

  missingRequired() {
    if (!this.matter) return [];
    return this.matter.materials.filter((m) => m.required && !this.accepted(m.kind));
  }

  /** The ID photo to compare with the live face: the accepted front, else the latest one. */
  idPhoto() {
    return this.accepted("id_card_front") || this.latest("id_card_front");
  }

  url(m, variant) {
    const v = variant === "corrected" && !m.corrected_sha256 ? "original" : variant;
    return `/api/sessions/${encodeURIComponent(this.sid)}/materials/${m.id}/${v}`;
  }

  /** An <img> of a variant. Every served image is recorded as a view, so each
   * variant is fetched once per page and re-rendered from an object URL. */
  img(m, variant, attrs = {}) {
    const url = this.url(m, variant);
    if (!this.blobs.has(url)) {
      this.blobs.set(url, fetch(url, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
        .then((b) => URL.createObjectURL(b)));
    }
    const el = h("img", { alt: "", ...attrs, dataset: { src: url } });
    this.blobs.get(url).then((u) => { el.src = u; }).catch(() => el.classList.add("broken"));
    return el;
  }

  // --- data ------------------------------------------------------------------------------------

  async load() {
    if (!this.sid) return;
    const sid = this.sid;
    let r;
    try {
      r = await get(`/api/sessions/${encodeURIComponent(sid)}/materials`);
    } catch (err) {
      if (err.status === 404 && err.code === "not_found") this.unavailable = true; // no documents API
      throw err;
    }
    if (this.sid !== sid) return;
    for (const m of r.materials || []) this.list.set(m.id, m);
    if (!this.selected) this.selected = this.newest()?.id || null;
    this.kind = this.kind || this.nextKind();
    this.changed();
  }

  newest() {
    let best = null;
    for (const m of this.list.values()) if (!best || m.at >= best.at) best = m;
    return best;
  }

  onAdded(d) {
    if (!d || d.sid !== this.sid || !d.material) return;
    const m = { review: null, ...d.material };
    this.list.set(m.id, m);
    if (m.request) this.pending.delete(m.request);
    if (this.comparing && this.selected) this.compare = m.id;
    else this.selected = m.id;
    this.S.marks.lastMaterial = performance.timeOrigin + performance.now();
    this.changed();
  }

  onVerdict(d) {
    if (!d || d.sid !== this.sid) return;
    const m = this.list.get(d.material_id);
    if (!m) return;
    m.review = { verdict: d.verdict, reason: d.reason || "", by: d.by, at: d.at };
    this.changed();
  }

  onCaptureResult(d) {
    if (!d || d.sid !== this.sid) return;
    this.pending.delete(d.request_id);
    if (d.error) this.toast(t("cap.failed", { msg: d.error.message || d.error.code }), "bad");
    this.changed();
  }

  async capture(kind = this.kind) {
    if (!this.sid || !kind) return;
    try {
      const r = await this.sock.call("capture", { sid: this.sid, kind });
      this.pending.set(r.request_id, { kind, at: Date.now() });
      this.S.marks.captureSent = performance.timeOrigin + performance.now();
      this.changed();
    } catch (err) {
      this.toast(err.code === "unknown_event" ? t("cap.unavailable") : t("cap.failed", { msg: err.message || err.code }), "bad");
    }
  }

  async upload(file, kind = this.kind) {
    if (!this.sid || !file) return;
    const q = new URLSearchParams({ kind, camera: "upload" });
    try {
      const r = await api("POST", `/api/sessions/${encodeURIComponent(this.sid)}/materials?${q}`, file);
      if (r && r.material) this.onAdded({ sid: this.sid, material: r.material });
    } catch (err) {
      this.toast(t("cap.failed", { msg: err.message || err.code }), "bad");
    }
  }

  async verdict(verdict, reason = "") {
    const m = this.selected && this.list.get(this.selected);
    if (!m || !this.sid) return;
    try {
      const r = await this.sock.call("verdict", { sid: this.sid, material_id: m.id, verdict, reason });
      m.review = { verdict, reason, by: r.by || this.S.me, at: r.at || Date.now() };
      if (verdict === "rejected") {
        this.kind = m.kind; // re-capture the same kind
        this.toast(t("cap.recapture"), "warn");
      } else {
        this.kind = this.nextKind();
      }
      this.changed();
    } catch (err) {
      this.toast(t("err.generic", { msg: err.message || err.code }), "bad");
    }
  }

  openReject() {
    const m = this.selected && this.list.get(this.selected);
    if (!m) return;
    const auto = (m.reasons || []).map((r) => ({ blur: "blurred", too_small: "illegible", too_dark: "illegible", no_document: "wrong_document" }[r] || r));
    const pick = VERDICT_REASONS.find((r) => auto.includes(r)) || "illegible";
    fill($("#reject-reasons"), VERDICT_REASONS.map((r) => h("label",
      h("input", { type: "radio", name: "vreason", value: r, checked: r === pick }), " ", t(`vreason.${r}`))));
    $("#reject-text").value = "";
    $("#reject-error").textContent = "";
    $("#dlg-reject").showModal();
  }

  changed() {
    this.renderToolbar();
    this.renderStills();
    this.onChange();
  }

  // --- rendering -------------------------------------------------------------------------------

  renderToolbar() {
    const sel = $("#cap-kind");
    const kinds = this.kinds();
    const want = this.kind || this.nextKind();
    if (sel.dataset.sig !== `${this.sid}|${kinds.length}|${t("kind.other")}`) {
      fill(sel, kinds.map((m) => h("option", { value: m.kind }, `${m.required ? "★ " : ""}${nameOf(m)}`)));
      sel.dataset.sig = `${this.sid}|${kinds.length}|${t("kind.other")}`;
    }
    sel.value = want;
    const busy = this.pending.size > 0;
    $("#btn-capture").classList.toggle("busy", busy);
  }

  renderStills() {
    const gallery = $("#gallery");
    const items = [...this.list.values()].sort((a, b) => b.at - a.at);
    const pend = [...this.pending.entries()].map(([rid, p]) =>
      h("div.thumb.pending", { dataset: { request: rid } }, h("div.spinner"), h("span.k", this.kindName(p.kind)), h("span.s", t("cap.pending"))));
    const thumbs = items.map((m) => {
      const review = m.review ? m.review.verdict : "";
      return h("button.thumb", {
        type: "button",
        class: [m.id === this.selected ? "sel" : "", m.id === this.compare && this.comparing ? "cmp" : "", review ? `rv-${review}` : ""].join(" "),
        dataset: { id: m.id, kind: m.kind },
        on: { click: () => this.pick(m.id) },
      },
      this.img(m, "thumb"),
      h("span.k", this.kindName(m.kind)),
      h("span.badges",
        h(`span.auto.${m.verdict === "accepted" ? "ok" : "bad"}`, m.verdict === "accepted" ? t("mat.auto_ok") : t("mat.auto_bad")),
        review ? h(`span.rv.${review === "accepted" ? "ok" : "bad"}`, t(`mat.${review}`)) : h("span.rv.todo", t("mat.unverified"))));
    });
    fill(gallery, pend, thumbs);
    if (!items.length && !pend.length) fill(gallery, h("p.empty", this.unavailable ? t("cap.unavailable") : t("cap.none")));
    this.renderViewer();
  }

  pick(id) {
    if (this.comparing && this.selected && id !== this.selected) this.compare = id;
    else this.selected = id;
    this.changed();
  }

  renderViewer() {
    const viewer = $("#viewer");
    const m = this.selected && this.list.get(this.selected);
    if (!m) return fill(viewer);
    const v = this.view;
    const tools = h("div.vtools",
      h("button", { type: "button", title: t("mat.zoom_out"), on: { click: () => this.zoom(-1) } }, "−"),
      h("span.zoom", v.zoom === 1 ? t("mat.fit") : `${Math.round(v.zoom * 100)}%`),
      h("button", { type: "button", title: t("mat.zoom_in"), on: { click: () => this.zoom(1) } }, "+"),
      h("button", { type: "button", on: { click: () => this.setView({ zoom: 1, rotate: 0 }) } }, t("mat.fit")),
      h("button", { type: "button", on: { click: () => this.setView({ rotate: (v.rotate + 90) % 360 }) } }, `⟳ ${t("mat.rotate")}`),
      h("button", { type: "button", class: v.variant === "corrected" ? "on" : "", on: { click: () => this.setView({ variant: "corrected" }) } }, t("mat.corrected")),
      h("button", { type: "button", class: v.variant === "original" ? "on" : "", on: { click: () => this.setView({ variant: "original" }) } }, t("mat.original")),
      h("button", { type: "button", class: this.comparing ? "on" : "", on: { click: () => this.toggleCompare() } }, this.comparing ? t("mat.compare_off") : t("mat.compare")),
      h("span.spacer"),
      this.latest("id_card_front") && this.latest("id_card_back")
        ? h("button", { type: "button", on: { click: () => this.mergeId() } }, t("mat.id_merge")) : null,
      h("a.button", { href: `/api/sessions/${encodeURIComponent(this.sid)}/materials.pdf`, target: "_blank", rel: "noopener" }, t("mat.pdf")));
    const panes = [this.pane(m)];
    if (this.comparing) {
      const c = this.compare && this.list.get(this.compare);
      panes.push(c ? this.pane(c) : h("div.pane.hint", t("mat.pick_compare")));
    }
    fill(viewer, tools, h(`div.panes${this.comparing ? ".two" : ""}`, panes), this.verdictBox(m));
  }

  pane(m) {
    const v = this.view;
    const img = this.img(m, v.variant, { alt: this.kindName(m.kind), draggable: false });
    if (v.zoom > 1) img.style.width = `${v.zoom * 100}%`;
    else img.classList.add("fit");
    img.style.transform = `rotate(${v.rotate}deg)`;
    const pane = h("div.pane", h("div.scroll", img), h("span.cap", `${this.kindName(m.kind)} · ${m.width}×${m.height} · ${hms(m.at)}`));
    pane.addEventListener("wheel", (ev) => {
      if (!ev.ctrlKey) return;
      ev.preventDefault();
      this.zoom(ev.deltaY < 0 ? 1 : -1);
    }, { passive: false });
    return pane;
  }

  verdictBox(m) {
    const reasons = m.reasons || [];
    const review = m.review;
    return h("div.verdict",
      h("div.auto",
        h("b", `${t("mat.auto")}: `),
        h(`span.badge.${m.verdict === "accepted" ? "ok" : "bad"}`, m.verdict === "accepted" ? t("mat.auto_ok") : t("mat.auto_bad")),
        h("span.reasons", reasons.length ? reasons.map((r) => (has(`auto.${r}`) ? t(`auto.${r}`) : r)).join("、") : t("mat.reasons_none"))),
      h("div.review",
        review
          ? h(`span.badge.${review.verdict === "accepted" ? "ok" : "bad"}`, t(`mat.${review.verdict}`),
            review.reason ? ` · ${has(`vreason.${review.reason}`) ? t(`vreason.${review.reason}`) : review.reason}` : "",
            ` · ${t("mat.by", { by: review.by, time: hms(review.at) })}`)
          : h("span.badge.todo", t("mat.unverified")),
        h("span.spacer"),
        h("button.ok", { type: "button", id: "btn-mat-accept", on: { click: () => this.verdict("accepted") } }, h("kbd", "V"), " ", t("mat.accept")),
        h("button.bad", { type: "button", id: "btn-mat-reject", on: { click: () => this.openReject() } }, h("kbd", "R"), " ", t("mat.reject"))));
  }

  async mergeId() {
    const front = this.accepted("id_card_front") || this.latest("id_card_front");
    const back = this.accepted("id_card_back") || this.latest("id_card_back");
    if (!front || !back) return;
    try {
      const r = await api("POST", `/api/sessions/${encodeURIComponent(this.sid)}/materials/id-merge`, { front: front.id, back: back.id });
      if (r && r.material) this.onAdded({ sid: this.sid, material: r.material });
    } catch (err) {
      this.toast(t("err.generic", { msg: err.message || err.code }), "bad");
    }
  }

  zoom(dir) {
    const i = ZOOMS.indexOf(this.view.zoom);
    const next = ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, (i < 0 ? 0 : i) + dir))];
    this.setView({ zoom: next });
  }

  setView(change) {
    Object.assign(this.view, change);
    this.renderViewer();
  }

  toggleCompare() {
    this.comparing = !this.comparing;
    if (!this.comparing) this.compare = null;
    this.renderStills();
  }

  renderChecklist() {
    const list = $("#checklist");
    if (!this.matter) return fill(list);
    const mats = this.matter.materials;
    const required = mats.filter((m) => m.required);
    const done = required.filter((m) => this.accepted(m.kind)).length;
    $("#check-progress").textContent = t("check.progress", { done, total: required.length });
    fill(list, mats.map((m) => {
      const acc = this.accepted(m.kind);
      const last = this.latest(m.kind);
      let st = "none";
      if (acc) st = "ok";
      else if (last && last.review && last.review.verdict === "rejected") st = "bad";
      else if (last) st = "todo";
      const icon = { ok: "✓", bad: "✗", todo: "●", none: "○" }[st];
      return h("li", {
        class: `st-${st}${m.kind === this.kind ? " cur" : ""}`, dataset: { kind: m.kind },
        title: nameOf(m), on: { click: () => { this.kind = m.kind; this.renderToolbar(); this.renderChecklist(); if (last) this.pick(last.id); } },
      }, h("span.icon", icon), h("span.name", nameOf(m)), h("span.req", m.required ? t("check.required") : t("check.optional")));
    }));
  }

  renderIdPhoto(el) {
    const m = this.idPhoto();
    if (!m) return fill(el, h("p.empty", t("id.no_photo")));
    const url = this.url(m, "corrected");
    const img = el.querySelector("img");
    if (img && img.dataset.src === url) return;
    fill(el, this.img(m, "corrected", { alt: this.kindName(m.kind) }));
  }

  bind() {
    $("#cap-kind").addEventListener("change", (ev) => {
      this.kind = ev.target.value;
      this.renderChecklist();
    });
    $("#btn-capture").addEventListener("click", () => this.capture());
    $("#cap-file").addEventListener("change", (ev) => {
      const f = ev.target.files[0];
      ev.target.value = "";
      if (f) this.upload(f);
    });
    $("#form-reject").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      // A reason code gives the citizen plain words (domain/materials.py ADVICE); free text is
      // for "other" only, and is shown as written.
      let reason = f.elements.vreason.value || "other";
      const text = $("#reject-text").value.trim();
      if (reason === "other" && text) reason = text.slice(0, 200);
      $("#dlg-reject").close();
      await this.verdict("rejected", reason);
    });
  }
}
