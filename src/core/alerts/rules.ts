/**
 * Alert rules: from the current facts about services and instances to the set
 * of alerts firing right now. Stateless; the pipeline turns successive sets
 * into notifications (dedup, grouping, timing, silences, inhibition).
 *
 * Each rule has a fixed severity: severity is a label, and a label that
 * changed with the numbers would make one incident look like a new alert.
 */
import type { HealthStatus } from "../balancer/types";
import type { Alert, AlertName, Severity } from "./alert";
import type { RuleConfig } from "./config";
import { GATEWAY_CAUSES, type GatewayCause } from "../metrics/status-class";
import { errorClassOf, type UpstreamErrorClass } from "../upstream-errors";

export interface InstanceFacts {
  readonly id: string;
  readonly health: HealthStatus;
  /** Consecutive failed health checks (0 after a success). */
  readonly consecutiveFailures: number;
  /** The instance missed its heartbeat deadline (TTL check critical). */
  readonly heartbeatLapsed: boolean;
  /** The last failed health check, class first ("dns: lookup failed for api.internal", core/upstream-errors.ts); null or absent after a pass. */
  readonly lastError?: string | null;
}

export interface ServiceFacts {
  readonly service: string;
  /** A seed service (always expected to have instances): having none is a discovery problem. */
  readonly seed: boolean;
  /** Stopped by an operator: an intended outage, so no alerts are raised for it. */
  readonly stopped?: boolean;
  readonly instances: readonly InstanceFacts[];
  /** Traffic over the rule window (e.g. serviceWindowStats(..., 5)). */
  readonly window: {
    readonly minutes: number;
    readonly requests: number;
    readonly errorRatePercent: number;
    readonly p95Ms: number | null;
    /** Requests that got no answer from an instance, by cause (only the causes seen); absent when not known. */
    readonly gatewayCauses?: Readonly<Partial<Record<GatewayCause, number>>>;
  };
}

export const RULE_SEVERITY: Readonly<Record<AlertName, Severity>> = {
  ServiceDown: "critical",
  NoInstances: "critical",
  HighErrorRate: "critical",
  InstanceUnhealthy: "warning",
  HeartbeatLapsed: "warning",
  HighLatency: "warning",
  // Release alerts come from core/alerts/release-rules.ts.
  CanaryRolledBack: "critical",
  CanaryPromoted: "info",
  CanaryStalled: "warning",
};

