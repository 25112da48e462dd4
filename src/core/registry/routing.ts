/**
 * How the registry sees an instance when routing: its health, its weight
 * after slow start, its load. Shared by the proxied request's pick
 * (leases.ts), the edge's routing table and the views.
 */
import type { Candidate, HealthStatus, Strategy } from "../balancer/types";
import { healthScore } from "../balancer/health-score";
import { effectiveWeight, isEjected, scaleWeight } from "../health";
import { deriveHealth } from "../instance-health";
import type { RegistryConfig } from "./config";
import { totalInflight } from "./inflight";
import type { InstanceRecord, ServiceRecord } from "./records";

export function strategyOf(service: ServiceRecord, config: Pick<RegistryConfig, "defaultStrategy">): Strategy {
  return service.strategy ?? config.defaultStrategy;
}

export function timeoutOf(service: ServiceRecord, config: Pick<RegistryConfig, "upstreamTimeoutMs">): number {
  return service.timeoutMs ?? config.upstreamTimeoutMs;
}

/**
 * Routing health: unhealthy when the TTL check is critical, the active check
 * failed, or passive detection ejected it; degraded when either the active
 * check or recent traffic says so.
 */
export function routingHealth(instance: InstanceRecord, now: number, config: Pick<RegistryConfig, "degradedResponseTimeMs">): HealthStatus {
  if (instance.active.status === "unhealthy" || isEjected(instance.outlier, now)) return "unhealthy";
  const fromTraffic = deriveHealth(instance, { degradedResponseTimeMs: config.degradedResponseTimeMs });
  if (fromTraffic === "unhealthy") return "unhealthy";
  return fromTraffic === "degraded" || instance.active.status === "degraded" ? "degraded" : "healthy";
}

/** Weight after slow start, not yet scaled to an integer. */
export function slowStartWeight(instance: InstanceRecord, now: number, config: Pick<RegistryConfig, "health">): number {
  return effectiveWeight(instance.weight, instance.inRotationSince, now, config.health.slowStartWindowMs);
}

export function routingCandidate(instance: InstanceRecord, now: number, config: Pick<RegistryConfig, "degradedResponseTimeMs" | "health">): Candidate {
  return {
    id: instance.id,
    weight: scaleWeight(slowStartWeight(instance, now, config)),
    inflight: totalInflight(instance),
    health: routingHealth(instance, now, config),
    score: healthScore({ latencyEwmaMs: instance.latencyEwmaMs, errorRate: instance.errorEwma }),
  };
}
