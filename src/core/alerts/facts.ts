/**
 * What the alert rules look at, assembled from the registry's snapshot (health,
 * heartbeats, admin state) and the metrics windows (error rate, latency).
 */
import type { RegistrySnapshot } from "../../registry-contract";
import { type MetricsState, serviceWindowStats } from "../metrics/aggregate";
import { quantile } from "../metrics/sketch";
import type { ServiceFacts } from "./rules";

export const RULE_WINDOW_MINUTES = 5;

export function alertFacts(snapshot: RegistrySnapshot, metrics: MetricsState, now: number): ServiceFacts[] {
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
