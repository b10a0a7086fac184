// Chinese first, English on a switch. Strings live in strings.json (the template renders the
// Chinese ones server-side; this module re-renders every [data-i18n] element on a switch).

let STRINGS = { zh: {}, en: {} };
let lang = localStorage.getItem("rw.console.lang") === "en" ? "en" : "zh";
const listeners = new Set();

export async function loadStrings() {
  const resp = await fetch("/console/static/strings.json", { cache: "no-cache" });
  STRINGS = await resp.json();
  apply();
}

export function t(key, vars = {}) {
  const s = STRINGS[lang]?.[key] ?? STRINGS.zh?.[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? `{${k}}`));
}

export function has(key) {
  return key in (STRINGS[lang] || {}) || key in (STRINGS.zh || {});
}

export const getLang = () => lang;

/** A name in the current language from a {name_zh, name_en} record. */
export function nameOf(rec, fallback = "") {
  if (!rec) return fallback;
  return (lang === "en" ? rec.name_en : rec.name_zh) || rec.name_zh || fallback;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem("rw.console.lang", lang);
  apply();
  for (const fn of listeners) fn(lang);
}

export function onLang(fn) {
  listeners.add(fn);
}

export function apply(root = document) {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}
