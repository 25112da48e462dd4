import { describe, expect, it } from "vitest";
import {
  SKETCH_MAX_BINS,
  SKETCH_RELATIVE_ACCURACY,
  addSample,
  bucketIndex,
  bucketValue,
  countAtOrBelow,
  createSketch,
  isSketch,
  mergeSketch,
  quantile,
  quantileRank,
  sketchCount,
  sketchMax,
  sketchMean,
  sketchMin,
  sketchOf,
  sketchSum,
} from "../../src/core/metrics/sketch";

const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
/** α plus float slack at bucket edges (log/pow rounding), far below anything observable. */
const TOLERANCE = SKETCH_RELATIVE_ACCURACY * (1 + 1e-9);

function relErr(estimate: number, exact: number): number {
  return Math.abs(estimate - exact) / exact;
}

describe("sketch basics", () => {
  it("an empty sketch has no quantiles, min or max", () => {
    const s = createSketch();
    expect(sketchCount(s)).toBe(0);
    expect(sketchSum(s)).toBe(0);
    expect(sketchMin(s)).toBeNull();
    expect(sketchMax(s)).toBeNull();
    expect(sketchMean(s)).toBeNull();
    expect(quantile(s, 0.5)).toBeNull();
  });

  it("addSample returns a new sketch and leaves its input alone", () => {
    const a = createSketch();
    const b = addSample(a, 12);
    const c = addSample(b, 30, 3);
    expect(sketchCount(a)).toBe(0);
    expect(sketchCount(b)).toBe(1);
    expect(sketchCount(c)).toBe(4);
    expect(sketchSum(c)).toBe(102);
    expect(sketchMin(c)).toBe(12);
    expect(sketchMax(c)).toBe(30);
    expect(Object.keys(b.bins)).toHaveLength(1);
  });

  it("one sample is reported exactly (clamped into [min, max])", () => {
    for (const v of [0.01, 1, 1.5, 99.9, 5000, 123456.789]) {
      const s = addSample(createSketch(), v);
      for (const q of [0, 0.5, 1]) expect(quantile(s, q)).toBe(v);
    }
  });

  it("every value's bucket representative is within α of it", () => {
    for (let v = 0.01; v < 1e7; v *= 1.037) {
      expect(relErr(bucketValue(bucketIndex(v)), v)).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("bucket i holds (γ^(i−1), γ^i]", () => {
    for (const i of [-200, -1, 0, 1, 50, 700]) {
      const upper = GAMMA ** i;
      expect(bucketIndex(upper * (1 - 1e-9))).toBe(i);
      expect(bucketIndex(upper * (1 + 1e-9))).toBe(i + 1);
    }
  });

  it("zero, negative and sub-resolution values share the zero bucket", () => {
    const s = sketchOf([0, -5, 0.001, 10]);
    expect(s.zeroCount).toBe(3);
    expect(sketchMin(s)).toBe(0);
    expect(sketchSum(s)).toBeCloseTo(10.001, 9);
    expect(quantile(s, 0.5)).toBe(0);
    expect(quantile(s, 1)).toBe(10);
  });

  it("rejects non-finite samples and bad counts", () => {
    expect(() => addSample(createSketch(), Number.NaN)).toThrow(RangeError);
    expect(() => addSample(createSketch(), Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => addSample(createSketch(), 1, 0)).toThrow(RangeError);
    expect(() => addSample(createSketch(), 1, 1.5)).toThrow(RangeError);
    expect(() => quantile(createSketch(), 1.1)).toThrow(RangeError);
    expect(() => quantile(createSketch(), Number.NaN)).toThrow(RangeError);
  });
});

describe("rank convention", () => {
  it("is ceil(q × n), at least 1, immune to float noise", () => {
    expect(quantileRank(0.5, 10)).toBe(5);
    expect(quantileRank(0.5, 11)).toBe(6);
    expect(quantileRank(0.99, 100)).toBe(99);
    expect(quantileRank(0.99, 101)).toBe(100);
    expect(quantileRank(0.07, 100)).toBe(7); // 0.07 × 100 = 7.000000000000001 in floats
    expect(quantileRank(0, 10)).toBe(1);
    expect(quantileRank(1, 10)).toBe(10);
  });

  it("quantiles of 1..100 ms hit the rank's sample within α", () => {
    const s = sketchOf(Array.from({ length: 100 }, (_, i) => i + 1));
    for (const [q, exact] of [
      [0.5, 50],
      [0.9, 90],
      [0.95, 95],
      [0.99, 99],
    ] as const) {
      expect(relErr(quantile(s, q) ?? Number.NaN, exact)).toBeLessThanOrEqual(TOLERANCE);
    }
  });
});

describe("merge", () => {
  it("returns a new sketch equal to the sketch of both sample lists", () => {
    const a = sketchOf([1, 2, 3, 400]);
    const b = sketchOf([0, 5, 5, 9000]);
    const before = JSON.stringify(a);
    const m = mergeSketch(a, b);
    expect(JSON.stringify(a)).toBe(before);
    const whole = sketchOf([1, 2, 3, 400, 0, 5, 5, 9000]);
    expect(m).toEqual({ ...whole, sum: m.sum });
    expect(m.sum).toBeCloseTo(whole.sum, 9);
  });

  it("merging with an empty sketch changes nothing", () => {
    const a = sketchOf([3, 4]);
    expect(mergeSketch(a, createSketch())).toEqual(a);
    expect(mergeSketch(createSketch(), a)).toEqual(a);
  });
});

describe("bounded memory", () => {
  // γ^i for i over a range wider than the cap: one sample per bucket.
  const spread = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => GAMMA ** (from + k) * 0.999);

  it("never keeps more than SKETCH_MAX_BINS buckets, keeps every count and the top accurate", () => {
    const values = spread(-200, 3000);
    const s = sketchOf(values);
    expect(Object.keys(s.bins).length).toBe(SKETCH_MAX_BINS);
    expect(sketchCount(s)).toBe(values.length);
    const sorted = [...values].sort((x, y) => x - y);
    for (const q of [0.9, 0.99, 1]) {
      const exact = sorted[quantileRank(q, sorted.length) - 1] ?? Number.NaN;
      expect(relErr(quantile(s, q) ?? Number.NaN, exact)).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("collapse commutes with merge", () => {
    const a = spread(-200, 1500);
    const b = spread(1000, 3000);
    const merged = mergeSketch(sketchOf(a), sketchOf(b));
    const whole = sketchOf([...a, ...b]);
    expect(merged.bins).toEqual(whole.bins);
    expect(merged.count).toBe(whole.count);
  });
});

describe("histogram support", () => {
  it("countAtOrBelow is monotone and agrees with the quantiles", () => {
    const s = sketchOf([0, 3, 7, 20, 80, 300, 2000]);
    let previous = -1;
    for (const bound of [0, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]) {
      const c = countAtOrBelow(s, bound);
      expect(c).toBeGreaterThanOrEqual(previous);
      previous = c;
    }
    expect(countAtOrBelow(s, 5)).toBe(2);
    expect(countAtOrBelow(s, 10)).toBe(3);
    expect(countAtOrBelow(s, 1e9)).toBe(7);
  });
});

describe("serialisation", () => {
  it("survives a JSON round trip unchanged and passes isSketch", () => {
    const s = sketchOf([0, 0.5, 1, 2, 3.3, 1000, 54321]);
    const back: unknown = JSON.parse(JSON.stringify(s));
    expect(back).toEqual(s);
    expect(isSketch(back)).toBe(true);
    expect(isSketch(createSketch())).toBe(true);
  });

  it("isSketch rejects corrupt objects", () => {
    const s = sketchOf([1, 2]);
    expect(isSketch(null)).toBe(false);
    expect(isSketch({ ...s, count: 3 })).toBe(false);
    expect(isSketch({ ...s, bins: { x: 2 } })).toBe(false);
    expect(isSketch({ ...s, bins: { "01": 2 } })).toBe(false);
    expect(isSketch({ ...s, bins: { "5": -2 } })).toBe(false);
    expect(isSketch({ ...s, min: null })).toBe(false);
    expect(isSketch({ ...s, sum: "3" })).toBe(false);
  });
});
