// Issue 18 (conversation): every spoken prompt is also shown in the caption strip, large; and
// when this machine has no voice for the language (no speechSynthesis, or getVoices() has none
// for zh/en after voiceschanged or a short wait) the strip says so instead of staying silent:
// 本机没有语音播报，请看屏幕上的文字. The caption shows either way.

import { $ } from "../shared/dom.js";
import { getLang, onLang } from "./i18n.js";

const VOICE_WAIT_MS = 1500; // voices load late in some browsers: judge after voiceschanged or this long
// A caption stays about as long as reading it slowly takes (then the screen gets its room back;
// 再听一遍 shows it again).
const SHOWN_MIN_MS = 10000;
const SHOWN_PER_CHAR_MS = 250;
let judged = false; // the wait is over (or voiceschanged came)
let hideTimer = null;

/** Whether this browser can speak `lang` ("zh" | "en") now. */
export function canSpeak(lang = getLang()) {
  const synth = window.speechSynthesis;
  if (!synth || typeof SpeechSynthesisUtterance === "undefined") return false;
  let voices = [];
  try {
    voices = synth.getVoices() || [];
  } catch {
    return false;
  }
  return voices.some((v) => (v.lang || "").replace("_", "-").toLowerCase().startsWith(lang));
}

function showNotice() {
  const el = $("#caption-novoice");
  if (!el) return;
  el.hidden = !judged || canSpeak();
  document.body.dataset.voice = el.hidden ? "yes" : "no";
  strip();
}

// The strip shows while there is a caption; the no-voice notice goes with it (it says why the
// words are there instead of a voice).
function strip() {
  const box = $("#caption");
  if (!box) return;
  box.hidden = !$("#caption-text").textContent;
}

/** Show `text` in the caption strip (what was just spoken, or would have been). */
export function caption(text) {
  const el = $("#caption-text");
  if (!el) return;
  el.textContent = text || "";
  strip();
  clearTimeout(hideTimer);
  if (text) {
    hideTimer = setTimeout(() => {
      el.textContent = "";
      strip();
    }, Math.max(SHOWN_MIN_MS, text.length * SHOWN_PER_CHAR_MS));
  }
}

/** Watch for voices: the no-voice notice appears once it is clear there are none for the language. */
export function bindCaption() {
  const synth = window.speechSynthesis;
  const judge = () => {
    judged = true;
    showNotice();
  };
  if (synth && typeof synth.addEventListener === "function") synth.addEventListener("voiceschanged", judge);
  if (canSpeak()) judge();
  else setTimeout(judge, VOICE_WAIT_MS);
  onLang(() => showNotice());
}
