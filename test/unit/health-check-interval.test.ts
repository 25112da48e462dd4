import { describe, expect, it } from "vitest";
import {
  type ActiveCheckState,
  type CheckIntervals,
  type Probe,
  DEFAULT_ACTIVE_CHECK_CONFIG,
  applyProbe,
  checkIntervalMs,
  checkPhase,
  initialActiveState,
} from "../../src/core/health/index";

const INTERVALS: CheckIntervals = { intervalMs: 30_000, unhealthyIntervalMs: 5_000, unhealthyEdgeIntervalMs: 3_000, healthyEdgeIntervalMs: 2_000 };
const PASS: Probe = { ok: true, kind: "pass", latencyMs: 20 };
const FAIL: Probe = { ok: false, kind: "fail", latencyMs: null, error: "refused" };

function run(probes: readonly Probe[], start: ActiveCheckState = initialActiveState()): ActiveCheckState[] {
  const states: ActiveCheckState[] = [];
  let state = start;
  probes.forEach((probe, i) => {
    state = applyProbe(state, probe, 1_000 + i * 1_000, DEFAULT_ACTIVE_CHECK_CONFIG).state;
    states.push(state);
  });
  return states;
}

describe("check intervals by state (Envoy's interval, unhealthy_interval and edge intervals)", () => {
  it("walks an instance through going down and coming back (retries 3, rise 2)", () => {
    const states = run([PASS, FAIL, FAIL, FAIL, FAIL, PASS, PASS, PASS]);
    expect(states.map(checkPhase)).toEqual([
      "steady", // healthy
      "steady", // failing but still healthy: the normal interval, as in Envoy
      "steady",
      "just-unhealthy", // the 3rd failure marked it unhealthy
      "unhealthy",
      "recovering", // passing, not yet `rise` passes
      "just-recovered", // the 2nd pass brought it back
      "steady",
    ]);
    expect(states.map((s) => checkIntervalMs(s, INTERVALS))).toEqual([30_000, 30_000, 30_000, 3_000, 5_000, 2_000, 2_000, 30_000]);
  });

  it("a restarted instance is back within rise × the healthy edge interval", () => {
    const down = run([FAIL, FAIL, FAIL, FAIL]).at(-1) as ActiveCheckState;
    const first = applyProbe(down, PASS, 10_000).state;
    expect(first.status).toBe("unhealthy");
    // The next probe comes after the healthy edge interval (not 30 s), and it brings the instance back.
    expect(checkIntervalMs(first, INTERVALS)).toBe(2_000);
    const second = applyProbe(first, PASS, 10_000 + checkIntervalMs(first, INTERVALS)).state;
    expect(second.status).toBe("healthy");
  });

  it("never slower than the service's own interval", () => {
    const fast = { ...INTERVALS, intervalMs: 100 };
    const [, , , justDown, down, recovering, justUp] = run([PASS, FAIL, FAIL, FAIL, FAIL, PASS, PASS]);
    for (const state of [justDown, down, recovering, justUp]) expect(checkIntervalMs(state as ActiveCheckState, fast)).toBe(100);
  });

  it("an instance starting unhealthy (no edge yet) uses the unhealthy interval", () => {
    expect(checkIntervalMs(initialActiveState("unhealthy"), INTERVALS)).toBe(5_000);
    expect(checkIntervalMs(initialActiveState(), INTERVALS)).toBe(30_000);
  });

  it("the edge lasts one probe", () => {
    const [justDown, next] = run([FAIL, FAIL, FAIL, FAIL]).slice(2);
    expect(justDown?.edge).toBe("fell");
    expect(next?.edge).toBeUndefined();
  });
});
