// The console's playback view (key P or the 回放 button): the recordings this specialist may play
// (their own sessions; a team lead also their centre's) and the shared player with the session's
// timeline beside it. A dialog, so the console's single-key shortcuts are off while it is open.

import { $, h, fill } from "../shared/dom.js";
import { get, query } from "../shared/api.js";
import { createI18n } from "../shared/i18n.js";
import { createPlayer, stateIsBad, stateLabel } from "../shared/player.js";
import { getLang, onLang, nameOf } from "./i18n.js";
import { S } from "./state.js";

const WORDS = {
  zh: {
    open: "回放",
    title: "录像回放",
    own: "我服务的会话",
    centre: "本中心的会话",
    refresh: "刷新",
    close: "关闭",
    when: "时间",
    session: "会话",
    booth: "展台",
    served: "服务专员",
    recording: "录像",
    play: "播放",
    empty: "暂无可回放的录像",
    failed: "列表无法加载：{msg}",
  },
  en: {
    open: "Playback",
    title: "Playback",
    own: "Sessions I served",
    centre: "My centre's sessions",
    refresh: "Refresh",
    close: "Close",
    when: "When",
    session: "Session",
    booth: "Booth",
    served: "Served by",
    recording: "Recording",
    play: "Play",
    empty: "No recordings to play",
    failed: "The list could not be loaded: {msg}",
  },
};

const words = createI18n({ strings: WORDS });
const t = (key, vars) => words.tIn(getLang(), key, vars);

const view = { rows: [], chosen: "", scope: "own", error: "", dlg: null, player: null };

const isLead = () => S.ctx?.user?.role === "team_lead";

function centreName(id) {
  return nameOf(S.ctx?.centres?.[id], id);
}

function when(ms) {
  return new Date(Number(ms)).toLocaleString(getLang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

/** Build the dialog once and bind the button (called by console.js after the context loads). */
export function bindPlayback() {
  const playerRoot = h("div#pb-player");
  view.player = createPlayer(playerRoot, { lang: getLang, centreName });
  view.dlg = h("dialog.pb-dialog#dlg-playback", { "aria-labelledby": "pb-title" },
    h("div.pb-head#pb-head"), h("div.pb-wrap", h("table.pb-list#pb-list")), h("p.pb-msg#pb-msg", { role: "status" }),
    playerRoot);
  view.dlg.addEventListener("close", () => view.player.close());
  document.body.append(view.dlg);
  if (isLead()) view.scope = "centre";
  $("#btn-playback").addEventListener("click", () => openPlayback());
  onLang(render);
  render();
}

/** Open the view and (re)load the list. */
export async function openPlayback() {
  if (!view.dlg) return;
  if (!view.dlg.open) view.dlg.showModal();
  await load();
}

async function load() {
  view.error = "";
  const params = { limit: 100, centre: view.scope === "centre" ? S.ctx.user.centre : "" };
  try {
    view.rows = (await get(`/api/recordings${query(params)}`)).recordings;
  } catch (err) {
    view.rows = [];
    view.error = t("failed", { msg: err.message || err.code });
  }
  render();
}

function play(sid) {
  view.chosen = sid;
  render();
  view.player.open(sid).then(() => $("#pb-player").scrollIntoView({ block: "nearest" }));
}

function render() {
  const label = $("#btn-playback-label");
  if (label) label.textContent = t("open");
  if (!view.dlg) return;
  const scope = isLead()
    ? h("select#pb-scope", { "aria-label": t("title"), on: { change: (ev) => { view.scope = ev.target.value; load(); } } },
        h("option", { value: "own", selected: view.scope === "own" }, t("own")),
        h("option", { value: "centre", selected: view.scope === "centre" }, t("centre")))
    : "";
  fill($("#pb-head", view.dlg),
    h("h3#pb-title", t("title")), scope,
    h("button#pb-refresh", { type: "button", on: { click: () => load() } }, t("refresh")),
    h("button.ghost#pb-close", { type: "button", on: { click: () => view.dlg.close() } }, t("close")));
  const head = h("thead", h("tr", ["when", "session", "booth", "served", "recording", ""].map((k) => h("th", k ? t(k) : ""))));
  const body = h("tbody#pb-rows", view.rows.map((r) => h("tr",
    { dataset: { sid: r.sid }, class: [r.sid === view.chosen ? "pb-on" : "", stateIsBad(r.recording) ? "pb-bad" : ""].join(" ") },
    h("td", when(r.at)), h("td", r.sid), h("td", r.booth), h("td", (r.served || []).join("、")),
    h("td.pb-rec", stateLabel(r.recording, getLang())),
    h("td", h("button.pb-play", { type: "button", on: { click: () => play(r.sid) } }, t("play"))))));
  fill($("#pb-list", view.dlg), head, body);
  $("#pb-msg", view.dlg).textContent = view.error || (view.rows.length ? "" : t("empty"));
  view.player.render();
}