function fmt(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/**
 * Why health checks fail, in words for an alert: the classes of the instances'
 * last failures (core/upstream-errors.ts), most common first. Annotations, not
 * labels: the cause may change during one incident (refused, then timeout)
 * without making it another alert.
 */
function failureClasses(instances: readonly InstanceFacts[]): [UpstreamErrorClass, number][] {
  const counts = new Map<UpstreamErrorClass, number>();
  for (const i of instances) {
    const cls = errorClassOf(i.lastError);
    if (cls !== null) counts.set(cls, (counts.get(cls) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** " (dns)" or " (dns ×2, timeout)" for a summary; "" when no failure is known. */
function causeNote(instances: readonly InstanceFacts[]): string {
  const classes = failureClasses(instances);
  if (classes.length === 0) return "";
  return ` (${classes.map(([cls, n]) => (n > 1 ? `${cls} ×${n}` : cls)).join(", ")})`;
}

/** The instances' last failures for a description, one each, at most three. */
function lastFailures(instances: readonly InstanceFacts[]): string {
  const failures = instances.filter((i) => i.lastError).map((i) => `${i.id}: ${i.lastError}`);
  if (failures.length === 0) return "";
  const more = failures.length > 3 ? ` (and ${failures.length - 3} more)` : "";
  return ` Last failures: ${failures.slice(0, 3).join("; ")}${more}.`;
}

/** " Requests that got no answer: dns 12, timeout 3." when there were any. */
function gatewayNote(causes: Readonly<Partial<Record<GatewayCause, number>>> | undefined): string {
  if (causes === undefined) return "";
  const seen = GATEWAY_CAUSES.filter((c) => (causes[c] ?? 0) > 0).map((c) => `${c} ${fmt(causes[c] ?? 0)}`);
  return seen.length === 0 ? "" : ` Requests that got no answer from an instance, by cause: ${seen.join(", ")}.`;
}

function alert(alertname: AlertName, service: string, instance: string | undefined, summary: string, description: string, now: number): Alert {
  const labels = instance === undefined
    ? { alertname, service, severity: RULE_SEVERITY[alertname] }
    : { alertname, service, instance, severity: RULE_SEVERITY[alertname] };
  return { labels, annotations: { summary, description }, startsAt: now };
}

function serviceAlerts(f: ServiceFacts, config: RuleConfig, now: number): Alert[] {
  const out: Alert[] = [];
  const s = f.service;
  if (f.instances.length === 0) {
    if (f.seed) {
      out.push(alert("NoInstances", s, undefined, `${s} has no registered instances`,
        `Seed service ${s} has no instance in the registry, so its requests cannot be routed. Check service discovery and registration.`, now));
    }
  } else {
    // Degraded instances still take traffic; the service is down only when none can.
    const available = f.instances.filter((i) => i.health !== "unhealthy").length;
    if (available === 0) {
      out.push(alert("ServiceDown", s, undefined, `${s} is down: 0 of ${f.instances.length} instances available${causeNote(f.instances)}`,
        `All ${f.instances.length} instances of ${s} are unhealthy; requests to ${s} are failing.${lastFailures(f.instances)}`, now));
    }
  }
  for (const i of f.instances) {
    if (i.consecutiveFailures >= config.alertThreshold) {
      out.push(alert("InstanceUnhealthy", s, i.id, `${s}/${i.id} failed ${i.consecutiveFailures} health checks in a row${causeNote([i])}`,
        `Instance ${i.id} of ${s} is ${i.health} after ${i.consecutiveFailures} consecutive failed health checks (alert threshold ${config.alertThreshold}).${i.lastError ? ` Last failure: ${i.lastError}.` : ""}`, now));
    }
    if (i.heartbeatLapsed) {
      out.push(alert("HeartbeatLapsed", s, i.id, `${s}/${i.id} missed its heartbeat`,
        `Instance ${i.id} of ${s} did not renew its registration in time; it will be deregistered if it does not recover.`, now));
    }
  }
  const w = f.window;
  if (w.requests >= config.minRequestVolume) {
    if (w.errorRatePercent > config.errorRateThresholdPercent) {
      out.push(alert("HighErrorRate", s, undefined, `${s} error rate ${fmt(w.errorRatePercent)}% (threshold ${config.errorRateThresholdPercent}%)`,
        `${fmt(w.errorRatePercent)}% of ${fmt(w.requests)} requests to ${s} in the last ${w.minutes} min failed with 5xx or gateway errors (4xx not counted).${gatewayNote(w.gatewayCauses)}`, now));
    }
    if (w.p95Ms !== null && w.p95Ms > config.responseTimeThresholdMs) {
      out.push(alert("HighLatency", s, undefined, `${s} p95 latency ${fmt(w.p95Ms)} ms (threshold ${config.responseTimeThresholdMs} ms)`,
        `95th percentile response time of ${s} over the last ${w.minutes} min is ${fmt(w.p95Ms)} ms across ${fmt(w.requests)} requests.`, now));
    }
  }
  return out;
}

/** Every alert firing now, ordered by service then rule, for stable output. */
export function evaluateRules(services: readonly ServiceFacts[], config: RuleConfig, now: number): Alert[] {
  const out: Alert[] = [];
  const sorted = [...services].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  for (const f of sorted) {
    if (f.stopped === true) continue;
    out.push(...serviceAlerts(f, config, now));
  }
  return out;
}
