import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SKETCH_RELATIVE_ACCURACY, mergeSketch, quantile, sketchOf } from "../../src/core/metrics/sketch";

/*
 * Exact quantile, by the rank convention the sketch documents: the sample at
 * 1-based rank ceil(q × n) of the sorted list. Computed here in integers
 * (q given in hundredths) so it is independent of the sketch's own arithmetic.
 *
 * The bound is α = 1% plus 1e-9 of it: values that sit exactly on a bucket
 * edge can land one bucket off through log() rounding, which costs at most a
 * few ulps of relative error beyond α.
 */
const QUANTILES_PERCENT = [50, 90, 95, 99] as const;
const BOUND = SKETCH_RELATIVE_ACCURACY * (1 + 1e-9);

function exactQuantile(sorted: readonly number[], percent: number): number {
  const rank = Math.max(1, Math.floor((percent * sorted.length + 99) / 100));
  const value = sorted[rank - 1];
  if (value === undefined) throw new Error("rank out of range");
  return value;
}

/** Latencies: mostly log-uniform over 0.01 ms .. 1000 s, some raw doubles, some zeros, some repeats. */
const latency = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -2, max: 6, noNaN: true }).map((e) => 10 ** e) },
  { weight: 2, arbitrary: fc.double({ min: 0.01, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constantFrom(1, 5, 100, 5000) },
);
const samples = fc.array(latency, { minLength: 1, maxLength: 400 });

describe("sketch properties", () => {
  it("p50/p90/p95/p99 are within 1% relative error of the exact quantile", () => {
    fc.assert(
      fc.property(samples, (values) => {
        const s = sketchOf(values);
        const sorted = [...values].sort((a, b) => a - b);
        for (const percent of QUANTILES_PERCENT) {
          const exact = exactQuantile(sorted, percent);
          const estimate = quantile(s, percent / 100);
          if (estimate === null) return false;
          if (exact === 0) {
            if (estimate !== 0) return false;
          } else if (Math.abs(estimate - exact) > BOUND * exact) {
            return false;
          }
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it("merge(a, b) equals the sketch of the concatenation", () => {
    fc.assert(
      fc.property(fc.array(latency, { maxLength: 200 }), fc.array(latency, { maxLength: 200 }), (a, b) => {
        const merged = mergeSketch(sketchOf(a), sketchOf(b));
        const whole = sketchOf([...a, ...b]);
        expect(merged.bins).toEqual(whole.bins);
        expect(merged.zeroCount).toBe(whole.zeroCount);
        expect(merged.count).toBe(whole.count);
        expect(merged.min).toBe(whole.min);
        expect(merged.max).toBe(whole.max);
        // Float addition in a different order: equal up to rounding.
        expect(Math.abs(merged.sum - whole.sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, whole.sum));
        for (const q of [0.5, 0.9, 0.95, 0.99]) expect(quantile(merged, q)).toBe(quantile(whole, q));
      }),
      { numRuns: 300 },
    );
  });
});
