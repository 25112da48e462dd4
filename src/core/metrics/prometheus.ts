/**
 * Prometheus text exposition format 0.0.4 of the metrics state.
 *
 * Families (one HELP and TYPE each, samples grouped under them):
 *   orchestrator_requests_total{service,instance,class}                       counter
 *   orchestrator_gateway_errors_total{service,instance,kind,cause}            counter (kind: timeout or
 *                                                                             connect, as before causes; cause:
 *                                                                             timeout, dns, refused, reset, tls, other)
 *   orchestrator_response_bytes_total{service,instance}                       counter
 *   orchestrator_request_duration_seconds{service,instance}                   histogram
 *   orchestrator_inflight_requests{service,instance}                          gauge (from extras)
 *   orchestrator_instance_up{service,instance}                                gauge (from extras; 1 unless unhealthy)
 *   orchestrator_websocket_connections_open{service,instance}                 gauge (from extras)
 *   orchestrator_websocket_connections_opened_total{service,instance}         counter
 *   orchestrator_websocket_connections_closed_total{service,instance,class}   counter (class: close-class.ts)
 *   orchestrator_websocket_connection_duration_seconds{service,instance}      histogram
 *
 * Histogram buckets are derived from the sketch (countAtOrBelow), so they agree
 * with the JSON percentiles; a sample sits in a bucket by its sketch
 * representative, i.e. within 1% of its true value. `+Inf` equals `_count`.
 *
 * The connection counters and histogram appear for an instance once it has
 * had a WebSocket connection, so a fleet without any pays no series for them.
 *
 * Every series of an instance that declared a version (issue #20) also has a
 * `version` label, so `sum by (service, version)` compares a release's canary
 * with its stable side; an instance without one has no such label.
 *
 * Note: Prometheus attaches its own `instance` label (the scrape target), so a
 * scrape without `honor_labels: true` shows ours as `exported_instance`.
 * A deregistered instance's series simply end, which rate() handles.
 */
import { own, sortedKeys } from "./own";
import type { MetricsState } from "./aggregate";
import { CLOSE_CLASSES } from "./close-class";
import { type Sketch, countAtOrBelow } from "./sketch";
import { GATEWAY_CAUSES, gatewayKindOf, STATUS_CLASSES } from "./status-class";
import { gatewayCount } from "./tally";
import type { MetricsExtras } from "./view";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Upper bounds in ms (exact integers, so ms / 1000 prints as the intended decimal). */
export const DURATION_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/**
 * Connection lifetimes: 1 s to a day, in ms. Connections live for seconds (a
 * refused or flapping client) to hours (a dashboard left open); the runtime
 * updates that end long-lived sockets make a day the useful ceiling.
 */
export const SOCKET_DURATION_BUCKETS_MS = [1_000, 5_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000] as const;

type Labels = readonly (readonly [string, string])[];

/** Label values: backslash, double quote and line feed are the only escapes the format defines. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "+Inf";
  if (x === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(x);
}

function sample(name: string, labels: Labels, value: number): string {
  const body = labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
  return `${name}${body === "" ? "" : `{${body}}`} ${formatValue(value)}`;
}

interface Family {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly help: string;
  readonly lines: string[];
}

function family(name: string, type: Family["type"], help: string): Family {
  return { name, type, help, lines: [] };
}

/** A histogram's buckets, `+Inf`, `_sum` and `_count` (in seconds) for one series. */
function histogram(f: Family, labels: Labels, sketch: Sketch, bucketsMs: readonly number[]): void {
  for (const ms of bucketsMs) f.lines.push(sample(`${f.name}_bucket`, [...labels, ["le", String(ms / 1000)]], countAtOrBelow(sketch, ms)));
  f.lines.push(sample(`${f.name}_bucket`, [...labels, ["le", "+Inf"]], sketch.count));
  f.lines.push(sample(`${f.name}_sum`, labels, sketch.sum / 1000));
  f.lines.push(sample(`${f.name}_count`, labels, sketch.count));
}

