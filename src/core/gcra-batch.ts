/**
 * Handing tokens out in batches, so a busy client's requests need not each
 * ask the limiter: the edge reserves a few tokens at once and spends them
 * locally, and gives back what it did not use. Both operations keep GCRA's
 * guarantee: a reservation is granted only from capacity that exists now (never
 * more than a single request at a time could have taken), and a refund never
 * leaves the bucket fuller than full.
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
