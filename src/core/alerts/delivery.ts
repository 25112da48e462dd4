/**
 * Retry policy for webhook delivery. Only the outcome of an attempt comes in
 * (a status and Retry-After header, or a network error), so this stays free of
 * fetch types and is testable with plain numbers.
 *
 *   2xx                                    delivered
 *   408, 429, 5xx, network error           retry: exponential backoff 1 s, 2 s, 4 s … capped at 5 min,
 *                                          at least Retry-After when the server sent one (also capped)
 *   other 4xx, 3xx, anything else          dead letter: resending the same body cannot succeed
 *   attempt maxAttempts failed             dead letter (10 attempts ≈ 8.5 min of backoff)
 *
 * There is no jitter: one Durable Object owns the outbox, so there is no herd
 * of clients to spread out, and it keeps the schedule deterministic.
 */

export interface RetryPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 5 * 60_000, maxAttempts: 10 };

export type AttemptResult =
  | { readonly status: number; readonly retryAfterHeader?: string | null }
  | { readonly networkError: true; readonly message?: string };

export type AttemptDecision =
  | { readonly retry: false; readonly outcome: "delivered" }
  | { readonly retry: true; readonly outcome: "retry"; readonly at: number; readonly reason: string }
  | { readonly retry: false; readonly outcome: "dead-letter"; readonly reason: string };

/** Delay after failed attempt number `attempt` (1-based): base × 2^(attempt−1), capped. */
export function backoffDelayMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
}

/**
 * Retry-After as a delay in ms from now: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"; a date in the past means 0). Null when
 * absent or unparseable, in which case plain backoff applies.
 */
export function parseRetryAfter(header: string | null | undefined, now: number): number | null {
  if (header === null || header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // HTTP-dates always name a weekday or month; requiring a letter keeps Date.parse from reading bare numbers.
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/** What to do after attempt number `attempt` (1-based) ended with `result` at `now`. */
export function nextAttempt(attempt: number, result: AttemptResult, now: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): AttemptDecision {
  let reason: string;
  let retryAfterMs: number | null = null;
  if ("networkError" in result) {
    reason = `network error${result.message === undefined ? "" : `: ${result.message}`}`;
  } else if (result.status >= 200 && result.status <= 299) {
    return { retry: false, outcome: "delivered" };
  } else if (isRetryableStatus(result.status)) {
    reason = `HTTP ${result.status}`;
    retryAfterMs = parseRetryAfter(result.retryAfterHeader, now);
  } else {
    return { retry: false, outcome: "dead-letter", reason: `HTTP ${result.status} is not retryable` };
  }
  if (attempt >= policy.maxAttempts) {
    return { retry: false, outcome: "dead-letter", reason: `gave up after ${attempt} attempts (last: ${reason})` };
  }
  const delay = Math.min(policy.maxDelayMs, Math.max(backoffDelayMs(attempt, policy), retryAfterMs ?? 0));
  return { retry: true, outcome: "retry", at: now + delay, reason };
}
