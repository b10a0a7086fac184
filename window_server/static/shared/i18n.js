// One translation engine for every page: Chinese first, English on a switch. Each page keeps its
// words in its own table ({zh: {key: text}, en: {...}}) and binds them here; elements carry
// data-i18n="key" (text), data-i18n-title, data-i18n-placeholder or data-i18n-label (aria-label),
// and apply() fills them. Served at /<page>/shared/i18n.js.

/**
 * A page's translator.
 * @param {object} o
 * @param {{zh: object, en: object}} [o.strings]  the page's table (or setStrings() later)
 * @param {string|null} [o.remember]  localStorage key that keeps the choice across visits; null
 *   for a page shared by strangers (the kiosk starts every citizen in Chinese)
 */
export function createI18n({ strings = { zh: {}, en: {} }, remember = null } = {}) {
  let table = strings;
  let lang = remember && localStorage.getItem(remember) === "en" ? "en" : "zh";
  const listeners = new Set();

  /** A string in a given language, whatever the screen shows; {name} placeholders filled. */
  function tIn(language, key, vars = {}) {
    const s = table[language]?.[key] ?? table.zh?.[key] ?? key;
    return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? `{${k}}`));
  }

  const t = (key, vars = {}) => tIn(lang, key, vars);

  function apply(root = document) {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
    for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
    for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }

  return {
    t,
    tIn,
    apply,
    has: (key) => key in (table[lang] || {}) || key in (table.zh || {}),
    getLang: () => lang,
    /** A name in the current language from a {name_zh, name_en} record. */
    nameOf(rec, fallback = "") {
      if (!rec) return fallback;
      return (lang === "en" ? rec.name_en : rec.name_zh) || rec.name_zh || fallback;
    },
    /** Replace the table (a page that loads its words) and re-render. */
    setStrings(next) {
      table = next;
      apply();
    },
    setLang(next) {
      lang = next === "en" ? "en" : "zh";
      if (remember) localStorage.setItem(remember, lang);
      apply();
      for (const fn of listeners) fn(lang);
    },
    onLang(fn) {
      listeners.add(fn);
    },
  };
}
