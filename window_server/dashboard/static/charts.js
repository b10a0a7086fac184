// Two uPlot charts of one day per 15 minutes: sessions waiting, and the service level.

import uPlot from "/dashboard/vendor/uPlot.esm.js";
import { currentLang, t } from "./i18n.js";

const charts = new Map();

function seconds(buckets, day) {
  // x values: epoch seconds of each bucket in the browser's clock (labels only, no maths on them)
  const [y, m, d] = day.split("-").map(Number);
  return buckets.map((b) => {
    const [h, min] = b.split(":").map(Number);
    return new Date(y, m - 1, d, h, min).getTime() / 1000;
  });
}

const pad = (n) => String(n).padStart(2, "0");

/** A time of day on the axis in the page's language: "08时" / "08:30" (zh), "08:00" (en); never "8am". */
export function axisTime(sec) {
  const d = new Date(sec * 1000);
  const [h, m] = [d.getHours(), d.getMinutes()];
  return currentLang() === "zh" && m === 0 ? `${pad(h)}时` : `${pad(h)}:${pad(m)}`;
}

/** A quarter hour in the legend: "08:15–08:30". */
function legendTime(sec) {
  const end = new Date((sec + 900) * 1000);
  const d = new Date(sec * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}–${pad(end.getHours())}:${pad(end.getMinutes())}`;
}

// The time axis's labels as drawn (on canvas), also on the chart's element: readable by tests and tools.
function ticks(el, labels) {
  el.dataset.xTicks = labels.join(" ");
  return labels;
}

function draw(id, title, xs, ys, opts) {
  const el = document.getElementById(id);
  const width = Math.max(320, (el.clientWidth || 480) - 20);
  const data = [xs, ys];
  const old = charts.get(id);
  if (old && old.title === title && old.lang === currentLang()) {
    old.plot.setData(data);
    if (Math.abs(old.plot.width - width) > 4) old.plot.setSize({ width, height: 220 });
    return;
  }
  if (old) old.plot.destroy();
  el.textContent = "";
  const plot = new uPlot(
    {
      title,
      width,
      height: 220,
      scales: { x: { time: true }, y: opts.y },
      // the page's language on both axes and in the legend (uPlot's own are English: "8am", "Time", "--")
      axes: [{ values: (u, splits) => ticks(el, splits.map(axisTime)) }, { values: opts.values }],
      series: [
        { label: t("chart_time"), value: (u, v) => (v === null || v === undefined ? "–" : legendTime(v)) },
        {
          label: opts.label, stroke: opts.color, fill: opts.fill, width: 2, spanGaps: opts.spanGaps,
          value: (u, v) => (v === null || v === undefined ? "–" : opts.legend(v)),
        },
      ],
      legend: { show: true },
    },
    data,
    el,
  );
  el.dataset.lang = currentLang();
  charts.set(id, { plot, title, lang: currentLang() });
}

/** Draw (or update) both charts from /api/dashboard/series. */
export function drawSeries(series) {
  const xs = seconds(series.buckets, series.day.slice(0, 4) + "-" + series.day.slice(4, 6) + "-" + series.day.slice(6));
  // Only the opening hours matter on a hall's chart: from the first to the last bucket with activity.
  let first = series.waiting.findIndex((v, i) => (v ?? 0) > 0 || series.tickets[i] > 0);
  if (first < 0) first = 32; // 08:00
  let last = series.buckets.length - 1;
  while (last > first && !series.tickets[last] && (series.waiting[last] ?? 0) === (series.waiting[last - 1] ?? 0)) last--;
  const lo = Math.max(0, Math.min(first, 32) - 1);
  const hi = Math.min(series.buckets.length, Math.max(last + 2, 72)); // at least to 18:00
  draw("chart-waiting", t("chart_waiting"), xs.slice(lo, hi), series.waiting.slice(lo, hi), {
    label: t("waiting"), color: "#1f6feb", fill: "rgba(31,111,235,0.12)", y: { range: (u, a, b) => [0, Math.max(1, b)] },
    values: (u, v) => v.map((x) => (Number.isInteger(x) ? x : "")), legend: (v) => t("n_people", { n: v }),
  });
  const level = series.service_level.slice(lo, hi).map((v) => (v === null ? null : v * 100));
  draw("chart-level", t("chart_level"), xs.slice(lo, hi), level, {
    label: t("service_level"), color: "#2da44e", fill: "rgba(45,164,78,0.10)", y: { range: [0, 100] },
    values: (u, v) => v.map((x) => `${x}%`), spanGaps: true, legend: (v) => `${v.toFixed(1)}%`,
  });
}

/** Forget the charts (the language changed: titles are redrawn). */
export function resetCharts() {
  for (const { plot } of charts.values()) plot.destroy();
  charts.clear();
}
