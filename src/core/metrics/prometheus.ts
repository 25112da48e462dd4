/**
 * Prometheus text exposition format 0.0.4 of the metrics state.
 *
 * Families (one HELP and TYPE each, samples grouped under them):
 *   orchestrator_requests_total{service,instance,class}        counter
 *   orchestrator_gateway_errors_total{service,instance,kind}   counter
 *   orchestrator_response_bytes_total{service,instance}        counter
 *   orchestrator_request_duration_seconds{service,instance}    histogram
 *   orchestrator_inflight_requests{service,instance}           gauge (from extras)
 *   orchestrator_instance_up{service,instance}                 gauge (from extras; 1 unless unhealthy)
 *
 * Histogram buckets are derived from the sketch (countAtOrBelow), so they agree
 * with the JSON percentiles; a sample sits in a bucket by its sketch
 * representative, i.e. within 1% of its true value. `+Inf` equals `_count`.
 *
 * Note: Prometheus attaches its own `instance` label (the scrape target), so a
 * scrape without `honor_labels: true` shows ours as `exported_instance`.
 * A deregistered instance's series simply end, which rate() handles.
 */
import { own, sortedKeys } from "./own";
import type { MetricsState } from "./aggregate";
import { countAtOrBelow } from "./sketch";
import { GATEWAY_KINDS, STATUS_CLASSES } from "./status-class";
import type { MetricsExtras } from "./view";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Upper bounds in ms (exact integers, so ms / 1000 prints as the intended decimal). */
export const DURATION_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

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

/** Renders the state (plus registry extras for gauges) as exposition text ending in a newline. */
export function prometheusText(state: MetricsState, extras: MetricsExtras = {}): string {
  const requests = family("orchestrator_requests_total", "counter", "Proxied requests by outcome class (gateway = timeout or connect failure).");
  const gateway = family("orchestrator_gateway_errors_total", "counter", "Gateway failures by kind.");
  const bytes = family("orchestrator_response_bytes_total", "counter", "Response body bytes sent to clients.");
  const duration = family("orchestrator_request_duration_seconds", "histogram", "Proxied request duration in seconds.");
  const inflight = family("orchestrator_inflight_requests", "gauge", "Requests in flight to the instance.");
  const up = family("orchestrator_instance_up", "gauge", "1 when the instance is healthy or degraded, 0 when unhealthy.");

  const services = [...new Set([...sortedKeys(state.services), ...sortedKeys(extras)])].sort();
  for (const service of services) {
    const s = own(state.services, service);
    const x = own(extras, service)?.instances ?? {};
    const ids = [...new Set([...sortedKeys(s?.instances ?? {}), ...sortedKeys(x)])].sort();
    for (const instance of ids) {
      const base: Labels = [
        ["service", service],
        ["instance", instance],
      ];
      const m = s === undefined ? undefined : own(s.instances, instance);
      if (m !== undefined) {
        const t = m.totals;
        for (const c of STATUS_CLASSES) requests.lines.push(sample(requests.name, [...base, ["class", c]], t.counts[c]));
        for (const k of GATEWAY_KINDS) gateway.lines.push(sample(gateway.name, [...base, ["kind", k]], t.gateway[k]));
        bytes.lines.push(sample(bytes.name, base, t.bytes));
        for (const ms of DURATION_BUCKETS_MS) {
          duration.lines.push(sample(`${duration.name}_bucket`, [...base, ["le", String(ms / 1000)]], countAtOrBelow(t.sketch, ms)));
        }
        duration.lines.push(sample(`${duration.name}_bucket`, [...base, ["le", "+Inf"]], t.sketch.count));
        duration.lines.push(sample(`${duration.name}_sum`, base, t.sketch.sum / 1000));
        duration.lines.push(sample(`${duration.name}_count`, base, t.sketch.count));
      }
      const e = own(x, instance);
      if (typeof e?.inflight === "number" && Number.isFinite(e.inflight)) inflight.lines.push(sample(inflight.name, base, e.inflight));
      if (e?.health !== undefined) up.lines.push(sample(up.name, base, e.health === "unhealthy" ? 0 : 1));
    }
  }

  const out: string[] = [];
  for (const f of [requests, gateway, bytes, duration, inflight, up]) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.lines);
  }
  return `${out.join("\n")}\n`;
}
