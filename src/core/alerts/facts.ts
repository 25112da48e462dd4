/**
 * What the alert rules look at, assembled from the registry's snapshot (health,
 * heartbeats, admin state) and the metrics windows (error rate, latency).
 */
import type { HealthStatus } from "../balancer/types";
import type { CheckStatus } from "../instance-health";
import { type MetricsState, serviceWindows, serviceWindowStats } from "../metrics/aggregate";
import { own } from "../metrics/own";
import { GATEWAY_CAUSES, type GatewayCause, gatewayKindOf } from "../metrics/status-class";
import { gatewayCount } from "../metrics/tally";
import { minuteOf, type Windows } from "../metrics/windows";
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
      /** lastError: the last failed check, class first ("dns: lookup failed for api.internal"); absent or null after a pass. */
      readonly activeCheck: { readonly consecutiveFailures: number; readonly lastError?: string | null };
    }[];
  }[];
}

export function alertFacts(snapshot: FleetSnapshot, metrics: MetricsState, now: number): ServiceFacts[] {
  return snapshot.services.map((service) => {
    const window = serviceWindowStats(metrics, service.name, now, RULE_WINDOW_MINUTES);
    const s = own(metrics.services, service.name);
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
          lastError: i.activeCheck.lastError ?? null,
          heartbeatLapsed: !i.static && i.checkStatus === "critical",
        })),
      window: {
        minutes: RULE_WINDOW_MINUTES,
        requests: window.requests,
        errorRatePercent: window.errorRatePercent,
        p95Ms: quantile(window.sketch, 0.95),
        gatewayCauses: s === undefined ? {} : gatewayCausesOf(serviceWindows(s, now), now, RULE_WINDOW_MINUTES),
      },
    };
  });
}

/**
 * Gateway failures by cause in the minutes a window of `minutes` touches (whole
 * minutes, like the window's latency sketch: counts to describe an alert with,
 * not to decide one). Only the causes seen.
 */
function gatewayCausesOf(windows: Windows, now: number, minutes: number): Partial<Record<GatewayCause, number>> {
  const oldest = minuteOf(now) - minutes;
  const out: Partial<Record<GatewayCause, number>> = {};
  for (const bucket of windows.minutes) {
    if (bucket.minute < oldest) continue;
    for (const cause of GATEWAY_CAUSES) {
      const n = gatewayCount(bucket.tally.gateway, gatewayKindOf(cause));
      if (n > 0) out[cause] = (out[cause] ?? 0) + n;
    }
  }
  return out;
}
