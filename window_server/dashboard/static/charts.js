// Two uPlot charts of one day per 15 minutes: sessions waiting, and the service level.

import uPlot from "/dashboard/vendor/uPlot.esm.js";
import { t } from "./i18n.js";

const charts = new Map();

function seconds(buckets, day) {
  // x values: epoch seconds of each bucket in the browser's clock (labels only, no maths on them)
  const [y, m, d] = day.split("-").map(Number);
  return buckets.map((b) => {
    const [h, min] = b.split(":").map(Number);
    return new Date(y, m - 1, d, h, min).getTime() / 1000;
  });
}

function draw(id, title, xs, ys, opts) {
  const el = document.getElementById(id);
  const width = Math.max(320, (el.clientWidth || 480) - 20);
  const data = [xs, ys];
  const old = charts.get(id);
  if (old && old.title === title) {
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
      axes: [{}, { values: opts.values }],
      series: [{}, { label: opts.label, stroke: opts.color, fill: opts.fill, width: 2, spanGaps: opts.spanGaps }],
      legend: { show: true },
    },
    data,
    el,
  );
  charts.set(id, { plot, title });
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
    values: (u, v) => v.map((x) => (Number.isInteger(x) ? x : "")),
  });
  const level = series.service_level.slice(lo, hi).map((v) => (v === null ? null : v * 100));
  draw("chart-level", t("chart_level"), xs.slice(lo, hi), level, {
    label: t("service_level"), color: "#2da44e", fill: "rgba(45,164,78,0.10)", y: { range: [0, 100] },
    values: (u, v) => v.map((x) => `${x}%`), spanGaps: true,
  });
}

/** Forget the charts (the language changed: titles are redrawn). */
export function resetCharts() {
  for (const { plot } of charts.values()) plot.destroy();
  charts.clear();
}
