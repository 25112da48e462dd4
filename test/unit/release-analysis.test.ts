/**
 * The canary analysis (core/release/analysis.ts): absolute and relative
 * thresholds, the absolute allowances of the relative ones, the minimum
 * request count, and when each verdict can be given (fail at once, pass and
 * inconclusive only at the end of the step).
 */
import { describe, expect, it } from "vitest";
import { analyze, newReleaseWindow, recordSideOutcome, type ReleaseWindow, type SideTally } from "../../src/core/release/analysis";
import type { AnalysisSpec } from "../../src/core/release/spec";

const T0 = 1_700_000_000_000;
const END = T0 + 60_000;
const spec = (over: Partial<AnalysisSpec> = {}): AnalysisSpec => ({ minRequests: 20, errorRateAllowancePercent: 1, p95AllowanceMs: 10, ...over });

function feed(side: SideTally, requests: number, failures: number, latencyMs = 50): void {
  for (let i = 0; i < requests; i++) recordSideOutcome(side, i < failures, latencyMs);
}

function windowOf(canary: [number, number, number?], stable: [number, number, number?]): ReleaseWindow {
  const window = newReleaseWindow(T0);
  feed(window.canary, canary[0], canary[1], canary[2]);
  feed(window.stable, stable[0], stable[1], stable[2]);
  return window;
}

describe("canary analysis", () => {
  it("judges nothing below minRequests: pending during the step, inconclusive at its end", () => {
    const window = windowOf([19, 19], [100, 0]);
    expect(analyze(window, spec({ maxErrorRatePercent: 5 }), T0 + 1_000, END).verdict).toBe("pending");
    const atEnd = analyze(window, spec({ maxErrorRatePercent: 5 }), END, END);
    expect(atEnd.verdict).toBe("inconclusive");
    expect(atEnd.checks).toEqual([{ threshold: "maxErrorRatePercent", limit: 5, observed: null, result: "unjudged" }]);
    expect(atEnd.reason).toMatch(/too few requests/);
  });

  it("fails as soon as an absolute threshold is crossed with minRequests, long before the step ends", () => {
    const analysis = analyze(windowOf([20, 2], [100, 0]), spec({ maxErrorRatePercent: 5 }), T0 + 1_000, END);
    expect(analysis.verdict).toBe("fail");
    expect(analysis.canary).toEqual({ requests: 20, failures: 2, errorRatePercent: 10, p95Ms: expect.closeTo(50, 0) as number });
    expect(analysis.checks[0]).toMatchObject({ threshold: "maxErrorRatePercent", limit: 5, observed: 10, result: "fail" });
    expect(analysis.reason).toMatch(/error rate 10% > 5%/);
  });

  it("passes only at the end of the step, when every threshold held", () => {
    const window = windowOf([40, 1], [100, 0]);
    expect(analyze(window, spec({ maxErrorRatePercent: 5 }), END - 1, END).verdict).toBe("pending");
    expect(analyze(window, spec({ maxErrorRatePercent: 5 }), END, END).verdict).toBe("pass");
  });

  it("fails on p95 above the absolute limit", () => {
    const analysis = analyze(windowOf([30, 0, 900], [100, 0, 40]), spec({ maxP95Ms: 500 }), T0 + 1, END);
    expect(analysis.verdict).toBe("fail");
    expect(analysis.checks[0]?.observed).toBeCloseTo(900, -1);
  });

  it("compares the error rate with the stable side's: ratio × stable + the allowance", () => {
    // stable 2 %: the limit is 2 × 2 + 1 = 5 %.
    expect(analyze(windowOf([100, 5], [100, 2]), spec({ maxErrorRateVsStable: 2 }), END, END).verdict).toBe("pass");
    const failed = analyze(windowOf([100, 6], [100, 2]), spec({ maxErrorRateVsStable: 2 }), T0 + 1, END);
    expect(failed.verdict).toBe("fail");
    expect(failed.checks[0]).toMatchObject({ limit: 5, observed: 6 });
  });

  it("the allowance keeps a few failures against a stable side at 0 % from failing the canary", () => {
    // 0.5 % against 0 %: infinitely worse as a ratio, within the 1 point allowance.
    expect(analyze(windowOf([200, 1], [1000, 0]), spec({ maxErrorRateVsStable: 2 }), END, END).verdict).toBe("pass");
    expect(analyze(windowOf([200, 1], [1000, 0]), spec({ maxErrorRateVsStable: 2, errorRateAllowancePercent: 0 }), T0 + 1, END).verdict).toBe("fail");
  });

  it("compares p95 with the stable side's, with its own allowance", () => {
    // stable p95 100 ms: the limit is 1.5 × 100 + 10 = 160 ms.
    expect(analyze(windowOf([50, 0, 150], [50, 0, 100]), spec({ maxP95VsStable: 1.5 }), END, END).verdict).toBe("pass");
    expect(analyze(windowOf([50, 0, 200], [50, 0, 100]), spec({ maxP95VsStable: 1.5 }), T0 + 1, END).verdict).toBe("fail");
  });

  it("a relative threshold needs minRequests on the stable side too", () => {
    const window = windowOf([100, 50], [10, 0]);
    expect(analyze(window, spec({ maxErrorRateVsStable: 2 }), T0 + 1, END).verdict).toBe("pending");
    expect(analyze(window, spec({ maxErrorRateVsStable: 2 }), END, END).verdict).toBe("inconclusive");
    // An absolute threshold beside it still fails the canary on its own.
    expect(analyze(window, spec({ maxErrorRateVsStable: 2, maxErrorRatePercent: 10 }), T0 + 1, END).verdict).toBe("fail");
  });

  it("counts gateway errors as failures, without a latency", () => {
    const window = newReleaseWindow(T0);
    for (let i = 0; i < 20; i++) recordSideOutcome(window.canary, true, null);
    const analysis = analyze(window, spec({ maxErrorRatePercent: 5, maxP95Ms: 100 }), T0 + 1, END);
    expect(analysis.canary).toEqual({ requests: 20, failures: 20, errorRatePercent: 100, p95Ms: null });
    expect(analysis.verdict).toBe("fail");
    expect(analysis.checks.map((c) => c.result)).toEqual(["fail", "unjudged"]);
  });

  it("a paused release (judged at Infinity) is only ever failed", () => {
    const window = windowOf([100, 0], [100, 0]);
    expect(analyze(window, spec({ maxErrorRatePercent: 5 }), END * 2, Number.POSITIVE_INFINITY).verdict).toBe("pending");
  });

  it("folds many latencies into the sketch without losing count", () => {
    const window = newReleaseWindow(T0);
    for (let i = 0; i < 5000; i++) recordSideOutcome(window.canary, false, i % 100);
    const analysis = analyze(window, spec({ maxP95Ms: 1000 }), END, END);
    expect(analysis.canary.requests).toBe(5000);
    expect(analysis.canary.p95Ms).toBeGreaterThan(90);
    expect(analysis.canary.p95Ms).toBeLessThan(100);
  });
});
