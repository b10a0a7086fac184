// The manager dashboard: live figures pushed over socket.io /dashboard, KPIs and charts from the
// JSON API, drill-down per centre / matter / pair, bad-review follow-up and CSV exports.

import { io } from "/dashboard/vendor/socket.io.esm.min.js";
import { ApiError, get, post, query } from "../shared/api.js";
import { drawSeries, resetCharts } from "./charts.js";
import { $, h as el } from "../shared/dom.js";
import { PRESENCE, PROTOCOL, STATE } from "../protocol/protocol.js";
import { fetchFlow, renderFlow } from "./flow.js";
import { apply, currentLang, dateTime, duration, percent, setLang, setTimeZone, t } from "./i18n.js";
import { initRecordings, recordingsScope, rerenderRecordings } from "./recordings.js";
import { initReviews, renderReviews } from "./reviews.js";
import { initSpecialists, refreshSpecialists, rerenderSpecialists, specialistsScope } from "./specialists.js";

// Every presence status, in the domain's order but offline last (the tiles read left to right).
const STATUSES = [...PROTOCOL.presence.statuses.filter((s) => s !== PRESENCE.OFFLINE), PRESENCE.OFFLINE];
const KPI_REFRESH_MS = 2000;

const state = {
  meta: null,
  scope: "chain",
  from: "",
  to: "",
  group: "matter",
  live: null,
  kpis: null,
  groups: null,
  series: null,
  reviews: [],
  connected: false,
};

// --- names ------------------------------------------------------------------------------------

function centreName(id) {
  if (id === "chain") return t("chain");
  const c = state.meta.centres.find((x) => x.id === id);
  return c ? (currentLang() === "zh" ? c.name_zh : c.name_en) : id || "–";
}

function matterName(code) {
  const m = state.meta.matters[code];
  return m ? (currentLang() === "zh" ? m.name_zh : m.name_en) : code;
}

function regionName(code) {
  const r = state.meta.regions[code];
  return r ? (currentLang() === "zh" ? r.name_zh : r.name_en) : code;
}

function groupName(group, key) {
  if (group === "centre" || group === "intake" || group === "serving") return key ? centreName(key) : t("unanswered");
  if (group === "matter") return matterName(key);
  if (group === "pair") {
    const [a, b] = key.split("→");
    return `${centreName(a)} → ${b ? centreName(b) : t("unanswered")}`;
  }
  return key;
}

// --- small DOM helpers ---------------------------------------------------------------------------

function setText(sel, text) {
  const e = $(sel);
  if (e && e.textContent !== String(text)) e.textContent = String(text);
}

function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(async () => {
      timer = null;
      last = Date.now();
      await fn();
    }, wait);
  };
}

/** Labelled counts of specialists by status, zeros left out: "空闲 2 · 服务中 1 · 离线 3". */
function statusCounts(counts) {
  const parts = STATUSES.filter((s) => counts[s]).map((s) => `${t(s)} ${counts[s]}`);
  return parts.length ? parts.join(" · ") : t("nobody");
}

function showError(err) {
  $("#error").textContent = err ? `${t("error")}: ${err.message || err}` : "";
}

// --- live --------------------------------------------------------------------------------------

function renderLive(live) {
  state.live = live;
  const tot = live.totals;
  setText("#tile-waiting", tot.waiting);
  setText("#tile-longest", duration(tot.longest_wait_s));
  setText("#tile-in-service", tot.in_service);
  setText("#tile-transfers", tot.transfers_pending);
  const agents = $("#tile-agents");
  agents.replaceChildren(
    ...STATUSES.map((s) => el("span", { class: `agent ${s}`, "data-status": s }, `${t(s)} ${tot.agents[s] ?? 0}`)),
  );
  $("#tile-longest").parentElement.classList.toggle("alarm", (tot.longest_wait_s ?? 0) > live.wait_alarm_s);
  setText("#as-of", `${t("as_of")} ${dateTime(live.as_of)}`);
  renderAlarms(live.alarms);
  renderCentres(live.centres);
  renderRegions(live.regions);
  renderLongest(live.longest);
}

