/**
 * Latency assumed for an instance with no measurements yet. It is a typical
 * edge-to-origin round trip: low enough that a fresh instance receives traffic (and
 * so gets measured), high enough that it does not outrank instances already proven
 * fast and get flooded before its first sample arrives.
 */
export const DEFAULT_LATENCY_MS = 100;

/**
 * Each unit of error rate multiplies the cost by this much. A failed request costs
 * the caller its latency plus a retry elsewhere (often after a timeout), so errors
 * must weigh far more than latency: at 10, a 10% error rate doubles the score and a
 * fully failing instance looks 11x slower than a clean one of equal latency.
 */
export const ERROR_PENALTY = 10;

export interface HealthScoreInput {
  /** Exponentially weighted moving average of response latency; null when unmeasured. */
  readonly latencyEwmaMs: number | null;
  /** Fraction of recent requests that failed, 0..1. */
  readonly errorRate: number;
}

/**
 * Health score used by the health-aware strategy; lower is better.
 *
 * score = max(latency, 1) * (1 + ERROR_PENALTY * errorRate)
 *
 * The score is multiplicative so it reads as "effective latency": health-aware then
 * multiplies it by (inflight + 1), approximating expected wait. The 1 ms floor keeps
 * a sub-millisecond (or zero, from a coarse timer) EWMA from yielding a score of 0,
 * which would make the instance cost nothing regardless of load or errors and let it
 * absorb all traffic. Out-of-range inputs are clamped instead of propagating NaN
 * into the balancer, where it would break every comparison.
 */
export function healthScore(input: HealthScoreInput): number {
  const rawLatency = input.latencyEwmaMs;
  const latency =
    rawLatency === null || Number.isNaN(rawLatency) ? DEFAULT_LATENCY_MS : Math.max(rawLatency, 1);
  const errorRate = Number.isNaN(input.errorRate) ? 0 : Math.min(1, Math.max(0, input.errorRate));
  return latency * (1 + ERROR_PENALTY * errorRate);
}
