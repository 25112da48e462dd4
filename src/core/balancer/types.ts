/**
 * The shared pick interface every load-balancing strategy implements.
 *
 * Strategies are pure: they get the candidate instances (already filtered to the
 * ones eligible for traffic, in a stable order), the service's persisted balancer
 * state, and return the chosen instance plus the next state. RegistryDO persists
 * that state; nothing here touches storage, clocks or randomness.
 */

export const STRATEGIES = ["round-robin", "least-connections", "weighted", "health-aware"] as const;
export type Strategy = (typeof STRATEGIES)[number];

export type HealthStatus = "healthy" | "degraded" | "unhealthy";

export interface Candidate {
  /** Stable instance id; candidates arrive sorted by registration order. */
  readonly id: string;
  /** Positive integer weight (1 when the operator set none). */
  readonly weight: number;
  /** Requests currently in flight to this instance, as RegistryDO counts them. */
  readonly inflight: number;
  readonly health: HealthStatus;
  /**
   * Health score: lower is better. Derived from recent latency and error rate
   * (see health-score.ts). Only health-aware uses it.
   */
  readonly score: number;
}

/** Per-service state that survives between picks (and restarts, via RegistryDO). */
export interface BalancerState {
  /** Rotation cursor: round-robin position and the tie-breaker for other strategies. */
  readonly cursor: number;
  /** Smooth weighted round-robin "current weight" per instance id. */
  readonly currentWeights: Readonly<Record<string, number>>;
}

export const initialBalancerState: BalancerState = { cursor: 0, currentWeights: {} };

export interface Pick {
  readonly id: string;
  readonly state: BalancerState;
}

export type PickFunction = (candidates: readonly Candidate[], state: BalancerState) => Pick;
