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

export interface InstanceFacts {
  readonly id: string;
  readonly health: HealthStatus;
  /** Consecutive failed health checks (0 after a success). */
  readonly consecutiveFailures: number;
  /** The instance missed its heartbeat deadline (TTL check critical). */
  readonly heartbeatLapsed: boolean;
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
  };
}

export const RULE_SEVERITY: Readonly<Record<AlertName, Severity>> = {
  ServiceDown: "critical",
  NoInstances: "critical",
  HighErrorRate: "critical",
  InstanceUnhealthy: "warning",
  HeartbeatLapsed: "warning",
  HighLatency: "warning",
};

function fmt(x: number): string {
  return String(Math.round(x * 100) / 100);
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
      out.push(alert("ServiceDown", s, undefined, `${s} is down: 0 of ${f.instances.length} instances available`,
        `All ${f.instances.length} instances of ${s} are unhealthy; requests to ${s} are failing.`, now));
    }
  }
  for (const i of f.instances) {
    if (i.consecutiveFailures >= config.alertThreshold) {
      out.push(alert("InstanceUnhealthy", s, i.id, `${s}/${i.id} failed ${i.consecutiveFailures} health checks in a row`,
        `Instance ${i.id} of ${s} is ${i.health} after ${i.consecutiveFailures} consecutive failed health checks (alert threshold ${config.alertThreshold}).`, now));
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
        `${fmt(w.errorRatePercent)}% of ${fmt(w.requests)} requests to ${s} in the last ${w.minutes} min failed with 5xx or gateway errors (4xx not counted).`, now));
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
