// The hall's call display (叫号屏): the tickets called back to the remote windows, how many wait
// at the booths and seated, a spoken call in Chinese then English for each new ticket (with the
// words on screen, and a notice when this machine has no voice).
//
// Live by polling GET /api/halls/{centre}/board every two seconds (docs/hall.md says why).

import { get } from "../shared/api.js";
import { $, h } from "../shared/dom.js";
import { apply, applyCentreName, tIn } from "./i18n.js";

const CENTRE = document.body.dataset.centre;
const POLL_MS = 2000;
const seen = new Set(); // tickets already announced (a ticket is called once a day)
let first = true; // the first board: what is already being called is shown, not announced again
let voiceOn = false;

const spoken = []; // what the display said, newest last (read by the page tests)
window.rwHallSpoken = () => spoken.slice();

function voices() {
  try {
    return window.speechSynthesis ? window.speechSynthesis.getVoices() : [];
  } catch {
    return [];
  }
}

function speak(lang, text) {
  const synth = window.speechSynthesis;
  if (!synth || typeof SpeechSynthesisUtterance === "undefined") return;
  const u = new SpeechSynthesisUtterance(text);
  u.lang = lang === "en" ? "en-GB" : "zh-CN";
  u.rate = 0.9;
  const voice = voices().find((v) => v.lang && v.lang.replace("_", "-").startsWith(u.lang.slice(0, 2)));
  if (voice) u.voice = voice;
  try {
    synth.speak(u);
  } catch {
    // no voice: the caption says it
  }
}

/** Announce a new call: the caption always, the voice where there is one (twice in Chinese, once in English). */
function announce(ticket) {
  const zh = tIn("zh", "call_words", { ticket });
  const en = tIn("en", "call_words", { ticket });
  spoken.push({ ticket, zh, en });
  if (spoken.length > 40) spoken.shift();
  $("#caption").textContent = `${zh} · ${en}`;
  $("#novoice").hidden = voices().length > 0;
  if (!voiceOn) return;
  speak("zh", zh);
  speak("en", en);
  speak("zh", zh);
}

function render(board) {
  const list = $("#called");
  list.replaceChildren(...board.calls.map((c) => h("li", { class: "call", dataset: { ticket: c.ticket } },
    h("span.ticket", c.ticket),
    h("span.where", h("span", { lang: "zh-CN" }, tIn("zh", "call_where")), h("br"),
      h("span", { lang: "en" }, tIn("en", "call_where"))))));
  $("#called-none").hidden = board.calls.length > 0;
  $("#n-waiting").textContent = String(board.waiting);
  $("#n-seated").textContent = String(board.seated);
  for (const c of board.calls) {
    if (seen.has(c.ticket)) continue;
    seen.add(c.ticket);
    if (!first) announce(c.ticket);
  }
  if (first && board.calls.length) $("#caption").textContent = "";
  first = false;
}

async function poll() {
  try {
    render(await get(`/api/halls/${encodeURIComponent(CENTRE)}/board`));
    $("#stale").hidden = true;
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      location.reload(); // the login ended: the login form
      return;
    }
    $("#stale").hidden = false;
  }
  setTimeout(poll, POLL_MS);
}

function tickClock() {
  $("#clock").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false });
}

function main() {
  apply();
  applyCentreName();
  $("#novoice").hidden = voices().length > 0;
  window.speechSynthesis?.addEventListener?.("voiceschanged", () => {
    $("#novoice").hidden = voices().length > 0;
  });
  // Browsers speak only after a touch on the page: the display PC's staff touch this once.
  $("#btn-voice").addEventListener("click", () => {
    voiceOn = true;
    const b = $("#btn-voice");
    b.dataset.i18n = "voice_ready";
    b.textContent = tIn(document.documentElement.lang === "en" ? "en" : "zh", "voice_ready");
    b.disabled = true;
    speak("zh", "");
  });
  tickClock();
  setInterval(tickClock, 1000);
  poll();
}

main();
