// The hall staff view: the booths calling for help (呼叫现场工作人员), since when (a live clock),
// an alert sound for each new call, and 已处理 (the booth is told someone is coming).
//
// Live by polling GET /api/halls/{centre}/help every two seconds (docs/hall.md says why).

import { get, post } from "../shared/api.js";
import { $, clock, h, hms } from "../shared/dom.js";
import { apply, applyCentreName, getLang, onLang, setLang, t } from "./i18n.js";

const CENTRE = document.body.dataset.centre;
const POLL_MS = 2000;
let rows = [];
let skew = 0; // server clock minus ours, so "waiting" counts from the server's time
const known = new Set(); // booths whose current call was already seen (a new one rings)
let first = true;
let audio = null; // an AudioContext once staff turned the sound on

const alerts = []; // the calls that rang, newest last (read by the page tests)
window.rwHallAlerts = () => alerts.slice();

function ring() {
  if (!audio) return;
  try {
    for (const [at, freq] of [[0, 880], [0.25, 660], [0.5, 880]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + at);
      osc.stop(audio.currentTime + at + 0.2);
    }
  } catch {
    // no sound device: the list is enough
  }
}

/** The live clock of each call: only the "waiting" cells change every second. */
function tickWaited() {
  const now = Date.now() + skew;
  for (const td of document.querySelectorAll("#help-rows td.waited")) {
    td.textContent = clock((now - Number(td.dataset.since)) / 1000);
  }
}

function render() {
  $("#help-rows").replaceChildren(...rows.map((r) => h("tr", { dataset: { booth: r.booth } },
    h("td.booth", r.name || r.booth),
    h("td.since", hms(r.since)),
    h("td.waited", { dataset: { since: String(r.since) } }),
    h("td.reason", t(`reason_${r.reason || "help"}`)),
    h("td.ticket", r.ticket || "—"),
    h("td", h("button.ack", { type: "button", dataset: { booth: r.booth }, on: { click: () => acknowledge(r.booth) } },
      t("ack"))))));
  $("#help-none").hidden = rows.length > 0;
  $("#help").hidden = rows.length === 0;
  tickWaited();
}

async function acknowledge(booth) {
  try {
    await post(`/api/halls/${encodeURIComponent(CENTRE)}/help/${encodeURIComponent(booth)}/ack`, {});
  } catch (err) {
    if (err.status === 401 || err.status === 403) location.reload();
    return;
  }
  rows = rows.filter((r) => r.booth !== booth);
  render();
}

async function poll() {
  try {
    const data = await get(`/api/halls/${encodeURIComponent(CENTRE)}/help`);
    skew = data.now - Date.now();
    const changed = JSON.stringify(data.calls) !== JSON.stringify(rows);
    rows = data.calls;
    const current = new Set(rows.map((r) => `${r.booth}@${r.since}`));
    for (const key of current) {
      if (known.has(key)) continue;
      known.add(key);
      if (!first) {
        alerts.push(key);
        ring();
      }
    }
    for (const key of [...known]) if (!current.has(key)) known.delete(key);
    first = false;
    if (changed) render(); // rows are rebuilt only when the calls change (a touch on 已处理 is not lost)
    $("#stale").hidden = true;
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      location.reload();
      return;
    }
    $("#stale").hidden = false;
  }
  setTimeout(poll, POLL_MS);
}

function main() {
  apply();
  render();
  applyCentreName();
  $("#btn-lang").addEventListener("click", () => setLang(getLang() === "zh" ? "en" : "zh"));
  onLang(() => {
    applyCentreName();
    render();
  });
  // Browsers play sound only after a touch on the page: staff touch this once.
  $("#btn-sound").addEventListener("click", () => {
    try {
      audio = audio || new AudioContext();
    } catch {
      audio = null;
    }
    const b = $("#btn-sound");
    b.dataset.i18n = "sound_ready";
    b.textContent = t("sound_ready");
    b.disabled = true;
  });
  setInterval(() => {
    $("#clock").textContent = new Date(Date.now() + skew).toLocaleTimeString("zh-CN", { hour12: false });
    tickWaited();
  }, 1000);
  poll();
}

main();
