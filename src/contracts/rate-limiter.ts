/** RateLimiterDO's RPC contract: a decision for one client and policy (src/core/gcra.ts computes it). */

export interface RateDecision {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly resetMs: number;
  readonly retryAfterMs: number;
}
