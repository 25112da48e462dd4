/**
 * How an instance's health is derived from what the registry knows: its TTL
 * check (heartbeats) and a moving average of recent latency and errors from
 * real traffic. Pure; the registry feeds it and stores the results.
 */
import type { HealthStatus } from "./balancer/types";

export type CheckStatus = "passing" | "critical";

export interface HealthInputs {
  readonly checkStatus: CheckStatus;
  readonly latencyEwmaMs: number | null;
  /** Moving average of failures (5xx, timeouts, connect errors), 0..1. */
  readonly errorEwma: number;
}

export interface HealthThresholds {
  readonly degradedResponseTimeMs: number;
}

/** A quarter of recent requests failing is well past noise; call it degraded. */
const DEGRADED_ERROR_RATE = 0.25;

export function deriveHealth(inputs: HealthInputs, thresholds: HealthThresholds): HealthStatus {
  if (inputs.checkStatus === "critical") return "unhealthy";
  if (inputs.latencyEwmaMs !== null && inputs.latencyEwmaMs >= thresholds.degradedResponseTimeMs) return "degraded";
  if (inputs.errorEwma >= DEGRADED_ERROR_RATE) return "degraded";
  return "healthy";
}

// Smoothing factors: latency reacts within ~5 requests, errors within ~10, so
// one slow or failed request does not flip an instance's status.
const LATENCY_ALPHA = 0.2;
const ERROR_ALPHA = 0.1;

export function updateLatencyEwma(previous: number | null, sampleMs: number): number {
  return previous === null ? sampleMs : previous + LATENCY_ALPHA * (sampleMs - previous);
}

export function updateErrorEwma(previous: number, failed: boolean): number {
  return previous + ERROR_ALPHA * ((failed ? 1 : 0) - previous);
}

/** Service-level status for /health/workers, from its instances' statuses. */
export type ServiceStatus = HealthStatus | "stopped" | "no-instances";

export function serviceStatus(adminStopped: boolean, statuses: readonly HealthStatus[]): ServiceStatus {
  if (adminStopped) return "stopped";
  if (statuses.length === 0) return "no-instances";
  if (statuses.every((s) => s === "healthy")) return "healthy";
  if (statuses.some((s) => s !== "unhealthy")) return "degraded";
  return "unhealthy";
}

/**
 * TTL bookkeeping (Consul's TTL check plus deregister_critical_service_after):
 * an instance that missed its heartbeat deadline turns critical; one critical
 * for longer than the deregistration window is removed.
 */
export interface TtlTracked {
  readonly id: string;
  readonly checkStatus: CheckStatus;
  readonly lastHeartbeatMs: number;
  readonly ttlSeconds: number;
  readonly criticalSinceMs: number | null;
}

export interface TtlSweep {
  readonly markCritical: string[];
  readonly remove: string[];
  /** The earliest future moment something will change, or null when nothing is pending. */
  readonly nextDeadlineMs: number | null;
}

export function sweepTtl(instances: Iterable<TtlTracked>, now: number, deregisterAfterSeconds: number): TtlSweep {
  const markCritical: string[] = [];
  const remove: string[] = [];
  let next: number | null = null;
  const consider = (deadline: number) => {
    if (next === null || deadline < next) next = deadline;
  };
  for (const instance of instances) {
    const expiresAt = instance.lastHeartbeatMs + instance.ttlSeconds * 1000;
    if (instance.checkStatus === "passing") {
      if (now >= expiresAt) {
        markCritical.push(instance.id);
        const removeAt = now + deregisterAfterSeconds * 1000;
        if (now >= removeAt) remove.push(instance.id);
        else consider(removeAt);
      } else {
        consider(expiresAt);
      }
    } else {
      const removeAt = (instance.criticalSinceMs ?? now) + deregisterAfterSeconds * 1000;
      if (now >= removeAt) remove.push(instance.id);
      else consider(removeAt);
    }
  }
  return { markCritical, remove, nextDeadlineMs: next };
}
