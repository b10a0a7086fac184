// The specialists panel (C6): a centre's specialists by name — status and for how long (a live
// clock), current session, today's handled count and occupancy — and, for a live session, links
// that open the guest page to monitor, whisper or barge in (/guest?sid=…&mode=…, a new tab).
// A chain manager chooses the centre; a manager or team lead sees their own.

import { ApiError, get, query } from "../shared/api.js";
import { $, h as el } from "../shared/dom.js";
import { duration, percent, t } from "./i18n.js";

const MODES = ["monitor", "whisper", "barge"];
const REFRESH_MS = 1000;

let ctx = null; // {centres: [ids], chain: bool, centreName, matterName, onError}
const st = { centre: "", data: null, offset: 0, timer: null, last: 0 };

/** Build the panel's controls and start its clock. */
export function initSpecialists(options) {
  ctx = options;
  const pick = $("#spec-centre");
  pick.hidden = !ctx.chain;
  pick.addEventListener("change", () => {
    st.centre = pick.value;
    fetchSpecialists();
  });
  renderPicker();
  setInterval(tick, 1000);
}

/** The dashboard's scope changed: a centre scope is the panel's centre; the chain keeps the choice. */
export function specialistsScope(scope) {
  if (scope !== "chain") st.centre = scope;
  renderPicker();
  fetchSpecialists();
}

/** Something changed in the queue: fetch again, at most once a second. */
export function refreshSpecialists() {
  if (st.timer) return;
  const wait = Math.max(0, st.last + REFRESH_MS - Date.now());
  st.timer = setTimeout(() => {
    st.timer = null;
    fetchSpecialists();
  }, wait);
}

/** The language changed. */
export function rerenderSpecialists() {
  renderPicker();
  render();
}

function renderPicker() {
  if (!ctx) return;
  const pick = $("#spec-centre");
  pick.replaceChildren(
    el("option", { value: "" }, `— ${t("choose_centre")} —`),
    ...ctx.centres.map((c) => el("option", { value: c }, ctx.centreName(c))),
  );
  pick.value = st.centre;
}

async function fetchSpecialists() {
  st.last = Date.now();
  if (!st.centre) {
    st.data = null;
    render();
    return;
  }
  const asked = st.centre;
  try {
    const data = await get(`/api/dashboard/specialists${query({ centre: asked })}`);
    if (asked !== st.centre) return;
    st.data = data;
    st.offset = data.as_of - Date.now(); // the server's clock, for the time-in-status clocks
    render();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) location.reload();
    else ctx.onError(err);
  }
}

function since(row) {
  return duration(Math.max(0, (Date.now() + st.offset - row.since) / 1000));
}

function tick() {
  if (!st.data) return;
  for (const cell of document.querySelectorAll("#specialists td[data-col='since']")) {
    const row = st.data.specialists.find((r) => r.username === cell.parentElement.dataset.user);
    if (row) cell.textContent = since(row);
  }
}

function sessionCell(s) {
  if (!s) return el("td", { "data-col": "session", class: "quiet" }, "–");
  return el(
    "td",
    { "data-col": "session", "data-sid": s.sid },
    el("strong", {}, s.ticket || s.sid),
    ` ${ctx.matterName(s.matter)} `,
    el("small", { class: "quiet" }, `${s.sid} · ${t(s.state) || s.state}`),
  );
}

function guestLinks(s) {
  if (!s || !s.live) return el("td", { "data-col": "supervise" });
  return el(
    "td",
    { "data-col": "supervise", class: "guest-links" },
    ...MODES.map((m) =>
      el(
        "a",
        {
          class: `guest-link ${m}`,
          "data-mode": m,
          href: `/guest${query({ sid: s.sid, mode: m })}`,
          target: "_blank",
          rel: "noopener",
        },
        t(m),
      ),
    ),
  );
}

function render() {
  const body = $("#specialists tbody");
  const head = $("#spec-occupancy");
  const data = st.data;
  if (!data) {
    head.textContent = "";
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 7, class: "quiet" }, ctx && ctx.chain ? t("choose_centre") : "–")));
    return;
  }
  head.textContent = t("centre_occupancy", { p: percent(data.occupancy) });
  if (!data.specialists.length) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 7, class: "quiet" }, t("no_specialists"))));
    return;
  }
  body.replaceChildren(
    ...data.specialists.map((r) =>
      el(
        "tr",
        { "data-user": r.username, "data-status": r.status },
        el("td", { class: "name" }, r.name || r.username, r.name ? el("small", { class: "quiet" }, ` ${r.username}`) : ""),
        el("td", { "data-col": "status" }, el("span", { class: `agent ${r.status}` }, t(r.status))),
        el("td", { "data-col": "since", class: "num" }, since(r)),
        sessionCell(r.session),
        el("td", { "data-col": "handled", class: "num" }, r.handled_today),
        el("td", { "data-col": "occupancy", class: "num" }, percent(r.occupancy)),
        guestLinks(r.session),
      ),
    ),
  );
}
