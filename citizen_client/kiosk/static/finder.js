// Finding the matter, starting from the matter (not from the jurisdiction): a search that
// understands Chinese, English, pinyin (yibao) and its initials (qysl → 企业设立登记) and common
// names (医保, 营业执照), a few large category tiles, and the list. A matter offered by several
// regions under one name shows once; the place is asked after, only when there is a choice, in
// plain words (上海的 / 江苏南京的), grouped by province. The pinyin and the initials come from the
// server (GET /api/catalogue: `pinyin`, `initials`, computed with pypinyin when it is served).

import { $, h } from "../shared/dom.js";
import { getLang, nameOf, t } from "./i18n.js";
import { say } from "./speech.js";
import { S } from "./state.js";
import { go } from "./screens.js";

// --- the matters as the citizen sees them: one entry per name ---------------------------------

let cache = { catalogue: null, groups: [] };

/** The catalogue's matters grouped by their Chinese name (first seen order); cached per catalogue. */
export function matterGroups() {
  if (cache.catalogue !== S.catalogue) {
    const byName = new Map();
    for (const m of S.catalogue?.matters || []) {
      const g = byName.get(m.name_zh);
      if (g) {
        g.matters.push(m);
        for (const a of m.aliases || []) if (!g.aliases.includes(a)) g.aliases.push(a);
        g.pinyin.push(...(m.pinyin || []));
        g.initials.push(...(m.initials || []));
      } else {
        byName.set(m.name_zh, { name_zh: m.name_zh, name_en: m.name_en, theme: m.theme, audience: m.audience,
          matters: [m], aliases: [...(m.aliases || [])], pinyin: [...(m.pinyin || [])], initials: [...(m.initials || [])] });
      }
    }
    cache = { catalogue: S.catalogue, groups: [...byName.values()] };
  }
  return cache.groups;
}

export const groupOf = (code) => matterGroups().find((g) => g.matters.some((m) => m.code === code)) || null;

// What most citizens come for first (people's matters, then a company's); other themes follow,
// the most offered first.
const FIRST = ["社保", "医疗", "户籍", "住房", "养老", "企业准入", "就业", "出生", "出行", "教育", "纳税", "经营", "注销", "身后"];

/** The catalogue's themes as category tiles. */
export function categories() {
  const count = new Map();
  for (const g of matterGroups()) count.set(g.theme, (count.get(g.theme) || 0) + 1);
  const rank = (theme) => (FIRST.includes(theme) ? FIRST.indexOf(theme) : FIRST.length);
  return [...count.keys()].sort((a, b) => rank(a) - rank(b) || count.get(b) - count.get(a));
}

/** A theme's words on its tile (i18n.js cat_<theme>; a theme without them shows as the catalogue has it). */
export function categoryName(theme) {
  const key = `cat_${theme}`;
  const label = t(key);
  return label === key ? theme : label;
}

// --- search ------------------------------------------------------------------------------------

