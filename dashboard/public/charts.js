// Trend charts (uPlot, served from vendor/) and the service table's
// sparklines. Both are drawn from history kept in this tab only: a point per
// live update (about one a second), from successive views.

import { byId, h, setText } from "./dom.js";
import { fmtClock, fmtMs, fmtRps, isNum } from "./format.js";

const MAX_POINTS = 300;
const SPARK_POINTS = 60;
const CHART_HEIGHT = 160;

// ------------------------------------------------------------------ history

/** scope ("" = all services) → parallel arrays for uPlot. */
const trends = new Map();
/** service → { rps, p95, errors }: the sparklines' last SPARK_POINTS values. */
const sparks = new Map();

function seriesFor(scope) {
  let entry = trends.get(scope);
  if (!entry) {
    entry = { t: [], p50: [], p95: [], p99: [], rps: [] };
    trends.set(scope, entry);
  }
  return entry;
}

function push(array, value, max) {
  array.push(value);
  if (array.length > max) array.splice(0, array.length - max);
}

function recordTrend(scope, t, stats) {
  const s = seriesFor(scope);
  const last = s.t[s.t.length - 1];
  if (last !== undefined && t <= last) return; // the same update twice, or out of order
  const recent = (stats && stats.recent) || {};
  s.t.push(t);
  s.p50.push(isNum(recent.p50) ? recent.p50 : null);
  s.p95.push(isNum(recent.p95) ? recent.p95 : null);
  s.p99.push(isNum(recent.p99) ? recent.p99 : null);
  s.rps.push(stats && isNum(stats.rps) ? stats.rps : null);
  if (s.t.length > MAX_POINTS) for (const key of Object.keys(s)) s[key].splice(0, s.t.length - MAX_POINTS);
}

/** Records a point for the whole fleet and for every service, at `t` (seconds). */
export function record(view, t) {
  recordTrend("", t, view.global);
  for (const [name, service] of view.services) {
    recordTrend(name, t, service);
    let s = sparks.get(name);
    if (!s) {
      s = { rps: [], p95: [], errors: [] };
      sparks.set(name, s);
    }
    push(s.rps, service.rps, SPARK_POINTS);
    push(s.p95, service.recent ? service.recent.p95 : null, SPARK_POINTS);
    push(s.errors, service.recent ? service.recent.errorRate : null, SPARK_POINTS);
  }
  for (const name of sparks.keys()) if (!view.services.has(name)) sparks.delete(name);
}

export const sparkHistory = (name) => sparks.get(name) || null;

// ------------------------------------------------------------------ uPlot charts

const charts = { latency: null, throughput: null, scope: "" };

function chartWidth(box) {
  return Math.max(200, Math.floor(box.clientWidth || 300));
}

function makeChart(box, series, valueFormat) {
  const options = {
    width: chartWidth(box),
    height: CHART_HEIGHT,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, (max || 0) * 1.15)] } },
    axes: [
      {
        stroke: "#4b5563",
        grid: { stroke: "#e5e7eb" },
        ticks: { stroke: "#d1d5db" },
        space: 70,
        // Whole seconds at least: updates arrive about once a second.
        incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
        values: (_u, splits) => splits.map((v) => fmtClock(v)),
      },
      { stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, ticks: { stroke: "#d1d5db" }, size: 48, values: (_u, splits) => splits.map((v) => valueFormat(v)) },
    ],
    series: [{ label: "Time", value: (_u, v) => (v === null || v === undefined ? "—" : fmtClock(v)) }, ...series],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  return new window.uPlot(options, [[], ...series.map(() => [])], box);
}

export function initCharts() {
  if (typeof window.uPlot !== "function") {
    for (const id of ["chart-latency", "chart-throughput"]) setText(byId(id), "Charts are unavailable (uPlot did not load).");
    return;
  }
  const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v * 10) / 10}`);
  const rps = (v) => `${Math.round(v * 100) / 100}`;
  const value = (fmt) => (_u, v) => (v === null || v === undefined ? "—" : fmt(v));
  charts.latency = makeChart(
    byId("chart-latency"),
    [
      { label: "p50", stroke: "#2563eb", width: 2, value: value(fmtMs) },
      { label: "p95", stroke: "#d97706", width: 2, value: value(fmtMs) },
      { label: "p99", stroke: "#dc2626", width: 2, value: value(fmtMs) },
    ],
    ms,
  );
  charts.throughput = makeChart(byId("chart-throughput"), [{ label: "req/s (1 min)", stroke: "#059669", fill: "rgba(5,150,105,0.12)", width: 2, value: value((v) => `${fmtRps(v)} req/s`) }], rps);
  if (typeof ResizeObserver === "function") {
    const observer = new ResizeObserver(() => {
      for (const [chart, id] of [
        [charts.latency, "chart-latency"],
        [charts.throughput, "chart-throughput"],
      ]) {
        const width = chartWidth(byId(id));
        if (chart && chart.width !== width) chart.setSize({ width, height: CHART_HEIGHT });
      }
    });
    observer.observe(byId("chart-latency"));
    observer.observe(byId("chart-throughput"));
  }
  byId("chart-scope").addEventListener("change", (event) => {
    charts.scope = event.target.value;
    drawCharts();
  });
}

export function drawCharts() {
  if (!charts.latency || !charts.throughput) return;
  const s = seriesFor(charts.scope);
  charts.latency.setData([s.t.slice(), s.p50.slice(), s.p95.slice(), s.p99.slice()]);
  charts.throughput.setData([s.t.slice(), s.rps.slice()]);
}

/** Keeps the scope picker's options in step with the services (sorted by name). */
export function syncScopeOptions(names) {
  const select = byId("chart-scope");
  const wanted = ["", ...names];
  const have = [...select.options].map((o) => o.value);
  if (have.join("\u0000") === wanted.join("\u0000")) return;
  const current = select.value;
  select.replaceChildren(...wanted.map((name) => h("option", { text: name === "" ? "All services" : name, attrs: { value: name } })));
  select.value = wanted.includes(current) ? current : "";
  if (select.value !== charts.scope) charts.scope = select.value;
}
