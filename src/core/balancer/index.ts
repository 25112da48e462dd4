import { healthAware } from "./health-aware";
import { leastConnections } from "./least-connections";
import { roundRobin } from "./round-robin";
import { STRATEGIES } from "./types";
import type { BalancerState, Candidate, PickFunction, Strategy } from "./types";
import { weighted } from "./weighted";

export * from "./types";
export { roundRobin } from "./round-robin";
export { leastConnections } from "./least-connections";
export { weighted } from "./weighted";
export { healthAware } from "./health-aware";
export { healthScore, DEFAULT_LATENCY_MS, ERROR_PENALTY } from "./health-score";
export type { HealthScoreInput } from "./health-score";

export interface PickResult {
  readonly id: string;
  readonly state: BalancerState;
  /**
   * True when every instance was unhealthy and one was picked anyway. Failing open
   * beats refusing all traffic (health checks can be wrong, e.g. a flapping probe);
   * callers should surface it in logs/metrics.
   */
  readonly panic: boolean;
}

export const pickFunctions: Record<Strategy, PickFunction> = {
  "round-robin": roundRobin,
  "least-connections": leastConnections,
  weighted,
  "health-aware": healthAware,
};

/** Strategy names come from operator config and persisted state, so they need a runtime check. */
export function isStrategy(x: unknown): x is Strategy {
  return typeof x === "string" && (STRATEGIES as readonly string[]).includes(x);
}

/**
 * The instances allowed to take traffic, in their original (registration) order so
 * rotation positions stay meaningful. Health-aware distinguishes degraded from
 * healthy because ranking by score is its whole point; the other strategies have no
 * notion of "how healthy", so they only exclude the unhealthy.
 */
function eligible(strategy: Strategy, instances: readonly Candidate[]): readonly Candidate[] {
  if (strategy === "health-aware") {
    const healthy = instances.filter((c) => c.health === "healthy");
    if (healthy.length > 0) return healthy;
    return instances.filter((c) => c.health === "degraded");
  }
  return instances.filter((c) => c.health !== "unhealthy");
}

/**
 * Chooses an instance for one request. Returns null only when there are no
 * instances at all. Panic mode (Envoy's panic threshold): when fewer than
 * `panicThresholdPercent` of the instances are usable — and always when none
 * is — health is ignored and traffic spreads over all of them, because
 * concentrating everything on a few survivors (or refusing it all) usually
 * does more harm than a possibly wrong health verdict.
 */
export function pickInstance(
  strategy: Strategy,
  instances: readonly Candidate[],
  state: BalancerState,
  panicThresholdPercent = 0,
): PickResult | null {
  if (instances.length === 0) return null;
  const preferred = eligible(strategy, instances);
  const usable = instances.filter((c) => c.health !== "unhealthy").length;
  const panic = preferred.length === 0 || (usable / instances.length) * 100 < panicThresholdPercent;
  const pick = pickFunctions[strategy](panic ? instances : preferred, state);
  return { id: pick.id, state: pick.state, panic };
}