function renderAlarms(alarms) {
  const box = $("#alarms");
  box.classList.toggle("on", alarms.length > 0);
  if (!alarms.length) {
    box.replaceChildren(el("span", { class: "quiet" }, t("no_alarms")));
    return;
  }
  box.replaceChildren(
    ...alarms.map((a) =>
      el(
        "div",
        { class: `alarm-item ${a.kind}`, "data-kind": a.kind },
        a.kind === "long_wait"
          ? t("long_wait", { centre: centreName(a.centre), n: a.count, w: duration(a.waited_s) })
          : t("no_specialist", { region: regionName(a.region), n: a.count }),
      ),
    ),
  );
}

function renderCentres(rows) {
  const body = $("#centres tbody");
  const canDrill = state.meta.user.role === "chain_manager";
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = el(
        "tr",
        { "data-centre": r.centre, class: r.alarms.length ? "alarm" : "" },
        el("td", { class: "name" }, centreName(r.centre)),
        el("td", { "data-col": "waiting", class: "num" }, r.waiting),
        el("td", { "data-col": "longest", class: "num" }, duration(r.longest_wait_s)),
        el("td", { "data-col": "queue", class: "num" }, r.queue_waiting),
        el("td", { "data-col": "agents", class: "agents" }, statusCounts(r.agents)),
        el("td", { "data-col": "in_service", class: "num" }, r.in_service),
        el("td", { "data-col": "transfers", class: "num" }, r.transfers_pending),
        el("td", { "data-col": "tickets", class: "num" }, r.today.tickets),
        el("td", { "data-col": "level", class: "num" }, percent(r.today.service_level)),
        el("td", { "data-col": "reviews", class: "num" }, `${r.reviews.open} / ${r.reviews.overdue}`),
        el("td", { "data-col": "alarms" }, r.alarms.length ? "⚠" : ""),
      );
      if (canDrill && state.scope === "chain") {
        tr.classList.add("link");
        tr.addEventListener("click", () => setScope(r.centre));
      }
      return tr;
    }),
  );
}

function renderRegions(rows) {
  $("#regions tbody").replaceChildren(
    ...rows.map((r) =>
      el(
        "tr",
        { "data-region": r.region, class: r.alarm ? "alarm" : "" },
        el("td", { class: "name" }, regionName(r.region)),
        el("td", { class: "num" }, r.waiting),
        el("td", { class: "num" }, duration(r.longest_wait_s)),
        el("td", { class: "num" }, r.available),
        el("td", { class: "num" }, r.staff),
        el("td", {}, r.alarm ? "⚠" : ""),
      ),
    ),
  );
}

function renderLongest(rows) {
  const body = $("#longest tbody");
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 5, class: "quiet" }, t("none"))));
    return;
  }
  body.replaceChildren(
    ...rows.map((w) =>
      el(
        "tr",
        {},
        el("td", {}, w.ticket),
        el("td", {}, centreName(w.intake)),
        el("td", {}, matterName(w.matter)),
        el("td", {}, t(w.state === STATE.OFFERED ? "offered" : "waiting")),
        el("td", { class: "num" }, duration(w.waited_s)),
      ),
    ),
  );
}

async function fetchLive() {
  renderLive(await get(`/api/dashboard/live${query({ centre: state.scope })}`));
}

// --- KPIs, drill-down, charts, reviews --------------------------------------------------------------

// [tile, value, the KPI its target is set for (settings), how to write that target]
const KPI_TILES = [
  ["tickets", (k) => k.tickets],
  ["served", (k) => k.served],
  ["abandoned", (k) => `${k.abandoned} (${percent(k.abandonment_rate)})`, "abandonment_rate", percent],
  ["no_show", (k) => k.no_show],
  ["asa", (k) => duration(k.asa_s), "asa_s", duration],
  ["service_level", (k) => percent(k.service_level), "service_level", percent],
  ["aht", (k) => duration(k.aht_s), "aht_s", duration],
  ["transfers", (k) => k.transfers],
  ["satisfaction", (k) => percent(k.satisfaction), "satisfaction", percent],
  ["coverage", (k) => percent(k.rating_coverage), "rating_coverage", percent],
  ["over_wait", (k) => k.over_wait],
  ["over_handle", (k) => k.over_handle],
];

