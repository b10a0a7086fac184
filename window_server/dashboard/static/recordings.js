// The dashboard's "录像与访问 / Recordings & access" panel: the scope's recordings (incomplete and
// failed ones flagged and counted), the shared player, a session's access log and legal hold, and
// one person's access log; both logs download as CSV. Its words are its own (shared/i18n.js).

import { api, get, query } from "../shared/api.js";
import { $, fill, h } from "../shared/dom.js";
import { createI18n } from "../shared/i18n.js";
import { createPlayer, stateIsBad, stateLabel } from "../shared/player.js";
import { currentLang, dateTime } from "./i18n.js";

const WORDS = {
  zh: {
    title: "录像与访问",
    incomplete_n: "录像不完整 {n}",
    status_all: "全部录像",
    status_incomplete: "仅不完整/失败",
    refresh: "刷新",
    when: "时间",
    session: "会话",
    booth: "展台",
    served: "服务专员",
    intake: "收件地",
    recording: "录像",
    open: "打开",
    none: "暂无录像",
    detail: "会话",
    access: "访问记录",
    access_csv: "下载 CSV",
    who: "人员",
    role: "角色",
    centre: "中心",
    action: "操作",
    item: "对象",
    addr: "来源",
    result: "结果",
    allowed: "允许",
    refused: "拒绝（{code}）",
    no_access: "暂无访问记录",
    hold: "法律保全",
    hold_on: "已设置：{by}，{at}。原因：{reason}",
    hold_off: "未设置法律保全",
    review_open: "差评跟进未办结：录像暂不清除",
    hold_reason: "保全原因（必填）",
    hold_set: "设置保全",
    hold_lift: "解除保全",
    person: "按人员查询访问记录",
    person_placeholder: "用户名，或 booth:展台编号",
    person_go: "查询",
    error: "出错了：{msg}",
    "role.specialist": "专员",
    "role.team_lead": "组长",
    "role.manager": "中心管理员",
    "role.chain_manager": "全链管理员",
    "role.booth": "展台",
    "action.recording": "播放录像",
    "action.recording_list": "查看录像信息",
    "action.still": "查看材料图片",
    "action.pdf": "材料 PDF",
    "action.evidence": "证据包",
  },
  en: {
    title: "Recordings & access",
    incomplete_n: "Incomplete recordings {n}",
    status_all: "All recordings",
    status_incomplete: "Incomplete or failed only",
    refresh: "Refresh",
    when: "When",
    session: "Session",
    booth: "Booth",
    served: "Served by",
    intake: "Intake",
    recording: "Recording",
    open: "Open",
    none: "No recordings",
    detail: "Session",
    access: "Access log",
    access_csv: "Download CSV",
    who: "Who",
    role: "Role",
    centre: "Centre",
    action: "Action",
    item: "Item",
    addr: "From",
    result: "Result",
    allowed: "allowed",
    refused: "refused ({code})",
    no_access: "No access recorded",
    hold: "Legal hold",
    hold_on: "Set by {by}, {at}. Reason: {reason}",
    hold_off: "No legal hold",
    review_open: "A bad-review follow-up is open: the recording is kept",
    hold_reason: "Reason for the hold (required)",
    hold_set: "Set hold",
    hold_lift: "Lift hold",
    person: "A person's access log",
    person_placeholder: "username, or booth:<booth id>",
    person_go: "Show",
    error: "Something went wrong: {msg}",
    "role.specialist": "Specialist",
    "role.team_lead": "Team lead",
    "role.manager": "Manager",
    "role.chain_manager": "Chain manager",
    "role.booth": "Booth",
    "action.recording": "Played a recording",
    "action.recording_list": "Opened a recording",
    "action.still": "Viewed a still",
    "action.pdf": "Materials PDF",
    "action.evidence": "Evidence package",
  },
};

const words = createI18n({ strings: WORDS });
const t = (key, vars) => words.tIn(currentLang(), key, vars);
const label = (prefix, value) => (words.has(`${prefix}.${value}`) ? t(`${prefix}.${value}`) : value || "–");

const S = {
  scope: "chain",
  status: "all",
  rows: [],
  incomplete: 0,
  sid: "",
  access: null, // [{at, who, role, centre, action, sid, item, addr, allowed, code}], newest first
  hold: null, // {sid, held, legal: {by, at, reason} | null, review_open, review_due}
  who: "",
  person: null,
  errors: {}, // part -> message
  centreName: (id) => id,
  player: null,
};

// Labels built once carry data-w (text) / data-wp (placeholder) and follow the language.
const w = (key, tag = "span") => h(tag, { dataset: { w: key } }, t(key));

function relabel(root) {
  for (const el of root.querySelectorAll("[data-w]")) el.textContent = t(el.dataset.w);
  for (const el of root.querySelectorAll("[data-wp]")) el.placeholder = t(el.dataset.wp);
}

