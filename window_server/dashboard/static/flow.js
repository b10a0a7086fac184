// The intake → serving centre flow (N5): which centre served which hall's citizens over the range,
// as a heat map (rows: intake halls, columns: serving centres; darker is more) and, beside it, how
// many other halls' sessions each partner centre carried. Colour is never the only cue: every cell
// shows its number, and partner cells are framed.

import { get, query } from "../shared/api.js";
import { $, h as el } from "../shared/dom.js";
import { t } from "./i18n.js";

const SHADES = 5;
let last = null;
let names = null;

/** Fetch and draw the flow of a scope and range. */
export async function fetchFlow(params, centreName) {
  names = centreName;
  last = await get(`/api/dashboard/flow${query(params)}`);
  renderFlow();
}

/** Draw the last flow again (the language changed). */
export function renderFlow() {
  if (!last) return;
  const box = $("#flow");
  const flow = last;
  const served = new Map(flow.cells.map((c) => [`${c.intake}→${c.serving}`, c]));
  const max = Math.max(1, ...flow.cells.map((c) => c.served));
  if (!flow.servings.length) {
    box.replaceChildren(el("p", { class: "quiet" }, t("none")));
    $("#flow-partners").replaceChildren();
    return;
  }
  const table = el(
    "table",
    { class: "grid heat" },
    el(
      "thead",
      {},
      el("tr", {}, el("th", {}, `${t("intake")} \\ ${t("serving")}`), ...flow.servings.map((s) => el("th", { "data-serving": s }, names(s)))),
    ),
    el(
      "tbody",
      {},
      ...flow.intakes.map((i) =>
        el(
          "tr",
          { "data-intake": i },
          el("th", {}, names(i)),
          ...flow.servings.map((s) => {
            const c = served.get(`${i}→${s}`);
            const n = c ? c.served : 0;
            const shade = n ? Math.max(1, Math.ceil((n / max) * SHADES)) : 0;
            return el(
              "td",
              {
                class: `num heat-${shade}${c && c.partner_served ? " partner" : ""}`,
                "data-intake": i,
                "data-serving": s,
                "data-partner": c ? c.partner_served : 0,
                title: t(c && c.partner_served ? "flow_cell_partner" : "flow_cell", { a: names(i), b: names(s), n, p: c ? c.partner_served : 0 }),
              },
              n ? String(n) : "",
              c && c.partner_served ? el("small", { class: "partner-n" }, ` · ${t("partner_short")} ${c.partner_served}`) : "",
            );
          }),
        ),
      ),
    ),
  );
  box.replaceChildren(table);
  const top = Math.max(1, ...flow.partners.map((p) => p.served));
  $("#flow-partners").replaceChildren(
    ...flow.partners.map((p) =>
      el(
        "li",
        { "data-centre": p.centre },
        el("span", { class: "bar-name" }, names(p.centre)),
        el("progress", { max: top, value: p.served }),
        el("span", { class: "num" }, String(p.served)),
      ),
    ),
  );
}