/** A KPI tile, coloured against its target with the verdict in words too (never colour alone). */
function kpiTile(name, fmt, k, target, fmtTarget) {
  const tile = el("div", { class: "kpi", "data-kpi": name }, el("div", { class: "label" }, t(name)), el("div", { class: "value" }, fmt(k)));
  if (!target) return tile;
  tile.classList.add(`target-${target.status}`);
  tile.dataset.target = target.status;
  const goal = t(target.higher_is_better ? "target_ge" : "target_le", { v: fmtTarget(target.target) });
  tile.append(el("div", { class: "target" }, `${t(`target_${target.status}`)} · ${goal}`));
  return tile;
}

function renderKpis(result) {
  state.kpis = result;
  const k = result.total;
  $("#kpis").replaceChildren(
    ...KPI_TILES.map(([name, fmt, target, fmtTarget]) => kpiTile(name, fmt, k, target && result.targets[target], fmtTarget)),
    el(
      "div",
      { class: `kpi ${result.reviews.overdue ? "alarm" : ""}`, "data-kpi": "bad_reviews" },
      el("div", { class: "label" }, t("bad_reviews")),
      el("div", { class: "value" }, `${k.bad_reviews} · ${t("open")} ${result.reviews.open} · ${t("overdue")} ${result.reviews.overdue}`),
    ),
  );
  const th = state.meta.thresholds;
  setText("#thresholds", t("thresholds", { t: th.t_answer_s, s: th.s_short_s, w: th.wait_alarm_s }));
}

function renderGroups(result) {
  state.groups = result;
  const rows = result.groups;
  const body = $("#groups tbody");
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 9, class: "quiet" }, t("none"))));
    return;
  }
  body.replaceChildren(
    ...rows.map((g) => {
      const k = g.kpis;
      const tr = el(
        "tr",
        { "data-group": g.key },
        el("td", { class: "name" }, groupName(result.group, g.key)),
        el("td", { class: "num" }, k.tickets),
        el("td", { class: "num" }, k.served),
        el("td", { class: "num" }, k.abandoned),
        el("td", { class: "num" }, duration(k.asa_s)),
        el("td", { class: "num" }, percent(k.service_level)),
        el("td", { class: "num" }, duration(k.aht_s)),
        el("td", { class: "num" }, k.transfers),
        el("td", { class: "num" }, percent(k.satisfaction)),
      );
      if (result.group === "centre" && state.meta.user.role === "chain_manager") {
        tr.classList.add("link");
        tr.addEventListener("click", () => setScope(g.key));
      }
      return tr;
    }),
  );
}

async function fetchKpis() {
  const base = { centre: state.scope, from: state.from, to: state.to };
  const [total, groups] = await Promise.all([
    get(`/api/dashboard/kpis${query(base)}`),
    get(`/api/dashboard/kpis${query({ ...base, group: state.group })}`),
  ]);
  renderKpis(total);
  renderGroups(groups);
}

async function fetchSeries() {
  const series = await get(`/api/dashboard/series${query({ centre: state.scope, day: state.to })}`);
  state.series = series;
  drawSeries(series);
}

async function fetchFlowChart() {
  await fetchFlow({ centre: state.scope, from: state.from, to: state.to }, centreName);
}

async function fetchReviews() {
  const r = await get(`/api/dashboard/bad-reviews${query({ centre: state.scope, status: "all" })}`);
  state.reviews = r.reviews;
  renderReviews(r.reviews);
}

function renderExports() {
  const q = query({ centre: state.scope, from: state.from, to: state.to });
  $("#export-sessions").href = `/api/dashboard/export/sessions.csv${q}`;
  $("#export-ratings").href = `/api/dashboard/export/ratings.csv${q}`;
}

async function refreshAll() {
  showError(null);
  renderExports();
  try {
    await Promise.all([fetchLive(), fetchKpis(), fetchSeries(), fetchReviews(), fetchFlowChart()]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) location.reload();
    else showError(err);
  }
}

// The range shows live changes only while it includes today; then KPIs follow at most every 2 s.
const refreshFigures = throttle(async () => {
  if (state.to < state.meta.today) return;
  try {
    await Promise.all([fetchKpis(), fetchSeries(), fetchReviews(), fetchFlowChart()]);
  } catch (err) {
    showError(err);
  }
}, KPI_REFRESH_MS);
const refreshLive = throttle(() => fetchLive().catch(showError), 250);

// --- controls ------------------------------------------------------------------------------------

