/**
 * docs/grafana-dashboard.json may only query metrics our Prometheus output
 * really has. The names come from rendering real sample data with the real
 * functions (as metrics-prometheus.test.ts does) and reading the `# TYPE`
 * lines, plus the series names a histogram or summary adds.
 *
 * The functions are looked up by name across src/core (pure code, no
 * cloudflare:* imports), so this test follows them if a file is renamed or split.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "../..");

const coreModules = import.meta.glob<Record<string, unknown>>("../../src/core/**/*.ts", { eager: true });

/** The one function of that name exported from src/core (re-exports of the same function count once). */
function coreFunction<F>(name: string): F {
  const found = new Set<unknown>();
  for (const module of Object.values(coreModules)) if (typeof module[name] === "function") found.add(module[name]);
  if (found.size !== 1) throw new Error(`expected one function ${name} exported from src/core, found ${found.size}`);
  return [...found][0] as F;
}

interface Outcome {
  readonly service: string;
  readonly instance: string;
  readonly statusClass: "2xx" | "3xx" | "4xx" | "5xx" | "gateway";
  readonly durationMs: number;
  readonly bytes: number;
  readonly at: number;
  readonly gatewayKind?: "timeout" | "connect";
}

const createMetricsState = coreFunction<() => unknown>("createMetricsState");
const applyBatch = coreFunction<(state: unknown, batch: unknown, now: number) => unknown>("applyBatch");
interface SocketEvent {
  readonly kind: "opened" | "closed";
  readonly service: string;
  readonly instance: string;
  readonly at: number;
  readonly durationMs?: number;
  readonly closeCode?: number | null;
}

const aggregateBatch = coreFunction<(records: Iterable<Outcome>, sockets?: Iterable<SocketEvent>) => unknown>("aggregateBatch");
const prometheusText = coreFunction<(state: unknown, extras?: unknown) => string>("prometheusText");

const NOW = Date.UTC(2026, 11, 6, 6, 0, 0);

/** Real sample data: every status class, gateway failures, WebSocket connections, gauges for in-flight, health and open connections. */
function exposition(): string {
  const records: Outcome[] = [
    ...[3, 7, 20, 80, 300, 2000, 12000].map((durationMs) => ({ service: "api", instance: "api-1", statusClass: "2xx" as const, durationMs, bytes: 100, at: NOW })),
    { service: "api", instance: "api-2", statusClass: "5xx", durationMs: 40, bytes: 10, at: NOW },
    { service: "api", instance: "api-2", statusClass: "4xx", durationMs: 5, bytes: 10, at: NOW },
    { service: "banking", instance: "bank-1", statusClass: "gateway", durationMs: 5000, bytes: 0, at: NOW, gatewayKind: "timeout" },
    { service: "banking", instance: "bank-1", statusClass: "3xx", durationMs: 2, bytes: 0, at: NOW },
  ];
  const sockets: SocketEvent[] = [
    { kind: "opened", service: "api", instance: "api-1", at: NOW },
    { kind: "opened", service: "api", instance: "api-1", at: NOW },
    { kind: "closed", service: "api", instance: "api-1", at: NOW, durationMs: 90_000, closeCode: 1000 },
  ];
  const state = applyBatch(createMetricsState(), aggregateBatch(records, sockets), NOW);
  return prometheusText(state, {
    api: { instances: { "api-1": { health: "healthy", inflight: 2, websockets: 1 }, "api-2": { health: "unhealthy", inflight: 0, websockets: 0 } } },
    banking: { instances: { "bank-1": { health: "degraded", inflight: 1 } } },
  });
}