function errorOf(err) {
  return t("error", { msg: err.message || err.code || String(err) });
}

function setError(part, err) {
  S.errors[part] = err ? errorOf(err) : "";
  const el = $(`#rec-err-${part}`);
  if (el) el.textContent = S.errors[part];
}

function head(keys) {
  return h("thead", h("tr", keys.map((k) => (k ? w(k, "th") : h("th")))));
}

/** Build the panel inside #recordings (dashboard.js calls it once the meta is in). */
export function initRecordings({ scope, centreName, timeZone }) {
  S.scope = scope;
  S.centreName = centreName;
  const root = $("#recordings");
  const player = h("div#rec-player");
  S.player = createPlayer(player, { lang: currentLang, centreName, timeZone });
  fill(
    root,
    h("h2", w("title"), h("span.rec-badge#rec-incomplete"),
      h("select#rec-status", { on: { change: (e) => { S.status = e.target.value; loadList(); } } },
        h("option", { value: "all", dataset: { w: "status_all" } }, t("status_all")),
        h("option", { value: "incomplete", dataset: { w: "status_incomplete" } }, t("status_incomplete"))),
      h("button#rec-refresh", { type: "button", dataset: { w: "refresh" }, on: { click: () => loadList() } }, t("refresh"))),
    h("p.error#rec-err-list", { role: "alert" }),
    h("table.grid#rec-list", head(["when", "session", "booth", "served", "intake", "recording", ""]), h("tbody")),
    h("div.rec-detail#rec-detail", { hidden: true },
      player,
      h("div.rec-hold#rec-hold",
        h("h3", w("hold")),
        h("p#rec-hold-state"),
        h("form#rec-hold-form", { autocomplete: "off", on: { submit: setHold } },
          h("input#rec-hold-reason", { maxLength: 500, required: true, dataset: { wp: "hold_reason" }, placeholder: t("hold_reason") }),
          h("button#rec-hold-set", { type: "submit", dataset: { w: "hold_set" } }, t("hold_set")),
          h("button#rec-hold-lift", { type: "button", dataset: { w: "hold_lift" }, on: { click: liftHold } }, t("hold_lift"))),
        h("p.error#rec-err-hold", { role: "alert" })),
      h("h3", w("access"), " ", h("a#rec-access-csv", { download: "", dataset: { w: "access_csv" } }, t("access_csv"))),
      h("p.error#rec-err-access", { role: "alert" }),
      h("table.grid#rec-access", head(["when", "who", "role", "centre", "action", "item", "addr", "result"]), h("tbody"))),
    h("h3", w("person")),
    h("form.rec-person#rec-person-form", { autocomplete: "off", on: { submit: findPerson } },
      h("input#rec-person", { maxLength: 80, required: true, dataset: { wp: "person_placeholder" }, placeholder: t("person_placeholder") }),
      h("button#rec-person-go", { type: "submit", dataset: { w: "person_go" } }, t("person_go")),
      h("a#rec-person-csv", { download: "", hidden: true, dataset: { w: "access_csv" } }, t("access_csv"))),
    h("p.error#rec-err-person", { role: "alert" }),
    h("table.grid#rec-person-log", { hidden: true },
      head(["when", "session", "role", "centre", "action", "item", "addr", "result"]), h("tbody")),
  );
  loadList();
}

/** The dashboard's scope changed: list that scope's recordings. */
export function recordingsScope(scope) {
  S.scope = scope;
  loadList();
}

/** The language changed: every label, list and the player again. */
export function rerenderRecordings() {
  const root = $("#recordings");
  if (!root || !S.player) return;
  relabel(root);
  renderList();
  renderAccess();
  renderHold();
  renderPerson();
  S.player.render();
}

// --- the list -------------------------------------------------------------------------------------

async function loadList() {
  const centre = S.scope === "chain" ? "" : S.scope;
  try {
    const [list, bad] = await Promise.all([
      get(`/api/recordings${query({ centre, status: S.status, limit: 100 })}`),
      get(`/api/recordings${query({ centre, status: "incomplete", limit: 200 })}`),
    ]);
    S.rows = list.recordings;
    S.incomplete = bad.recordings.length;
    setError("list", null);
  } catch (err) {
    S.rows = [];
    setError("list", err);
  }
  renderList();
}

