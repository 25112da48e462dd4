import { describe, expect, it } from "vitest";
import { type FailureKind, isRetryable, panicMode, retryAllowed } from "../../src/core/health/index";

/** Largest number of concurrent retries the budget admits for `activeRequests`. */
function maxRetries(activeRequests: number): number {
  let retries = 0;
  while (retryAllowed({ activeRequests, activeRetries: retries })) retries++;
  return retries;
}

describe("retryAllowed", () => {
  it("10 active requests: 3 retries, from the minimum concurrency", () => {
    expect(maxRetries(10)).toBe(3);
  });

  it("100 active requests: 20 retries (20%)", () => {
    expect(maxRetries(100)).toBe(20);
    expect(retryAllowed({ activeRequests: 100, activeRetries: 19 })).toBe(true);
    expect(retryAllowed({ activeRequests: 100, activeRetries: 20 })).toBe(false);
  });

  it("floors the budget (17 × 20% = 3.4 → 3)", () => {
    expect(maxRetries(17)).toBe(3);
    expect(maxRetries(20)).toBe(4);
  });

  it("an idle service still gets the minimum; custom budgets apply", () => {
    expect(maxRetries(0)).toBe(3);
    expect(retryAllowed({ activeRequests: 100, activeRetries: 40 }, { budgetPercent: 50, minRetryConcurrency: 1 })).toBe(
      true,
    );
    expect(retryAllowed({ activeRequests: 0, activeRetries: 0 }, { budgetPercent: 20, minRetryConcurrency: 0 })).toBe(
      false,
    );
  });

  it("fails closed on a corrupt retry count", () => {
    expect(retryAllowed({ activeRequests: 100, activeRetries: Number.NaN })).toBe(false);
    expect(maxRetries(Number.NaN)).toBe(3);
  });
});

describe("isRetryable", () => {
  const idempotent = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "get"];
  const unsafe = ["POST", "PATCH", "CONNECT", "PROPFIND"];
  const failures: { failure: FailureKind; status?: number; idempotentRetry: boolean; unsafeRetry: boolean }[] = [
    { failure: "connect", idempotentRetry: true, unsafeRetry: true },
    { failure: "timeout", idempotentRetry: true, unsafeRetry: false },
    { failure: "status", status: 502, idempotentRetry: true, unsafeRetry: false },
    { failure: "status", status: 503, idempotentRetry: true, unsafeRetry: false },
    { failure: "status", status: 504, idempotentRetry: true, unsafeRetry: false },
    { failure: "status", status: 500, idempotentRetry: false, unsafeRetry: false },
    { failure: "status", status: 501, idempotentRetry: false, unsafeRetry: false },
    { failure: "status", status: 429, idempotentRetry: false, unsafeRetry: false },
    { failure: "status", status: 404, idempotentRetry: false, unsafeRetry: false },
    { failure: "status", idempotentRetry: false, unsafeRetry: false },
  ];

  for (const f of failures) {
    const label = `${f.failure}${f.status === undefined ? "" : ` ${f.status}`}`;
    it(`${label}: idempotent ${f.idempotentRetry}, non-idempotent ${f.unsafeRetry}, never with a streamed body`, () => {
      for (const m of idempotent) expect(isRetryable(m, false, f.failure, f.status)).toBe(f.idempotentRetry);
      for (const m of unsafe) expect(isRetryable(m, false, f.failure, f.status)).toBe(f.unsafeRetry);
      for (const m of [...idempotent, ...unsafe]) expect(isRetryable(m, true, f.failure, f.status)).toBe(false);
    });
  }
});

describe("panicMode", () => {
  it("1 of 3 available (33% < 50%) panics, 2 of 3 does not", () => {
    expect(panicMode(1, 3)).toBe(true);
    expect(panicMode(2, 3)).toBe(false);
  });

  it("exactly at the threshold is not panic; none available is", () => {
    expect(panicMode(2, 4)).toBe(false);
    expect(panicMode(0, 4)).toBe(true);
  });

  it("never panics with no instances or a zero threshold", () => {
    expect(panicMode(0, 0)).toBe(false);
    expect(panicMode(0, 5, 0)).toBe(false);
  });

  it("honours a custom threshold and clamps odd counts", () => {
    expect(panicMode(7, 10, 80)).toBe(true);
    expect(panicMode(8, 10, 80)).toBe(false);
    expect(panicMode(12, 10)).toBe(false);
    expect(panicMode(-1, 10)).toBe(true);
  });
});
