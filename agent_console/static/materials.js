// Materials of the session in service: capture, the stills with their automatic check, the
// viewer (zoom, rotate, compare), the specialist's verdicts, the checklist of the matter.
//
// A material as the documents API gives it: {id, kind, camera, width, height,
// verdict: automatic "accepted"|"rejected", reasons: [codes], class: recognised class | null while
// recognising, recognition: {class, confidence, id_number_masked?, …} | null, masked: a masked
// rendition exists, at, by, corrected_sha256, review: {verdict, reason, by, at, override?,
// override_reason?} | null}. Images: /api/sessions/{sid}/materials/{id}/{variant}.
//
// A new still takes the viewer as it arrives (the specialist pressed C for it). That cannot make V
// accept it unseen: it arrives while its class is being recognised, and V on such a still only
// says 正在识别; what V/R act on is always the still the viewer shows at the key press, with the
// automatic verdict it shows (verdicts.js).

import { get, api } from "../shared/api.js";
import { $, h, fill } from "../shared/dom.js";
import { t, has, nameOf } from "./i18n.js";
import { Verdicts } from "./verdicts.js";
import { IdFields } from "./idfields.js";
import { renderViewer } from "./viewer.js";
import { autoBadge, classLine, maskedNumber, recognising, shownAuto, wrongKind } from "./recognition.js";

const ZOOMS = [1, 1.5, 2, 3, 4]; // 1 = the whole page fits the pane
// Classes an accepted ID photo side may have been recognised as (the identity check's photo).
const ID_PHOTO_CLASSES = new Set(["id_card_front", "unknown"]);

export class Materials {
  constructor({ sock, state, toast, onChange }) {
    Object.assign(this, { sock, S: state, toast, onChange });
    this.verdicts = new Verdicts(this);
    this.idFields = new IdFields((id) => {
      if (id === this.selected || id === this.compare) renderViewer(this);
    });
    this.reset(null);
    this.cameras = [];
  }

