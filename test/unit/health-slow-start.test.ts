import { describe, expect, it } from "vitest";
import { effectiveWeight, scaleWeight, scaledWeights } from "../../src/core/health/index";

const WINDOW = 30_000;

describe("effectiveWeight", () => {
  it("starts at minFraction × weight and reaches full weight at the window end", () => {
    expect(effectiveWeight(10, 1_000, 1_000)).toBeCloseTo(1, 10);
    expect(effectiveWeight(10, 1_000, 1_000 + WINDOW / 2)).toBeCloseTo(5.5, 10);
    expect(effectiveWeight(10, 1_000, 1_000 + WINDOW)).toBe(10);
    expect(effectiveWeight(10, 1_000, 1_000 + 10 * WINDOW)).toBe(10);
  });

  it("is monotone non-decreasing over the window", () => {
    let previous = 0;
    for (let t = 0; t <= WINDOW + 1_000; t += 250) {
      const w = effectiveWeight(3, 0, t);
      expect(w).toBeGreaterThanOrEqual(previous);
      expect(w).toBeLessThanOrEqual(3);
      previous = w;
    }
    expect(previous).toBe(3);
  });

  it("gives full weight when never ramped, and for a non-positive window", () => {
    expect(effectiveWeight(4, null, 123)).toBe(4);
    expect(effectiveWeight(4, 100, 100, 0)).toBe(4);
  });

  it("treats a start in the future as just entered", () => {
    expect(effectiveWeight(10, 5_000, 1_000)).toBeCloseTo(1, 10);
  });

  it("never drops to zero, whatever minFraction says", () => {
    expect(effectiveWeight(10, 0, 0, WINDOW, 0)).toBeGreaterThan(0);
    expect(effectiveWeight(10, 0, 0, WINDOW, -1)).toBeCloseTo(0.1, 10);
    expect(effectiveWeight(10, 0, 0, WINDOW, 0.5)).toBeCloseTo(5, 10);
  });

  it("falls back to weight 1 for unusable weights", () => {
    expect(effectiveWeight(0, null, 0)).toBe(1);
    expect(effectiveWeight(Number.NaN, null, 0)).toBe(1);
  });
});

describe("scaledWeights", () => {
  it("multiplies by 100, rounds, keeps at least 1", () => {
    expect(scaledWeights([1, 0.1, 2.5, 0.001, 5])).toEqual([100, 10, 250, 1, 500]);
    expect(scaleWeight(0.3, 10)).toBe(3);
  });

  it("preserves the ratio of a ramping instance against full-weight ones", () => {
    const ramping = effectiveWeight(2, 0, WINDOW / 2); // 1.1
    expect(scaledWeights([2, ramping])).toEqual([200, 110]);
  });
});