/** Renders the state (plus registry extras for gauges) as exposition text ending in a newline. */
export function prometheusText(state: MetricsState, extras: MetricsExtras = {}): string {
  const requests = family("orchestrator_requests_total", "counter", "Proxied requests by outcome class (gateway = timeout or connect failure).");
  const gateway = family(
    "orchestrator_gateway_errors_total",
    "counter",
    "Gateway failures by kind (timeout, connect) and cause (timeout; dns, refused, reset, tls or other for connect).",
  );
  const bytes = family("orchestrator_response_bytes_total", "counter", "Response body bytes sent to clients.");
  const duration = family("orchestrator_request_duration_seconds", "histogram", "Proxied request duration in seconds.");
  const inflight = family("orchestrator_inflight_requests", "gauge", "Requests in flight to the instance.");
  const up = family("orchestrator_instance_up", "gauge", "1 when the instance is healthy or degraded, 0 when unhealthy.");
  const socketsOpen = family("orchestrator_websocket_connections_open", "gauge", "WebSocket connections open to the instance now.");
  const socketsOpened = family("orchestrator_websocket_connections_opened_total", "counter", "WebSocket connections relayed to the instance.");
  const socketsClosed = family(
    "orchestrator_websocket_connections_closed_total",
    "counter",
    "WebSocket connections closed, by class: normal (1000, 1001, 1005), error (1011-1014), abnormal (1006, 1015 or no close code), other.",
  );
  const socketDuration = family("orchestrator_websocket_connection_duration_seconds", "histogram", "How long closed WebSocket connections lasted, in seconds.");

  const services = [...new Set([...sortedKeys(state.services), ...sortedKeys(extras)])].sort();
  for (const service of services) {
    const s = own(state.services, service);
    const x = own(extras, service)?.instances ?? {};
    const ids = [...new Set([...sortedKeys(s?.instances ?? {}), ...sortedKeys(x)])].sort();
    for (const instance of ids) {
      const version = own(x, instance)?.version;
      const base: Labels = [
        ["service", service],
        ["instance", instance],
        ...(version === undefined ? [] : ([["version", version]] as const)),
      ];
      const m = s === undefined ? undefined : own(s.instances, instance);
      if (m !== undefined) {
        const t = m.totals;
        for (const c of STATUS_CLASSES) requests.lines.push(sample(requests.name, [...base, ["class", c]], t.counts[c]));
        for (const cause of GATEWAY_CAUSES) {
          const kind = cause === "timeout" ? "timeout" : "connect";
          gateway.lines.push(sample(gateway.name, [...base, ["kind", kind], ["cause", cause]], gatewayCount(t.gateway, gatewayKindOf(cause))));
        }
        bytes.lines.push(sample(bytes.name, base, t.bytes));
        histogram(duration, base, t.sketch, DURATION_BUCKETS_MS);
        const sockets = t.sockets;
        if (sockets !== undefined) {
          socketsOpened.lines.push(sample(socketsOpened.name, base, sockets.opened));
          for (const c of CLOSE_CLASSES) socketsClosed.lines.push(sample(socketsClosed.name, [...base, ["class", c]], sockets.closed[c]));
          histogram(socketDuration, base, sockets.sketch, SOCKET_DURATION_BUCKETS_MS);
        }
      }
      const e = own(x, instance);
      if (typeof e?.inflight === "number" && Number.isFinite(e.inflight)) inflight.lines.push(sample(inflight.name, base, e.inflight));
      if (e?.health !== undefined) up.lines.push(sample(up.name, base, e.health === "unhealthy" ? 0 : 1));
      if (typeof e?.websockets === "number" && Number.isFinite(e.websockets)) socketsOpen.lines.push(sample(socketsOpen.name, base, e.websockets));
    }
  }

  const out: string[] = [];
  for (const f of [requests, gateway, bytes, duration, inflight, up, socketsOpen, socketsOpened, socketsClosed, socketDuration]) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.lines);
  }
  return `${out.join("\n")}\n`;
}
