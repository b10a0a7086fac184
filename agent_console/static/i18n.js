// The console's words: strings.json (the template renders the Chinese ones server-side), bound to
// the shared engine; the specialist's language choice is remembered on this computer.

import { createI18n } from "../shared/i18n.js";

const i18n = createI18n({ remember: "rw.console.lang" });

export const { t, tIn, has, nameOf, getLang, setLang, onLang, apply } = i18n;

export async function loadStrings() {
  const resp = await fetch("/console/static/strings.json", { cache: "no-cache" });
  i18n.setStrings(await resp.json());
}
