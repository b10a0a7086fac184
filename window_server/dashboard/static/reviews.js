// The bad-review (差评) follow-up list: each step (回访 / 整改 / 反馈) is recorded with what was
// done — a note is required to move on — and shows who did it and when.

import { ApiError, post } from "../shared/api.js";
import { $, h as el } from "../shared/dom.js";
import { dateTime, levelLabel, t } from "./i18n.js";

const STEPS = ["called_back", "rectified", "replied"];

let ctx = null; // {centreName, matterName, after: async () => void, onError}
let list = [];
// the follow-up form being filled in survives the list's refreshes: {sid, step, text, error}
let editing = null;

export function initReviews(options) {
  ctx = options;
}

function stepForm(review, step) {
  const input = el("input", {
    type: "text",
    class: "note",
    maxlength: 500,
    "data-note-for": step,
    placeholder: t("note_placeholder"),
    "aria-label": t("note_placeholder"),
    "aria-invalid": editing.error ? "true" : "false",
    value: editing.text,
  });
  input.addEventListener("input", () => {
    editing.text = input.value;
  });
  const form = el(
    "form",
    { class: "step-form", "data-step": step },
    input,
    el("button", { type: "submit", class: "step save" }, t("save")),
    el("button", { type: "button", class: "step cancel", onclick: () => close() }, t("cancel")),
    el("span", { class: "note-error", role: "alert", "data-field": "note" }, editing.error ? t("note_required") : ""),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    save(review.sid, step);
  });
  return form;
}

function stepCell(review, step) {
  const s = review.steps[step];
  if (s.done_at) {
    return el(
      "td",
      { class: s.late ? "late" : "done", "data-step": step },
      `${t("done")} ${dateTime(s.done_at)} · ${s.by}`,
      s.note ? el("div", { class: "step-note" }, s.note) : "",
    );
  }
  const i = STEPS.indexOf(step);
  const ready = i === 0 || review.steps[STEPS[i - 1]].done_at;
  const cell = el("td", { class: s.overdue ? "overdue" : "", "data-step": step }, `${t("due")} ${dateTime(s.due)} `);
  if (!ready) return cell;
  if (editing && editing.sid === review.sid && editing.step === step) {
    cell.append(stepForm(review, step));
  } else {
    cell.append(
      el("button", { type: "button", class: "step", "data-step": step, onclick: () => open(review.sid, step) }, t("mark_step", { step: t(step) })),
    );
  }
  return cell;
}

function open(sid, step) {
  editing = { sid, step, text: "", error: false };
  renderReviews(list);
  const input = document.querySelector(`#reviews tr[data-sid="${CSS.escape(sid)}"] input[data-note-for="${step}"]`);
  if (input) input.focus();
}

function close() {
  editing = null;
  renderReviews(list);
}

async function save(sid, step) {
  const note = editing ? editing.text.trim() : "";
  try {
    await post(`/api/dashboard/bad-reviews/${encodeURIComponent(sid)}/actions`, { action: step, note });
    editing = null;
    await ctx.after();
  } catch (err) {
    if (err instanceof ApiError && err.field === "note" && editing) {
      editing.error = true;
      renderReviews(list);
    } else {
      ctx.onError(err);
    }
  }
}

export function renderReviews(rows) {
  list = rows;
  const body = $("#reviews tbody");
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 9, class: "quiet" }, t("none"))));
    $("#review-comments").replaceChildren();
    return;
  }
  body.replaceChildren(
    ...rows.map((r) =>
      el(
        "tr",
        { "data-sid": r.sid, class: r.status },
        el("td", {}, r.sid),
        el("td", {}, `${r.level} ${levelLabel(r.level)}`),
        el("td", {}, dateTime(r.rated_at)),
        el("td", {}, ctx.matterName(r.matter)),
        el("td", { "data-col": "centres" }, `${ctx.centreName(r.intake)} → ${ctx.centreName(r.serving)}`),
        ...STEPS.map((s) => stepCell(r, s)),
        el("td", { class: `status ${r.status}` }, t(r.status)),
      ),
    ),
  );
  const comments = rows.filter((r) => r.comment);
  $("#review-comments").replaceChildren(...comments.map((r) => el("li", {}, `${r.sid}: ${r.comment}`)));
}
