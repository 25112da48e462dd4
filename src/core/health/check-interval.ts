/**
 * How often one instance is checked, chosen by where it is in the active
 * check's state machine, as Envoy's health checker does (interval,
 * unhealthy_interval, unhealthy_edge_interval, healthy_edge_interval):
 *
 *   steady (healthy or degraded)          interval
 *   just turned healthy (rose)            healthy edge interval   one quick confirmation
 *   unhealthy, passing but not yet `rise` healthy edge interval   "recovering": back in rotation within rise × this
 *   just turned unhealthy (fell)          unhealthy edge interval
 *   unhealthy, failing                    unhealthy interval
 *
 * The special intervals only ever make checks sooner: each is capped at the
 * service's own interval, so a service checked every 100 ms is never checked
 * less often because it is unhealthy. A healthy instance that has started to
 * fail keeps its normal interval until it is marked unhealthy (as in Envoy):
 * `retries` stays a tolerance in time, not only in probes.
 */
import type { ActiveCheckState } from "./active-check";

export interface CheckIntervals {
  /** The service's interval (its override, or HEALTH_CHECK_INTERVAL_MS). */
  readonly intervalMs: number;
  readonly unhealthyIntervalMs: number;
  readonly unhealthyEdgeIntervalMs: number;
  readonly healthyEdgeIntervalMs: number;
}

export type CheckPhase = "steady" | "just-recovered" | "recovering" | "just-unhealthy" | "unhealthy";

export function checkPhase(state: Pick<ActiveCheckState, "status" | "consecutiveSuccesses" | "edge">): CheckPhase {
  if (state.status === "unhealthy") {
    if (state.consecutiveSuccesses > 0) return "recovering";
    return state.edge === "fell" ? "just-unhealthy" : "unhealthy";
  }
  return state.edge === "rose" ? "just-recovered" : "steady";
}

/** The interval until this instance's next check. */
export function checkIntervalMs(state: Pick<ActiveCheckState, "status" | "consecutiveSuccesses" | "edge">, intervals: CheckIntervals): number {
  const base = intervals.intervalMs;
  switch (checkPhase(state)) {
    case "steady":
      return base;
    case "just-recovered":
    case "recovering":
      return Math.min(base, intervals.healthyEdgeIntervalMs);
    case "just-unhealthy":
      return Math.min(base, intervals.unhealthyEdgeIntervalMs);
    case "unhealthy":
      return Math.min(base, intervals.unhealthyIntervalMs);
  }
}