function renderList() {
  const badge = $("#rec-incomplete");
  badge.textContent = S.incomplete ? t("incomplete_n", { n: S.incomplete }) : "";
  badge.classList.toggle("alarm", S.incomplete > 0);
  const body = $("#rec-list tbody");
  if (!S.rows.length) {
    fill(body, h("tr", h("td.quiet", { colSpan: 7 }, t("none"))));
    return;
  }
  fill(body, S.rows.map((r) => h("tr",
    { dataset: { sid: r.sid, recording: r.recording }, class: [stateIsBad(r.recording) ? "alarm" : "", r.sid === S.sid ? "chosen" : ""].join(" ") },
    h("td", dateTime(r.at)), h("td", r.sid), h("td", r.booth), h("td", (r.served || []).join("、")),
    h("td", S.centreName(r.intake_centre)),
    h("td.rec-state", stateLabel(r.recording, currentLang())),
    h("td", h("button.rec-open", { type: "button", on: { click: () => openSession(r.sid) } }, t("open"))))));
}

// --- one session: player, access log, hold -----------------------------------------------------------

async function openSession(sid) {
  S.sid = sid;
  S.access = null;
  S.hold = null;
  $("#rec-detail").hidden = false;
  $("#rec-access-csv").href = `/api/sessions/${encodeURIComponent(sid)}/access.csv`;
  renderList();
  renderAccess();
  renderHold();
  await S.player.open(sid); // the views it makes are in the log below
  $("#rec-detail").scrollIntoView({ block: "nearest" });
  await Promise.all([loadAccess(), loadHold()]);
}

async function loadAccess() {
  const sid = S.sid;
  try {
    const got = await get(`/api/sessions/${encodeURIComponent(sid)}/access`);
    if (sid !== S.sid) return;
    S.access = got.entries;
    setError("access", null);
  } catch (err) {
    S.access = [];
    setError("access", err);
  }
  renderAccess();
}

function accessRows(rows, first) {
  return rows.map((a) => h("tr", { class: a.allowed ? "" : "alarm", dataset: { action: a.action, who: a.who } },
    h("td", dateTime(a.at)), h("td", first(a)), h("td", label("role", a.role)), h("td", a.centre ? S.centreName(a.centre) : "–"),
    h("td", label("action", a.action)), h("td", a.item || "–"), h("td", a.addr || "–"),
    h("td", a.allowed ? t("allowed") : t("refused", { code: a.code || "" }))));
}

function renderAccess() {
  const body = $("#rec-access tbody");
  if (!S.access) return fill(body);
  if (!S.access.length) return fill(body, h("tr", h("td.quiet", { colSpan: 8 }, t("no_access"))));
  fill(body, accessRows(S.access, (a) => a.who));
}

async function loadHold() {
  const sid = S.sid;
  try {
    const got = await get(`/api/sessions/${encodeURIComponent(sid)}/hold`);
    if (sid !== S.sid) return;
    S.hold = got.hold;
    setError("hold", null);
  } catch (err) {
    S.hold = null;
    setError("hold", err);
  }
  renderHold();
}

function renderHold() {
  const box = $("#rec-hold");
  const held = S.hold?.legal;
  const lines = [held ? t("hold_on", { by: held.by, at: dateTime(held.at), reason: held.reason }) : t("hold_off")];
  if (S.hold?.review_open) lines.push(t("review_open"));
  fill($("#rec-hold-state"), S.hold ? lines.join(" · ") : "");
  box.classList.toggle("on", Boolean(held || S.hold?.review_open));
  $("#rec-hold-reason").hidden = $("#rec-hold-set").hidden = Boolean(held) || !S.hold;
  $("#rec-hold-lift").hidden = !held;
}

async function setHold(ev) {
  ev.preventDefault();
  const reason = $("#rec-hold-reason").value.trim();
  if (!reason) return;
  try {
    await api("PUT", `/api/sessions/${encodeURIComponent(S.sid)}/hold`, { reason });
    $("#rec-hold-reason").value = "";
    setError("hold", null);
  } catch (err) {
    setError("hold", err);
  }
  await loadHold();
}

async function liftHold() {
  try {
    await api("DELETE", `/api/sessions/${encodeURIComponent(S.sid)}/hold`);
    setError("hold", null);
  } catch (err) {
    setError("hold", err);
  }
  await loadHold();
}

// --- one person -------------------------------------------------------------------------------------------

async function findPerson(ev) {
  ev.preventDefault();
  const who = $("#rec-person").value.trim();
  if (!who) return;
  S.who = who;
  try {
    S.person = (await get(`/api/access${query({ who })}`)).entries;
    setError("person", null);
  } catch (err) {
    S.person = null;
    setError("person", err);
  }
  renderPerson();
}

function renderPerson() {
  const table = $("#rec-person-log");
  const csv = $("#rec-person-csv");
  table.hidden = csv.hidden = S.person === null;
  if (S.person === null) return;
  csv.href = `/api/access.csv${query({ who: S.who })}`;
  const body = $("#rec-person-log tbody");
  if (!S.person.length) return fill(body, h("tr", h("td.quiet", { colSpan: 8 }, t("no_access"))));
  fill(body, accessRows(S.person, (a) => a.sid));
}