const HAN = /[\u3400-\u9fff]/;
const norm = (s) => String(s || "").toLowerCase().replace(/[\s'’·・,，.。、\-–—_()（）“”"《》]/g, "");

/** How well a group answers the query (0: not at all). Chinese is matched in the names and the
 * aliases; Latin letters in the English names, the pinyin and its initials (a prefix first). */
export function score(g, query) {
  const q = norm(query);
  if (!q) return 0;
  let best = 0;
  const hit = (_, points) => {
    best = Math.max(best, points);
  };
  const name = norm(g.name_zh);
  if (HAN.test(q)) {
    if (name.startsWith(q)) hit(1, 100);
    else if (name.includes(q)) hit(1, 90);
    for (const a of g.aliases) {
      const n = norm(a);
      if (n === q) hit(1, 95);
      else if (n.startsWith(q)) hit(1, 80);
      else if (n.includes(q)) hit(1, 60);
    }
    if (norm(categoryName(g.theme)).includes(q) || norm(g.theme).includes(q)) hit(1, 40);
    return best;
  }
  const english = [g.name_en, ...g.aliases.filter((a) => !HAN.test(a))].map(norm);
  english.forEach((e, i) => {
    if (e.startsWith(q)) hit(1, i === 0 ? 92 : 78);
    else if (q.length >= 3 && e.includes(q)) hit(1, i === 0 ? 70 : 58);
  });
  // Words of the English name in any order ("licence business").
  const words = String(query).toLowerCase().split(/\s+/).filter((w) => w.length >= 3);
  if (words.length > 1 && words.every((w) => norm(g.name_en).includes(norm(w)))) hit(1, 65);
  g.initials.forEach((x, i) => {
    if (x.startsWith(q)) hit(1, i === 0 ? 97 : 85);
    else if (q.length >= 3 && x.includes(q)) hit(1, 50);
  });
  g.pinyin.forEach((p, i) => {
    if (p.startsWith(q)) hit(1, i === 0 ? 96 : 84);
    else if (q.length >= 4 && p.includes(q)) hit(1, 55);
  });
  return best;
}

/** The groups matching the query, best first (catalogue order among equals). */
export function search(query) {
  return matterGroups()
    .map((g, i) => ({ g, i, s: score(g, query) }))
    .filter((x) => x.s > 0)
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .map((x) => x.g);
}

// --- the matter screen -------------------------------------------------------------------------

function matterButton(g) {
  const days = g.matters.every((m) => m.promised_days === 0) ? t("matter_days_0")
    : t("matter_days", { n: Math.max(...g.matters.map((m) => m.promised_days)) });
  const who = t(g.audience === "company" ? "matter_for_company" : "matter_for_person");
  // how it is handled (any of its regions), in plain words: 全程网办 · 异地代收代办
  const modes = [...new Set(g.matters.flatMap((m) => m.service_modes || []))].map((mode) => t(`mode_${mode}`));
  return h("button", { class: "matter", type: "button",
    dataset: { name: g.name_zh, matters: g.matters.map((m) => m.code).join(" ") },
    on: { click: () => chooseGroup(g) } },
  h("span", { class: "matter-title" }, nameOf(g)), h("small", {}, `${who} · ${days}`),
  modes.length ? h("small", { class: "modes" }, modes.join(" · ")) : null);
}

export function renderMatters() {
  const cats = $("#matter-categories");
  cats.replaceChildren();
  for (const theme of categories()) {
    cats.append(h("button", { class: "category", type: "button", dataset: { theme },
      "aria-pressed": String(S.category === theme),
      on: { click: () => {
        S.category = S.category === theme ? null : theme;
        $("#matter-search").value = "";
        renderMatters();
      } } }, categoryName(theme)));
  }
  const q = $("#matter-search").value.trim();
  const list = $("#matter-list");
  list.replaceChildren();
  let heading;
  let shown;
  if (q) {
    shown = search(q);
    heading = t("matter_found", { n: shown.length });
  } else if (S.category) {
    shown = matterGroups().filter((g) => g.theme === S.category);
    heading = categoryName(S.category);
  } else {
    shown = matterGroups();
    heading = t("matter_all");
  }
  list.append(h("h2", { class: "theme", id: "matter-heading" }, heading));
  if (!shown.length) {
    list.append(h("p", { class: "empty" }, t("matter_none")));
    return;
  }
  list.append(h("div", { class: "matter-list" }, shown.map(matterButton)));
}

/** A matter was touched: one region decides it; several ask for the place. */
export function chooseGroup(g) {
  S.group = g.name_zh;
  if (g.matters.length === 1) {
    S.matter = g.matters[0].code;
    S.region = g.matters[0].region;
    go("priority");
    return;
  }
  S.matter = null;
  S.region = null;
  go("place");
}

// --- the place, after the matter ---------------------------------------------------------------

const MUNICIPAL = new Set(["11", "12", "31", "50"]); // 北京 天津 上海 重庆: a province-level city
const shortZh = (name) => String(name || "").replace(/(省|市|自治区|特别行政区)$/, "");
const shortEn = (name) => String(name || "").replace(/ Province$/, "");

export function provinceOf(code) {
  return (S.catalogue?.provinces || []).find((p) => p.code === `${code.slice(0, 2)}0000`) || null;
}

function regionIn(code) {
  for (const p of S.catalogue?.provinces || []) {
    const r = p.regions.find((x) => x.code === code);
    if (r) return r;
  }
  return null;
}

/** The place in plain words: 上海的, 江苏南京的, 上海黄浦区的, 江苏苏州吴江区的 / Nanjing, Jiangsu. */
export function placeWords(code) {
  const r = regionIn(code);
  const p = provinceOf(code);
  if (!r || !p) return code;
  if (getLang() === "en") {
    return r.level === "province" ? shortEn(p.name_en) : `${r.name_en}, ${shortEn(p.name_en)}`;
  }
  let words = shortZh(p.name_zh);
  if (r.level === "city") words += shortZh(r.name_zh);
  else if (r.level === "district") {
    const city = regionIn(`${code.slice(0, 4)}00`);
    if (city && city.level === "city" && !MUNICIPAL.has(code.slice(0, 2))) words += shortZh(city.name_zh);
    words += r.name_zh;
  }
  return t("place_of", { place: words });
}

export function chosenGroup() {
  return matterGroups().find((g) => g.name_zh === S.group) || groupOf(S.matter);
}

/** Whether the chosen matter asks for the place (it exists in several regions). */
export function needsPlace() {
  const g = S.matter ? groupOf(S.matter) : chosenGroup();
  return Boolean(g && g.matters.length > 1);
}

export function renderPlaces() {
  const g = chosenGroup();
  const list = $("#place-list");
  list.replaceChildren();
  if (!g) return;
  $("#place-matter").textContent = nameOf(g);
  const byProvince = new Map();
  for (const m of [...g.matters].sort((a, b) => a.region.localeCompare(b.region))) {
    const p = provinceOf(m.region);
    if (!byProvince.has(p?.code)) byProvince.set(p?.code, { p, matters: [] });
    byProvince.get(p?.code).matters.push(m);
  }
  for (const { p, matters } of byProvince.values()) {
    const group = h("div", { class: "tiles place-tiles", role: "group", "aria-label": nameOf(p) });
    for (const m of matters) {
      group.append(h("button", { class: "tile place", type: "button", dataset: { region: m.region, matter: m.code },
        on: { click: () => {
          S.matter = m.code;
          S.region = m.region;
          go("priority");
        } } }, h("span", { class: "tile-title" }, placeWords(m.region)), h("small", {}, m.department)));
    }
    list.append(h("section", { class: "province" }, h("h2", { class: "theme" }, nameOf(p)), group));
  }
}

export function sayPlace() {
  say("say_place");
}
