// What the specialist is told: toasts, error texts, the ring of an offer.

import { $, h } from "../shared/dom.js";
import { t, has } from "./i18n.js";

export function parseJson(s) {
  if (!s) return null;
  if (typeof s === "object") return s;
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

export function errText(err) {
  const key = `err.${err.code}`;
  return has(key) ? t(key) : t("err.generic", { msg: err.message || err.code });
}

export function report(err) {
  console.warn(err);
  toast(errText(err), "bad");
}

export function toast(text, kind = "info") {
  const el = h(`div.toast.${kind}`, text);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "bad" ? 6000 : 3500);
}

let audio = null;
let ringTimer = 0;

/** Whether the browser lets the ring play now (an AudioContext that is not suspended). */
export function soundAllowed() {
  return !!audio && audio.state === "running";
}

/**
 * Ring while an offer rings: a two-tone beep every 1.5 s until ring(false). Never throws: with
 * audio blocked (no user gesture yet, no output device) the beeps are silent and the offer says so.
 */
export function ring(on) {
  if (!!on === !!ringTimer) return; // already ringing, or already quiet
  clearInterval(ringTimer);
  ringTimer = 0;
  if (window.rwConsole) window.rwConsole.ringing = !!on; // for the tests
  if (!on) return;
  beep();
  ringTimer = setInterval(() => beep(), 1500);
}

export function beep() {
  if (window.rwConsole) window.rwConsole.beeps = (window.rwConsole.beeps || 0) + 1; // for the tests
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.08, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.36);
  } catch {
    /* no audio output */
  }
}
