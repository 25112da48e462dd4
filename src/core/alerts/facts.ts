/**
 * What the alert rules look at, assembled from the registry's snapshot (health,
 * heartbeats, admin state) and the metrics windows (error rate, latency).
 */
import type { HealthStatus } from "../balancer/types";
import type { CheckStatus } from "../instance-health";
import { type MetricsState, serviceWindowStats } from "../metrics/aggregate";
import { quantile } from "../metrics/sketch";
import type { ServiceFacts } from "./rules";

export const RULE_WINDOW_MINUTES = 5;

/**
 * The parts of the registry's snapshot (contracts/registry.ts RegistrySnapshot)
 * the rules read, declared here so the core depends on no contract.
 */
export interface FleetSnapshot {
  readonly services: readonly {
    readonly name: string;
    readonly seed: boolean;
    readonly adminState: "active" | "stopped";
    readonly instances: readonly {
      readonly id: string;
      readonly adminState: string;
      readonly health: HealthStatus;
      readonly static: boolean;
      readonly checkStatus: CheckStatus;
      readonly activeCheck: { readonly consecutiveFailures: number };
    }[];
  }[];
}

export function alertFacts(snapshot: FleetSnapshot, metrics: MetricsState, now: number): ServiceFacts[] {
  return snapshot.services.map((service) => {
    const window = serviceWindowStats(metrics, service.name, now, RULE_WINDOW_MINUTES);
    return {
      service: service.name,
      seed: service.seed,
      stopped: service.adminState === "stopped",
      instances: service.instances
        .filter((i) => i.adminState === "active")
        .map((i) => ({
          id: i.id,
          health: i.health,
          consecutiveFailures: i.activeCheck.consecutiveFailures,
          heartbeatLapsed: !i.static && i.checkStatus === "critical",
        })),
      window: {
        minutes: RULE_WINDOW_MINUTES,
        requests: window.requests,
        errorRatePercent: window.errorRatePercent,
        p95Ms: quantile(window.sketch, 0.95),
      },
    };
  });
}
