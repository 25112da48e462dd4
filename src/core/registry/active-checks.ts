/**
 * Active health checks as the registry applies them (the state machine is
 * core/health/active-check.ts): each service's check settings, and folding a
 * sweep's probe results into its instances' state, with the events alerting
 * needs. A passing probe after an ejection ran out readmits the instance.
 * Also: how soon each instance is checked again (its interval by state), and
 * the immediate probes a re-registration or a heartbeat asks for.
 */
import type { HealthStatus } from "../balancer/types";
import { type ActiveCheckConfig, applyProbe, checkIntervalMs, decayEjectionCount, type HealthEvent, isEjected, readmit } from "../health";
import type { RegistryConfig } from "./config";
import { errorClassOf, type UpstreamErrorClass } from "../upstream-errors";
import type { ProbeReport } from "./inputs";
import type { InstanceRecord, ServiceHealthSettings } from "./records";
import type { RegistryState } from "./state";
import type { RegistryWrite } from "./writes";

/** Part of the RPC contract (src/contracts/registry.ts re-exports it); defined here, where it is made. */
export type InstanceHealthEvent = { readonly instanceId: string; readonly service: string; readonly at: number } & (
  /** A change to unhealthy says why: the failing probe's error and its class (core/upstream-errors.ts). */
  | { readonly type: "status-changed"; readonly from: HealthStatus; readonly to: HealthStatus; readonly error?: string; readonly errorClass?: UpstreamErrorClass }
  | { readonly type: "failure-threshold"; readonly consecutiveFailures: number; readonly error: string; readonly errorClass: UpstreamErrorClass }
  | { readonly type: "recovered" }
  | { readonly type: "readmitted" }
);

/** A service's check settings: its overrides over the environment's defaults. */
export function healthSettingsOf(state: RegistryState, serviceName: string, config: Pick<RegistryConfig, "health">): Required<ServiceHealthSettings> {
  const overrides = state.services.get(serviceName)?.healthSettings ?? {};
  const defaults = config.health;
  return {
    intervalMs: overrides.intervalMs ?? defaults.intervalMs,
    timeoutMs: overrides.timeoutMs ?? defaults.timeoutMs,
    retries: overrides.retries ?? defaults.retries,
    path: overrides.path ?? defaults.path,
  };
}

export interface ProbeResultsApplied {
  /** What changed, for alerting. */
  readonly events: InstanceHealthEvent[];
  readonly writes: readonly RegistryWrite[];
}

/** How soon the instance is checked again: by its state (core/health/check-interval.ts), never later than its service's interval. */
export function checkIntervalOf(state: RegistryState, instance: InstanceRecord, config: Pick<RegistryConfig, "health">): number {
  return checkIntervalMs(instance.active, {
    intervalMs: healthSettingsOf(state, instance.service, config).intervalMs,
    unhealthyIntervalMs: config.health.unhealthyIntervalMs,
    unhealthyEdgeIntervalMs: config.health.unhealthyEdgeIntervalMs,
    healthyEdgeIntervalMs: config.health.healthyEdgeIntervalMs,
  });
}

/**
 * An instance that registers (or re-registers: the 409 that hands it its old
 * id), or heartbeats while its active check has it unhealthy, is probably
 * (back) up: it gets a probe now rather than at its next interval. `why` says
 * which; a heartbeat of an instance that is not unhealthy asks for nothing.
 * True when this is a new request (the caller then tells the sweeper); one
 * request is outstanding per instance, until a probe result after it lands.
 * A stopped instance is not probed, so it asks for nothing.
 */
export function requestImmediateProbe(state: RegistryState, instance: InstanceRecord, why: "registered" | "heartbeat", now: number): boolean {
  if (instance.adminState === "stopped") return false;
  if (why === "heartbeat" && instance.active.status !== "unhealthy") return false;
  if (state.probeRequests.has(instance.id)) return false;
  state.probeRequests.set(instance.id, now);
  return true;
}

/**
 * Starts slow start on recovery and on readmission; decays the ejection multiplier after a clean sweep.
 * A recovery (and a readmission) also forgets the traffic error average: it described the
 * failures the instance has just recovered from, and a degraded instance gets little traffic
 * (none under health-aware while others are healthy) to wash it out. A recovery forgets the
 * traffic latency average too; new traffic rebuilds both within a few requests.
 */
export function recordProbeResults(state: RegistryState, reports: readonly ProbeReport[], now: number, config: Pick<RegistryConfig, "health" | "degradedResponseTimeMs">): ProbeResultsApplied {
  const events: InstanceHealthEvent[] = [];
  const writes: RegistryWrite[] = [];
  for (const report of reports) {
    const instance = state.instances.get(report.id);
    if (!instance) continue;
    const requestedAt = state.probeRequests.get(instance.id);
    if (requestedAt !== undefined && report.at >= requestedAt) state.probeRequests.delete(instance.id);
    if (report.split === true) {
      // The vantage points disagreed evenly: checked, but nothing to conclude.
      instance.active = { ...instance.active, lastCheckAt: report.at };
      writes.push({ kind: "health-checks", instance });
      continue;
    }
    const applied = applyProbe(instance.active, report.probe, report.at, activeCheckConfig(state, instance.service, config));
    instance.active = applied.state;
    for (const event of applied.events) {
      events.push(healthEvent(instance, event, report));
      if (event.type === "recovered") {
        instance.inRotationSince = now;
        instance.errorEwma = 0;
        instance.latencyEwmaMs = null;
      }
    }
    if (instance.outlier.ejectedUntil !== null && now >= instance.outlier.ejectedUntil && report.probe.ok) {
      instance.outlier = readmit(instance.outlier);
      instance.inRotationSince = now;
      instance.errorEwma = 0;
      events.push({ instanceId: instance.id, service: instance.service, type: "readmitted", at: now });
    } else if (!isEjected(instance.outlier, now)) {
      instance.outlier = decayEjectionCount(instance.outlier, now);
    }
    if (instance.inRotationSince !== null && now - instance.inRotationSince >= config.health.slowStartWindowMs) instance.inRotationSince = null;
    writes.push({ kind: "health-checks", instance });
  }
  return { events, writes };
}

function activeCheckConfig(state: RegistryState, serviceName: string, config: Pick<RegistryConfig, "health" | "degradedResponseTimeMs">): ActiveCheckConfig {
  return {
    retries: healthSettingsOf(state, serviceName, config).retries,
    rise: config.health.rise,
    alertThreshold: config.health.alertThreshold,
    degradedLatencyMs: config.degradedResponseTimeMs,
    degradedErrorRate: 0.25,
  };
}

function healthEvent(instance: InstanceRecord, event: HealthEvent, report: ProbeReport): InstanceHealthEvent {
  const base = { instanceId: instance.id, service: instance.service, at: report.at };
  switch (event.type) {
    case "status-changed":
      if (event.to !== "unhealthy") return { ...base, type: "status-changed", from: event.from, to: event.to };
      return { ...base, type: "status-changed", from: event.from, to: event.to, ...probeError(report) };
    case "failure-threshold":
      return { ...base, type: "failure-threshold", consecutiveFailures: event.consecutiveFailures, ...probeError(report) };
    case "recovered":
      return { ...base, type: "recovered" };
  }
}

/** The failing probe's error and its class, for the event (and so the log line and the dashboard). */
function probeError(report: ProbeReport): { readonly error: string; readonly errorClass: UpstreamErrorClass } {
  const error = report.probe.error ?? report.probe.kind;
  return { error, errorClass: errorClassOf(error) ?? "other" };
}
