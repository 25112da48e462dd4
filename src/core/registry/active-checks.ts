/**
 * Active health checks as the registry applies them (the state machine is
 * core/health/active-check.ts): each service's check settings, and folding a
 * sweep's probe results into its instances' state, with the events alerting
 * needs. A passing probe after an ejection ran out readmits the instance.
 */
import type { HealthStatus } from "../balancer/types";
import { type ActiveCheckConfig, applyProbe, decayEjectionCount, type HealthEvent, isEjected, readmit } from "../health";
import type { RegistryConfig } from "./config";
import type { ProbeReport } from "./inputs";
import type { InstanceRecord, ServiceHealthSettings } from "./records";
import type { RegistryState } from "./state";
import type { RegistryWrite } from "./writes";

/** Part of the RPC contract (src/contracts/registry.ts re-exports it); defined here, where it is made. */
export type InstanceHealthEvent = { readonly instanceId: string; readonly service: string; readonly at: number } & (
  | { readonly type: "status-changed"; readonly from: HealthStatus; readonly to: HealthStatus }
  | { readonly type: "failure-threshold"; readonly consecutiveFailures: number; readonly error: string }
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

/** Starts slow start on recovery and on readmission; decays the ejection multiplier after a clean sweep. */
export function recordProbeResults(state: RegistryState, reports: readonly ProbeReport[], now: number, config: Pick<RegistryConfig, "health" | "degradedResponseTimeMs">): ProbeResultsApplied {
  const events: InstanceHealthEvent[] = [];
  const writes: RegistryWrite[] = [];
  for (const report of reports) {
    const instance = state.instances.get(report.id);
    if (!instance) continue;
    const applied = applyProbe(instance.active, report.probe, report.at, activeCheckConfig(state, instance.service, config));
    instance.active = applied.state;
    for (const event of applied.events) {
      events.push(healthEvent(instance, event, report));
      if (event.type === "recovered") instance.inRotationSince = now;
    }
    if (instance.outlier.ejectedUntil !== null && now >= instance.outlier.ejectedUntil && report.probe.ok) {
      instance.outlier = readmit(instance.outlier);
      instance.inRotationSince = now;
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
      return { ...base, type: "status-changed", from: event.from, to: event.to };
    case "failure-threshold":
      return { ...base, type: "failure-threshold", consecutiveFailures: event.consecutiveFailures, error: report.probe.error ?? report.probe.kind };
    case "recovered":
      return { ...base, type: "recovered" };
  }
}
