/**
 * A release's spec (core/release/spec.ts): defaults, and every rule a spec
 * must follow (steps strictly increasing to 100, at least one threshold,
 * ranges), each refusal naming its field.
 */
import { describe, expect, it } from "vitest";
import { normalizeReleaseSpec, type ReleaseSpecInput } from "../../src/core/release/spec";
import { isValidVersion } from "../../src/core/release/version";

const input = (over: Partial<ReleaseSpecInput> = {}): ReleaseSpecInput => ({ version: "v2", analysis: { maxErrorRatePercent: 5 }, ...over });
const fields = (over: Partial<ReleaseSpecInput>) => {
  const result = normalizeReleaseSpec(input(over));
  return result.ok ? [] : result.problems.map((p) => p.field);
};

describe("release spec", () => {
  it("fills in the defaults", () => {
    const result = normalizeReleaseSpec(input({ pinHeader: "X-Version" }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec).toEqual({
      version: "v2",
      steps: [5, 25, 50, 100],
      stepIntervalSeconds: 300,
      analysis: { minRequests: 20, maxErrorRatePercent: 5, errorRateAllowancePercent: 1, p95AllowanceMs: 10 },
      stickiness: null,
      pinHeader: "x-version",
      mirrorPercent: 0,
      dryRun: false,
    });
  });

  it("wants steps strictly increasing, whole percentages, ending at 100, with at least one below it", () => {
    expect(fields({ steps: [10, 50, 100] })).toEqual([]);
    expect(fields({ steps: [50, 50, 100] })).toEqual(["steps.1"]);
    expect(fields({ steps: [50, 25, 100] })).toEqual(["steps.1"]);
    expect(fields({ steps: [5, 25, 50] })).toEqual(["steps.2"]);
    expect(fields({ steps: [100] })).toEqual(["steps"]);
    expect(fields({ steps: [0, 100] })).toEqual(["steps.0"]);
    expect(fields({ steps: [2.5, 100] })).toEqual(["steps.0"]);
  });

  it("wants at least one threshold, and each in its range", () => {
    expect(fields({ analysis: {} })).toEqual(["analysis"]);
    expect(fields({ analysis: { minRequests: 5 } })).toEqual(["analysis"]);
    expect(fields({ analysis: { maxP95VsStable: 1.5 } })).toEqual([]);
    expect(fields({ analysis: { maxErrorRatePercent: 101 } })).toEqual(["analysis.maxErrorRatePercent"]);
    expect(fields({ analysis: { maxErrorRateVsStable: 0.5 } })).toEqual(["analysis.maxErrorRateVsStable"]);
    expect(fields({ analysis: { maxP95Ms: 100, minRequests: 0 } })).toEqual(["analysis.minRequests"]);
  });

  it("bounds the step interval (short ones allowed), the mirror share and the pin header", () => {
    expect(fields({ stepIntervalSeconds: 5 })).toEqual([]);
    expect(fields({ stepIntervalSeconds: 4 })).toEqual(["stepIntervalSeconds"]);
    expect(fields({ stepIntervalSeconds: 86_401 })).toEqual(["stepIntervalSeconds"]);
    expect(fields({ mirrorPercent: 100 })).toEqual([]);
    expect(fields({ mirrorPercent: 101 })).toEqual(["mirrorPercent"]);
    expect(fields({ pinHeader: "x version" })).toEqual(["pinHeader"]);
    expect(fields({ version: "v 2" })).toEqual(["version"]);
  });

  it("versions are 1-64 of letters, digits, dots, dashes, underscores and plus signs", () => {
    for (const ok of ["v2", "1.4.0-rc.1", "2026-06-01", "1.0.0+build.7", "a_b", "x".repeat(64)]) expect(isValidVersion(ok), ok).toBe(true);
    for (const bad of ["", "v 2", "v2/3", "x".repeat(65), "é", 2]) expect(isValidVersion(bad), String(bad)).toBe(false);
  });
});
