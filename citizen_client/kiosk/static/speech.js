// Spoken prompts (speechSynthesis) where the browser can speak; silent where it cannot. Every
// prompt is also shown on screen, so nothing depends on sound. The last prompt can be repeated.

import { getLang, t } from "./i18n.js";
import { caption } from "./caption.js";

const log = []; // the most recent prompts, newest last (read by the page tests)
let last = null;

function speak(text) {
  log.push({ lang: getLang(), text });
  if (log.length > 40) log.shift();
  caption(text); // issue 18: what is spoken is also shown (and what cannot be spoken)
  const synth = window.speechSynthesis;
  if (!synth || typeof SpeechSynthesisUtterance === "undefined") return;
  try {
    synth.cancel(); // a new screen's prompt replaces the old one
    const u = new SpeechSynthesisUtterance(text);
    u.lang = getLang() === "en" ? "en-GB" : "zh-CN";
    u.rate = 0.85; // a little slower than normal: easier for older listeners
    const voice = synth.getVoices().find((v) => v.lang && v.lang.replace("_", "-").startsWith(u.lang.slice(0, 2)));
    if (voice) u.voice = voice;
    synth.speak(u);
  } catch {
    // no voice on this machine: the text on screen is enough
  }
}

/** Say the prompt `key` (with its variables) in the current language. */
export function say(key, vars = {}) {
  last = { key, vars };
  speak(t(key, vars));
}

/** Say the last prompt again (the "say it again" button, or after a language switch). */
export function repeat() {
  if (last) speak(t(last.key, last.vars));
}

export function hush() {
  last = null;
  caption("");
  try {
    window.speechSynthesis?.cancel();
  } catch {
    // nothing to stop
  }
}

export const spoken = () => log.slice();
window.rwKioskSpoken = spoken;