/** Every series name the exposition can hold: each `# TYPE` family, and a histogram's or summary's own series. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name = "", type = ""] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    else if (type === "summary") for (const series of [name, `${name}_sum`, `${name}_count`]) names.add(series);
    else names.add(name);
  }
  return names;
}

const PROMQL_KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "atan2", "inf", "nan"]);

/**
 * The metric names a PromQL expression selects: identifiers that are not
 * functions or aggregations (followed by `(`), keywords, label names (in
 * `{…}` or a `by (…)`-style clause), strings, durations, numbers or Grafana
 * variables.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`/g, " ") // strings
    .replace(/\$\{[^}]*\}|\$\w+/g, " ") // Grafana variables, $__rate_interval included
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " "); // label lists
  const names: string[] = [];
  for (const match of stripped.matchAll(/(\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, number, identifier, call] = match;
    if (number !== undefined || identifier === undefined || call !== undefined) continue;
    if (PROMQL_KEYWORDS.has(identifier.toLowerCase())) continue;
    names.push(identifier);
  }
  return names;
}

interface Target {
  readonly expr?: string;
}
interface Panel {
  readonly title: string;
  readonly type: string;
  readonly datasource?: { readonly type: string; readonly uid: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { readonly query?: string };
}
interface Dashboard {
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

const dashboard = JSON.parse(readFileSync(join(ROOT, "docs", "grafana-dashboard.json"), "utf8")) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** Every PromQL expression in the dashboard: panel targets and query variables (label_values(<selector>, label)). */
function expressions(): { readonly where: string; readonly expr: string }[] {
  const fromPanels = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr ?? "" })));
  const fromVariables = dashboard.templating.list
    .filter((v) => v.type === "query")
    .map((v) => {
      const query = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
      const labelValues = /^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.exec(query);
      return { where: `variable $${v.name}`, expr: labelValues?.[1] ?? query };
    });
  return [...fromPanels, ...fromVariables];
}

describe("docs/grafana-dashboard.json", () => {
  const exported = exportedNames(exposition());

  it("reads the real exposition: counters, the histograms' three series and the gauges", () => {
    expect(exported).toEqual(
      new Set([
        "orchestrator_requests_total",
        "orchestrator_gateway_errors_total",
        "orchestrator_response_bytes_total",
        "orchestrator_request_duration_seconds_bucket",
        "orchestrator_request_duration_seconds_sum",
        "orchestrator_request_duration_seconds_count",
        "orchestrator_inflight_requests",
        "orchestrator_instance_up",
        "orchestrator_websocket_connections_open",
        "orchestrator_websocket_connections_opened_total",
        "orchestrator_websocket_connections_closed_total",
        "orchestrator_websocket_connection_duration_seconds_bucket",
        "orchestrator_websocket_connection_duration_seconds_sum",
        "orchestrator_websocket_connection_duration_seconds_count",
      ]),
    );
    // The sample data fills every family, so the names are backed by real samples too.
    const sampled = new Set([...exposition().matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]));
    for (const name of exported) expect(sampled, name).toContain(name);
  });

  it("uses only metric names our Prometheus output has", () => {
    const unknown = expressions().flatMap(({ where, expr }) => metricNamesIn(expr).filter((n) => !exported.has(n)).map((n) => `${where}: ${n}`));
    expect(unknown).toEqual([]);
  });

  it("queries something in every panel, and covers the families it promises", () => {
    for (const p of panels.filter((x) => x.type !== "row")) {
      expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(metricNamesIn(t.expr ?? "").length, p.title).toBeGreaterThan(0);
    }
    const used = new Set(expressions().flatMap(({ expr }) => metricNamesIn(expr)));
    for (const name of [
      "orchestrator_requests_total",
      "orchestrator_request_duration_seconds_bucket",
      "orchestrator_inflight_requests",
      "orchestrator_instance_up",
      "orchestrator_gateway_errors_total",
      "orchestrator_websocket_connections_open",
    ]) {
      expect(used, name).toContain(name);
    }
  });

  it("is a current dashboard with a Prometheus data source variable that every panel uses", () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    const datasource = dashboard.templating.list.find((v) => v.type === "datasource");
    expect(datasource?.query).toBe("prometheus");
    for (const p of panels.filter((x) => x.type !== "row")) expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: `\${${datasource?.name ?? ""}}` });
  });

  it("extracts metric names from PromQL, not functions, labels or variables", () => {
    expect(
      metricNamesIn(
        'label_replace(count by (service) (histogram_quantile(0.95, sum by (service, le) (rate(foo_bucket{job=~"$job", le!="+Inf"}[$__rate_interval]))) > 1e3 and on (service) bar offset 5m), "alertname", "X", "", "") or vector(0) * $threshold',
      ),
    ).toEqual(["foo_bucket", "bar"]);
  });
});