function setScope(scope) {
  state.scope = scope;
  $("#scope").value = scope;
  $("#back").hidden = !(state.meta.user.role === "chain_manager" && scope !== "chain");
  state.group = scope === "chain" ? "centre" : "matter";
  $("#group").value = state.group;
  refreshAll();
  recordingsScope(scope);
  specialistsScope(scope);
}

function renderControls() {
  const sel = $("#scope");
  sel.replaceChildren(...state.meta.scopes.map((s) => el("option", { value: s }, centreName(s))));
  sel.value = state.scope;
  sel.disabled = state.meta.scopes.length < 2;
  const groups = $("#group");
  groups.replaceChildren(
    ...["centre", "matter", "pair", "intake", "serving"].map((g) => el("option", { value: g }, t(`group_${g}`))),
  );
  groups.value = state.group;
  $("#from").value = state.from;
  $("#to").value = state.to;
  setText("#user", `${state.meta.user.username} · ${centreName(state.meta.user.centre || "chain")}`);
}

function rerender() {
  apply();
  renderControls();
  resetCharts();
  if (state.live) renderLive(state.live);
  if (state.kpis) renderKpis(state.kpis);
  if (state.groups) renderGroups(state.groups);
  if (state.series) drawSeries(state.series);
  renderReviews(state.reviews);
  renderFlow();
  rerenderSpecialists();
  rerenderRecordings();
  setText("#conn", t(state.connected ? "connected" : "disconnected"));
}

function connect() {
  const socket = io("/dashboard", {
    transports: ["websocket"],
    auth: (cb) => {
      post("/api/connect-token", { namespace: "/dashboard" })
        .then((r) => cb({ token: r.token }))
        .catch(() => cb({}));
    },
  });
  socket.on("connect", () => {
    state.connected = true;
    document.body.dataset.live = "up";
    setText("#conn", t("connected"));
  });
  socket.on("disconnect", () => {
    state.connected = false;
    document.body.dataset.live = "down";
    setText("#conn", t("disconnected"));
  });
  socket.on("connect_error", () => {
    state.connected = false;
    document.body.dataset.live = "down";
    setText("#conn", t("disconnected"));
  });
  socket.on("queue_update", (payload) => {
    if (payload.scope === state.scope) renderLive(payload);
    else refreshLive(); // a chain manager drilled into one centre: ask for that scope
    refreshFigures();
    refreshSpecialists();
  });
}

async function main() {
  apply();
  try {
    state.meta = await get("/api/dashboard/meta");
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) location.reload();
    showError(err);
    return;
  }
  setTimeZone(state.meta.timezone);
  state.scope = state.meta.scopes[0];
  state.group = state.scope === "chain" ? "centre" : "matter";
  state.from = state.to = state.meta.today;
  renderControls();
  $("#scope").addEventListener("change", (e) => setScope(e.target.value));
  $("#back").addEventListener("click", () => setScope("chain"));
  $("#group").addEventListener("change", (e) => {
    state.group = e.target.value;
    fetchKpis().catch(showError);
  });
  for (const id of ["from", "to"]) {
    $(`#${id}`).addEventListener("change", () => {
      state.from = $("#from").value || state.meta.today;
      state.to = $("#to").value || state.from;
      if (state.to < state.from) state.to = state.from;
      refreshAll();
    });
  }
  $("#btn-today").addEventListener("click", () => {
    state.from = state.to = state.meta.today;
    renderControls();
    refreshAll();
  });
  $("#btn-lang").addEventListener("click", () => {
    setLang(currentLang() === "zh" ? "en" : "zh");
    rerender();
  });
  $("#btn-logout").addEventListener("click", async () => {
    await post("/api/logout").catch(() => {});
    location.reload();
  });
  initRecordings({ scope: state.scope, centreName, timeZone: state.meta.timezone });
  initReviews({ centreName, matterName, onError: showError, after: () => Promise.all([fetchReviews(), fetchKpis()]) });
  initSpecialists({
    centres: state.meta.scopes.filter((s) => s !== "chain"), chain: state.meta.user.role === "chain_manager",
    centreName, matterName, onError: showError,
  });
  specialistsScope(state.scope);
  await refreshAll();
  connect();
  document.body.dataset.ready = "1";
}

main();
