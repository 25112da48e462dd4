/**
 * Retry policy, modelled on Envoy: a retry budget caps how many retries may be
 * in flight relative to normal traffic, so retries cannot multiply load on a
 * service that is already failing (a retry storm), and isRetryable decides
 * whether retrying a given failure is safe at all.
 */

export interface RetryLoad {
  /** Requests currently in flight to the service (including retries). */
  readonly activeRequests: number;
  /** Retries currently in flight to the service. */
  readonly activeRetries: number;
}

export interface RetryBudget {
  /** Share of active requests that may be retries. */
  readonly budgetPercent: number;
  /** Retries always allowed, so a quiet service can still retry at all. */
  readonly minRetryConcurrency: number;
}

/** Envoy's defaults. */
export const DEFAULT_RETRY_BUDGET: RetryBudget = { budgetPercent: 20, minRetryConcurrency: 3 };

function nonNegative(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * Allowed when activeRetries < max(minRetryConcurrency, floor(budgetPercent % of
 * activeRequests)). Floored like Envoy (it computes the limit as an integer), so
 * 17 active requests at 20% allow 3 concurrent retries, not 3.4. A corrupt
 * (NaN) retry count denies: a retry is optional extra load, so fail closed.
 */
export function retryAllowed(load: RetryLoad, budget: RetryBudget = DEFAULT_RETRY_BUDGET): boolean {
  if (Number.isNaN(load.activeRetries)) return false;
  const byBudget = Math.floor((nonNegative(load.activeRequests) * nonNegative(budget.budgetPercent)) / 100);
  const limit = Math.max(nonNegative(budget.minRetryConcurrency), byBudget);
  return load.activeRetries < limit;
}

export type FailureKind = "connect" | "timeout" | "status";

/** RFC 9110 idempotent methods the orchestrator retries (TRACE is not proxied). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/** Bad gateway, unavailable, gateway timeout: the upstream (or the path to it) failed, not the request. */
const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * Whether a failed upstream attempt may be retried on another instance.
 *
 * `hadStreamedBody`: the request carried a body that was handed to fetch. Such a
 * body is a consumed stream that cannot be replayed, and part of it may have
 * reached the upstream, so nothing with a body is retried, whatever the method.
 *
 * - Idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) are retried on connect
 *   failure, on timeout (treated as 504) and on 502/503/504: repeating them is
 *   harmless even if the first attempt took effect.
 * - Other methods (POST, PATCH, …) are retried only on a connect failure, and
 *   only without a body: then no byte reached the upstream and it cannot have
 *   acted on the request. After a timeout or a status the upstream may already
 *   have performed the operation, and repeating it could e.g. pay twice.
 *
 * The method is upper-cased because fetch only normalises the standard ones.
 */
export function isRetryable(method: string, hadStreamedBody: boolean, failure: FailureKind, status?: number): boolean {
  if (hadStreamedBody) return false;
  if (failure === "connect") return true;
  if (!IDEMPOTENT.has(method.toUpperCase())) return false;
  if (failure === "timeout") return true;
  return status !== undefined && RETRYABLE_STATUS.has(status);
}