  reset(sid) {
    for (const u of (this.blobs || new Map()).values()) u.then(({ url }) => URL.revokeObjectURL(url)).catch(() => {});
    this.blobs = new Map(); // "id/variant" -> Promise of an object URL: each image is fetched once
    this.sid = sid;
    this.list = new Map(); // id -> material
    this.pending = new Map(); // request_id -> {kind, at}
    this.selected = null;
    this.compare = null; // id shown beside the selected one
    this.comparing = false;
    this.view = { zoom: 1, rotate: 0, variant: "corrected", masked: false };
    this.fresh = null; // a still that just took the viewer (flashes once)
    this.idFields.reset(sid);
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

  /** The ID photo to compare with the live face: only an ID photo side the specialist accepted and
   * the check did not recognise as something else (the newest such); never a fallback. */
  idPhoto() {
    let best = null;
    for (const m of this.list.values()) {
      if (m.kind !== "id_card_front" || !m.review || m.review.verdict !== "accepted") continue;
      if (m.class !== undefined && !ID_PHOTO_CLASSES.has(m.class)) continue;
      if (!best || m.at >= best.at) best = m;
    }
    return best;
  }

  /** The still the viewer shows: what V and R act on. */
  shown() {
    return (this.selected && this.list.get(this.selected)) || null;
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
      // X-RW-Masked: 1 — the server sent the masked rendition (this console does not hold the session)
      this.blobs.set(url, fetch(url, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.blob().then((b) => ({ b, masked: r.headers.get("X-RW-Masked") === "1" }))
          : Promise.reject(new Error(String(r.status)))))
        .then(({ b, masked }) => ({ url: URL.createObjectURL(b), masked })));
    }
    const el = h("img", { alt: "", ...attrs, dataset: { src: url } });
    this.blobs.get(url).then(({ url: u, masked }) => {
      if (masked) el.dataset.masked = "1";
      el.src = u;
    }).catch(() => el.classList.add("broken"));
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
    for (const m of r.materials || []) this.merge(m);
    if (!this.selected) this.selected = this.newest()?.id || null;
    this.kind = this.kind || this.nextKind();
    this.changed();
  }

  newest() {
    let best = null;
    for (const m of this.list.values()) if (!best || m.at >= best.at) best = m;
    return best;
  }

  /** Read the stills again (after the server said one changed) and redraw. */
  async refresh() {
    await this.load();
  }

  /** Take the server's record of a still. An older record (pushes of two nodes may cross) does not
   * undo what this console already shows: a recognition, a verdict. */
  merge(rec) {
    const old = this.list.get(rec.id);
    if (old && old.class && rec.class === null) {
      rec = { ...rec, class: old.class, recognition: old.recognition, verdict: old.verdict, reasons: old.reasons, masked: old.masked };
    }
    const m = { review: null, ...(old || {}), ...rec };
    if (old && old.review && !rec.review) m.review = old.review;
    this.list.set(m.id, m);
    return m;
  }

  onAdded(d) {
    if (!d || d.sid !== this.sid || !d.material) return;
    const known = this.list.has(d.material.id);
    const m = this.merge(d.material);
    if (m.request) this.pending.delete(m.request);
    if (!known) {
      if (this.comparing && this.selected) this.compare = m.id;
      else {
        this.selected = m.id;
        this.fresh = m.id;
      }
    }
    this.S.marks.lastMaterial = performance.timeOrigin + performance.now();
    this.changed();
  }

  /** material_recognised: the still's class and what was read; the viewer stays where it is. */
  onRecognised(d) {
    if (!d || d.sid !== this.sid || !d.material || !d.material.id) return;
    this.merge(d.material);
    this.verdicts.changedUnder(d.material.id);
    this.changed();
  }

  onVerdict(d) {
    if (!d || d.sid !== this.sid) return;
    const m = this.list.get(d.material_id);
    if (!m) return;
    m.review = { verdict: d.verdict, reason: d.reason || "", by: d.by, at: d.at,
      ...(d.override ? { override: true, override_reason: d.override_reason || "" } : {}) };
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

  /** V: accept the still in the viewer (verdicts.js: pending, override, stale). */
  accept() {
    return this.verdicts.accept();
  }

  /** R: reject the still in the viewer, with a reason. */
  openReject() {
    this.verdicts.openReject();
  }

  /** H: show the masked rendition (ID number and photo blacked out) instead of the still. */
  toggleMasked() {
    if (!this.sid) return;
    this.view.masked = !this.view.masked;
    const m = this.shown();
    if (this.view.masked && m && !m.masked) this.toast(t("mat.no_masked"), "warn");
    renderViewer(this);
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
      // data-class: the recognised class, absent while recognising; data-auto: the verdict shown
      const data = { id: m.id, kind: m.kind, auto: shownAuto(m) };
      if (m.class) data.class = m.class;
      const number = maskedNumber(m); // never the full number outside the id-fields panel
      return h("button.thumb", {
        type: "button",
        class: [m.id === this.selected ? "sel" : "", m.id === this.compare && this.comparing ? "cmp" : "", review ? `rv-${review}` : "",
          recognising(m) ? "recog" : "", wrongKind(m) ? "wrong" : ""].join(" "),
        dataset: data,
        on: { click: () => this.pick(m.id) },
      },
      // a still with personal numbers on it is shown small only with them blacked out
      this.img(m, m.masked ? "masked" : "thumb"),
      h("span.k", this.kindName(m.kind)),
      m.class !== undefined ? h("span.cls", classLine(m)) : null,
      number ? h("span.idno", number) : null,
      h("span.badges",
        autoBadge(m),
        review ? h(`span.rv.${review === "accepted" ? "ok" : "bad"}`, t(`mat.${review}`)) : h("span.rv.todo", t("mat.unverified"))));
    });
    fill(gallery, pend, thumbs);
    if (!items.length && !pend.length) fill(gallery, h("p.empty", this.unavailable ? t("cap.unavailable") : t("cap.none")));
    renderViewer(this);
  }

  pick(id) {
    if (this.comparing && this.selected && id !== this.selected) this.compare = id;
    else this.selected = id;
    this.changed();
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
    renderViewer(this);
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
      // ✓ only for a still the specialist accepted; a still the check rejected (another document,
      // an unreadable number…) is ✗ until the specialist decides; ● waits for a verdict.
      let st = "none";
      if (acc) st = "ok";
      else if (last && last.review && last.review.verdict === "rejected") st = "bad";
      else if (last && !recognising(last) && last.verdict === "rejected") st = "bad";
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
    if (!m) return fill(el, h("p.empty#id-no-photo", t("id.no_photo")));
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
    $("#form-reject").addEventListener("submit", (ev) => this.verdicts.submitReject(ev));
  }
}
