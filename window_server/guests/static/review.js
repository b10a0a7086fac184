// What a reviewer (审批部门) sees of the session: the stills (read only, GET
// /api/sessions/{sid}/materials and their image URLs) and the matter's checklist with the
// specialist's verdicts, and beside each still the department's view (符合 / 不符合 / 待定 + a
// note), sent with `mark`. The stills are read again every few seconds while joined (this page
// gets no material pushes) and on 刷新材料.

import { get } from "../shared/api.js";
import { $, h, fill } from "../shared/dom.js";
import { t, i18n } from "./i18n.js";
import { PROTOCOL } from "../protocol/protocol.js";

const VIEWS = PROTOCOL.markViews; // ok, not_ok, unsure: 符合 / 不符合 / 待定
const REFRESH_MS = 5000;

let catalogue = null; // /api/catalogue, once

async function matterOf(code) {
  if (!catalogue) catalogue = await get("/api/catalogue");
  return (catalogue.matters || []).find((m) => m.code === code) || null;
}

export class Review {
  constructor({ sock, toast }) {
    Object.assign(this, { sock, toast });
    this.reset();
  }

  reset() {
    clearInterval(this.timer);
    this.timer = null;
    this.sid = null;
    this.matter = null;
    this.list = new Map(); // material id -> material
    this.marks = new Map(); // material id -> MARK (the department's view)
    this.selected = null;
    this.sig = "";
  }

  async start(sid, matterCode) {
    this.reset();
    this.sid = sid;
    this.matter = await matterOf(matterCode).catch(() => null);
    this.timer = setInterval(() => this.load().catch(() => {}), REFRESH_MS);
    await this.load().catch((err) => this.toast(t("err", { msg: err.message }), "bad"));
  }

  stop() {
    this.reset();
    fill($("#stills"));
    fill($("#checklist"));
    fill($("#still-view"));
  }

  async load() {
    const sid = this.sid;
    if (!sid) return;
    const r = await get(`/api/sessions/${encodeURIComponent(sid)}/materials`);
    if (this.sid !== sid) return;
    for (const m of r.materials || []) {
      this.list.set(m.id, m);
      const mark = m.dept || m.dept_mark || null; // the server's record of the department's view
      if (mark && !this.marks.has(m.id)) this.marks.set(m.id, mark);
    }
    if (!this.selected && this.list.size) this.selected = this.newest().id;
    this.render();
  }

  newest() {
    let best = null;
    for (const m of this.list.values()) if (!best || m.at >= best.at) best = m;
    return best;
  }

  url(m, variant) {
    const v = variant === "corrected" && !m.corrected_sha256 ? "original" : variant;
    return `/api/sessions/${encodeURIComponent(this.sid)}/materials/${encodeURIComponent(m.id)}/${v}`;
  }

  kindName(kind) {
    const m = this.matter && (this.matter.materials || []).find((x) => x.kind === kind);
    return m ? i18n.nameOf(m, kind) : kind;
  }

  async mark(id, view, note) {
    const r = await this.sock.call("mark", { sid: this.sid, material_id: id, view, note });
    this.marks.set(id, r.mark || { view, note });
    this.toast(t("mark_saved"), "ok");
    this.render();
  }

  render() {
    if (!this.sid) return;
    const items = [...this.list.values()].sort((a, b) => b.at - a.at);
    fill($("#stills"), items.length ? items.map((m) => h("button.thumb", {
      type: "button", class: m.id === this.selected ? "sel" : "", dataset: { id: m.id, kind: m.kind },
      on: { click: () => { this.selected = m.id; this.render(); } },
    }, h("img", { alt: this.kindName(m.kind), src: this.url(m, m.masked ? "masked" : "thumb") }),
    h("span.k", this.kindName(m.kind)))) : h("p.empty", t("stills_none")));
    const sel = this.list.get(this.selected);
    const view = $("#still-view");
    const want = sel ? this.url(sel, "corrected") : "";
    if (!sel) fill(view);
    else if (view.dataset.src !== want) fill(view, h("img", { alt: this.kindName(sel.kind), src: want }));
    view.dataset.src = want;
    this.renderChecklist(items);
  }

  renderChecklist(items) {
    // Redraw only when something shown changed: a refresh must not replace a note being typed.
    const sig = [i18n.getLang(), ...items.map((m) => `${m.id}:${(m.review && m.review.verdict) || ""}:${(this.marks.get(m.id) || {}).at || (this.marks.get(m.id) || {}).view || ""}`)].join("|");
    if (sig === this.sig) return;
    this.sig = sig;
    const kinds = this.matter ? (this.matter.materials || []).map((m) => m.kind) : [];
    for (const m of items) if (!kinds.includes(m.kind)) kinds.push(m.kind);
    const list = $("#checklist");
    // keep notes being typed across the refresh
    const typing = new Map([...list.querySelectorAll("input.note")].map((el) => [el.dataset.id, el.value]));
    const focused = document.activeElement && document.activeElement.matches("input.note") ? document.activeElement.dataset.id : null;
    fill(list, kinds.map((kind) => {
      const def = this.matter && (this.matter.materials || []).find((x) => x.kind === kind);
      const stills = items.filter((m) => m.kind === kind);
      return h("li.kind", { dataset: { kind } },
        h("div.kind-head", h("b", this.kindName(kind)),
          def ? h("span.req", def.required ? t("required") : t("optional")) : null),
        stills.length ? h("ul.mats", stills.map((m) => this.row(m, typing.get(m.id)))) : h("p.muted", t("no_still")));
    }));
    if (focused) {
      const el = list.querySelector(`input.note[data-id="${CSS.escape(focused)}"]`);
      if (el) el.focus();
    }
  }

  /** The note typed beside a still, read from the page at the click (the row may have been redrawn). */
  noteOf(id, fallback) {
    const el = $(`#checklist input.note[data-id="${CSS.escape(id)}"]`) || fallback;
    return el.value.trim();
  }

  row(m, typed) {
    const review = m.review && m.review.verdict;
    const mark = this.marks.get(m.id);
    const note = h("input.note", { maxlength: 200, dataset: { id: m.id }, placeholder: t("note_placeholder"),
      value: typed !== undefined ? typed : (mark && mark.note) || "" });
    return h("li.mat", { dataset: { id: m.id, mark: mark ? mark.view : "" } },
      h("button.pick", { type: "button", on: { click: () => { this.selected = m.id; this.render(); } } },
        h("img", { alt: "", src: this.url(m, m.masked ? "masked" : "thumb") })),
      h("span.verdict", { class: review ? `v-${review}` : "v-none" }, t(`verdict.${review || "none"}`)),
      h("span.views", VIEWS.map((v) => h("button.view", {
        type: "button", dataset: { view: v }, class: mark && mark.view === v ? "on" : "",
        "aria-pressed": mark && mark.view === v ? "true" : "false",
        on: { click: () => this.mark(m.id, v, this.noteOf(m.id, note)).catch((err) => this.toast(t("err", { msg: err.message }), "bad")) },
      }, t(`view.${v}`)))),
      note,
      mark ? h("span.marked", { dataset: { view: mark.view } }, t("marked", { view: t(`view.${mark.view}`) })) : null);
  }
}
