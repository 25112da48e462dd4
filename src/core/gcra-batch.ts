/**
 * Handing tokens out in batches, so a busy client's requests need not each
 * ask the limiter: the edge reserves a few tokens at once and spends them
 * locally, and gives back what it did not use. Both operations keep GCRA's
 * guarantee: a reservation is granted only from capacity that exists now (never
 * more than a single request at a time could have taken), and a refund never
 * leaves the bucket fuller than full.
 *
 * The one exception is debt: requests an isolate admitted on credit before it
 * had heard from the limiter (a client's first few there, src/edge/token-pool.ts).
 * They happened, so they are charged whatever the bucket holds, up to an empty
 * bucket (GCRA's own rule: a client never owes more than a full bucket), and the
 * client then waits like any other that used its burst.
 */
import { gcra, type GcraDecision, type GcraState, type RateLimitPolicy } from "./gcra";

export interface Reservation {
  /** Tokens granted, 0..wanted. */
  readonly granted: number;
  /** The decision for the granted amount (or the refusal when none was). */
  readonly decision: GcraDecision;
}

export function reserve(previous: GcraState | null, policy: RateLimitPolicy, now: number, wanted: number): Reservation {
  const first = gcra(previous, policy, now, 1);
  if (!first.allowed) return { granted: 0, decision: first };
  const granted = Math.max(1, Math.min(Math.floor(wanted), first.remaining + 1));
  return { granted, decision: granted === 1 ? first : gcra(previous, policy, now, granted) };
}

export function refund(state: GcraState, policy: RateLimitPolicy, now: number, tokens: number): GcraState {
  if (!(tokens > 0)) return state;
  const interval = policy.periodMs / policy.limit;
  return { tat: Math.max(now, state.tat - Math.floor(tokens) * interval) };
}

/** Charges `requests` already admitted (debt) whether or not they fit, leaving at most an empty bucket. */
export function chargeDebt(previous: GcraState | null, policy: RateLimitPolicy, now: number, requests: number): GcraState | null {
  if (!(requests >= 1)) return previous;
  const interval = policy.periodMs / policy.limit;
  const charged = Math.max(now, previous?.tat ?? now) + Math.floor(requests) * interval;
  return { tat: Math.min(charged, now + policy.burst * interval) };
}

/** What the limiter answers an isolate's reservation (RateLimiterDO.reserve), and the state it then keeps. */
export interface SettledReservation {
  /** The bucket after the charge and the grant; `changed` says whether it differs from the one passed in. */
  readonly state: GcraState | null;
  readonly changed: boolean;
  readonly granted: number;
  readonly allowed: boolean;
  /** Unit requests that would still be allowed now. */
  readonly remaining: number;
  readonly resetMs: number;
  /** 0 while there is room; otherwise ms until one request would fit. */
  readonly retryAfterMs: number;
}

/**
 * Charges `debt` (requests admitted on credit), then grants up to `wanted`
 * tokens (0: only the charge, answering how much room is left).
 */
export function settleReservation(previous: GcraState | null, policy: RateLimitPolicy, now: number, wanted: number, debt: number): SettledReservation {
  const charged = chargeDebt(previous, policy, now, debt);
  if (wanted >= 1) {
    const { granted, decision } = reserve(charged, policy, now, wanted);
    const state = granted > 0 ? decision.state : charged;
    return { state, changed: state !== previous, granted, allowed: granted > 0, remaining: decision.remaining, resetMs: decision.resetMs, retryAfterMs: decision.retryAfterMs };
  }
  // Only the charge: report the room left as a one-request check would, without taking it.
  const probe = gcra(charged, policy, now, 1);
  const remaining = probe.allowed ? probe.remaining + 1 : 0;
  return { state: charged, changed: charged !== previous, granted: 0, allowed: remaining > 0, remaining, resetMs: probe.resetMs, retryAfterMs: probe.retryAfterMs };
}
