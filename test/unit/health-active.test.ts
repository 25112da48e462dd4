import { describe, expect, it } from "vitest";
import {
  type ActiveCheckConfig,
  type ActiveCheckState,
  type HealthEvent,
  type Probe,
  DEFAULT_ACTIVE_CHECK_CONFIG,
  LATENCY_WINDOW,
  RESULT_WINDOW,
  applyProbe,
  initialActiveState,
  medianProbeLatencyMs,
  probeFailureRate,
} from "../../src/core/health/index";

const PASS: Probe = { ok: true, latencyMs: 50, kind: "pass" };
const FAIL: Probe = { ok: false, latencyMs: 10, kind: "fail", error: "HTTP 503" };
const TIMEOUT: Probe = { ok: false, latencyMs: null, kind: "timeout", error: "timed out after 5000 ms" };
const passAt = (latencyMs: number): Probe => ({ ok: true, latencyMs, kind: "pass" });

interface Run {
  readonly state: ActiveCheckState;
  readonly events: HealthEvent[];
  readonly statuses: string[];
}

function run(probes: readonly Probe[], start = initialActiveState(), config = DEFAULT_ACTIVE_CHECK_CONFIG): Run {
  let state = start;
  const events: HealthEvent[] = [];
  const statuses: string[] = [];
  probes.forEach((probe, i) => {
    const out = applyProbe(state, probe, 1_000 + i * 30_000, config);
    state = out.state;
    events.push(...out.events);
    statuses.push(state.status);
  });
  return { state, events, statuses };
}

const times = <T>(n: number, x: T): T[] => Array.from({ length: n }, () => x);

describe("initialActiveState", () => {
  it("starts healthy with empty history, or with the given status", () => {
    const s = initialActiveState();
    expect(s).toEqual({
      status: "healthy",
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      lastCheckAt: null,
      lastResult: null,
      lastLatencyMs: null,
      lastError: null,
      recentLatenciesMs: [],
      recentResults: [],
    });
    expect(initialActiveState("unhealthy").status).toBe("unhealthy");
  });
});

describe("fall (retries)", () => {
  it("2 failures are not enough, the 3rd makes it unhealthy", () => {
    const warm = run(times(10, PASS)).state;
    const r = run([FAIL, TIMEOUT, FAIL], warm);
    expect(r.statuses).toEqual(["healthy", "healthy", "unhealthy"]);
    expect(r.state.consecutiveFailures).toBe(3);
    expect(r.events).toContainEqual({ type: "status-changed", from: "healthy", to: "unhealthy" });
  });

  it("a pass in between resets the count", () => {
    const warm = run(times(10, PASS)).state;
    const r = run([FAIL, FAIL, PASS, FAIL, FAIL], warm);
    expect(r.statuses.includes("unhealthy")).toBe(false);
    expect(r.state.consecutiveFailures).toBe(2);
  });

  it("honours a custom retries value", () => {
    const config: ActiveCheckConfig = { ...DEFAULT_ACTIVE_CHECK_CONFIG, retries: 5, degradedErrorRate: 1 };
    const r = run(times(5, FAIL), initialActiveState(), config);
    expect(r.statuses.map((x) => x === "unhealthy")).toEqual([false, false, false, false, true]);
  });

  it("falls from degraded too", () => {
    const slow = run(times(5, passAt(3000))).state;
    expect(slow.status).toBe("degraded");
    expect(run([FAIL, FAIL, FAIL], slow).state.status).toBe("unhealthy");
  });
});

describe("rise", () => {
  it("1 pass is not enough, the 2nd brings it back", () => {
    const down = run([...times(17, PASS), FAIL, FAIL, FAIL]).state;
    expect(down.status).toBe("unhealthy");
    const r = run([PASS, PASS], down);
    expect(r.statuses).toEqual(["unhealthy", "healthy"]);
    expect(r.events).toEqual([{ type: "status-changed", from: "unhealthy", to: "healthy" }, { type: "recovered" }]);
  });

  it("a failure in between resets the count", () => {
    const down = run([FAIL, FAIL, FAIL]).state;
    const r = run([PASS, FAIL, PASS], down);
    expect(r.statuses).toEqual(["unhealthy", "unhealthy", "unhealthy"]);
  });

  it("returns healthy: the failures it recovered from do not keep it degraded (issue #17)", () => {
    // 3 failures of its last 5 probes used to be a 60% failure rate, and degraded for 20 more probes.
    const r = run([FAIL, FAIL, FAIL, PASS, PASS]);
    expect(r.state.status).toBe("healthy");
    expect(r.events).toContainEqual({ type: "recovered" });
    expect(r.state.recentResults).toEqual([true, true]);
    // A long outage too: many failures, then `rise` passes.
    expect(run([...times(10, PASS), ...times(15, FAIL), PASS, PASS]).state.status).toBe("healthy");
  });

  it("returns degraded when the passes that bring it back are slow (its current latency)", () => {
    const config = { ...DEFAULT_ACTIVE_CHECK_CONFIG, rise: 3 };
    const r = run([...times(5, passAt(20)), FAIL, FAIL, FAIL, passAt(2500), passAt(2500), passAt(2500)], initialActiveState(), config);
    expect(r.state.status).toBe("degraded");
    // The fast passes from before the outage are not what it is now.
    expect(r.state.recentLatenciesMs).toEqual([2500, 2500, 2500]);
  });

  it("after recovery, new failures count again", () => {
    const back = run([FAIL, FAIL, FAIL, PASS, PASS]).state;
    expect(run([FAIL, PASS, FAIL, PASS], back).state.status).toBe("degraded");
  });

  it("an instance starting unhealthy needs `rise` passes", () => {
    const r = run([PASS, PASS], initialActiveState("unhealthy"));
    expect(r.statuses).toEqual(["unhealthy", "healthy"]);
  });
});

describe("failure-threshold event", () => {
  it("is emitted once when consecutive failures reach alertThreshold", () => {
    const r = run(times(8, FAIL));
    const alerts = r.events.filter((e) => e.type === "failure-threshold");
    expect(alerts).toEqual([{ type: "failure-threshold", consecutiveFailures: 2 }]);
  });

  it("fires again only after a pass resets the streak", () => {
    const r = run([FAIL, FAIL, FAIL, PASS, FAIL, FAIL, FAIL]);
    expect(r.events.filter((e) => e.type === "failure-threshold")).toHaveLength(2);
  });

  it("comes before the status change when alertThreshold equals retries", () => {
    const config = { ...DEFAULT_ACTIVE_CHECK_CONFIG, alertThreshold: 3, degradedErrorRate: 1 };
    const r = run([FAIL, FAIL, FAIL], initialActiveState(), config);
    expect(r.events).toEqual([
      { type: "failure-threshold", consecutiveFailures: 3 },
      { type: "status-changed", from: "healthy", to: "unhealthy" },
    ]);
  });
});

describe("degraded by latency", () => {
  it("needs a median at or above the threshold over at least 3 samples", () => {
    expect(run([passAt(5000), passAt(5000)]).state.status).toBe("healthy");
    expect(run([passAt(5000), passAt(5000), passAt(5000)]).state.status).toBe("degraded");
    expect(run([passAt(2000), passAt(2000), passAt(2000)]).state.status).toBe("degraded");
    expect(run([passAt(1999), passAt(1999), passAt(1999)]).state.status).toBe("healthy");
  });

  it("ignores one slow outlier", () => {
    expect(run([passAt(100), passAt(9000), passAt(100), passAt(100)]).state.status).toBe("healthy");
  });

  it("does not flap when latencies oscillate around the threshold", () => {
    const oscillating = Array.from({ length: 60 }, (_, i) => passAt(i % 2 === 0 ? 1900 : 2100));
    const r = run(oscillating);
    const changes = r.events.filter((e) => e.type === "status-changed");
    expect(changes.length).toBeLessThanOrEqual(1);
    expect(r.state.status).toBe("degraded");
  });

  it("leaves degraded only below 0.8 × the threshold", () => {
    const slow = run(times(10, passAt(2500))).state;
    expect(slow.status).toBe("degraded");
    // 1700 ms is under the threshold but above 0.8 × 2000 = 1600: still degraded.
    expect(run(times(10, passAt(1700)), slow).state.status).toBe("degraded");
    expect(run(times(10, passAt(1599)), slow).state.status).toBe("healthy");
  });

  it("failed probes do not add latency samples", () => {
    const s = run([passAt(100), { ok: false, latencyMs: 9000, kind: "fail" }, TIMEOUT]).state;
    expect(s.recentLatenciesMs).toEqual([100]);
    expect(s.lastLatencyMs).toBeNull();
    const s2 = run([{ ok: false, latencyMs: 9000, kind: "fail" }]).state;
    expect(s2.lastLatencyMs).toBe(9000);
  });
});

describe("degraded by failure rate", () => {
  it("needs at least 4 results", () => {
    expect(run([PASS, FAIL]).state.status).toBe("healthy");
    expect(run([PASS, PASS, PASS, FAIL]).state.status).toBe("degraded");
  });

  it("enters at 25% and leaves below 20%", () => {
    // 5 failures spread out in 20 (the last probe is one of them): 25%.
    const probes = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? FAIL : PASS));
    const r = run([...times(20, PASS), ...probes]);
    expect(r.state.status).toBe("degraded");
    // 4 of 20 (20%) is not below the exit threshold: still degraded.
    const four = run(times(4, PASS), r.state).state;
    expect(probeFailureRate(four)).toBe(0.2);
    expect(four.status).toBe("degraded");
    const three = run(times(4, PASS), four).state;
    expect(probeFailureRate(three)).toBe(0.15);
    expect(three.status).toBe("healthy");
  });
});

describe("bookkeeping", () => {
  it("records the last probe and bounds the windows", () => {
    const r = run([...times(30, passAt(10)), TIMEOUT]);
    expect(r.state.lastResult).toBe("timeout");
    expect(r.state.lastError).toBe("timed out after 5000 ms");
    expect(r.state.lastCheckAt).toBe(1_000 + 30 * 30_000);
    expect(r.state.recentLatenciesMs).toHaveLength(LATENCY_WINDOW);
    expect(r.state.recentResults).toHaveLength(RESULT_WINDOW);
    expect(r.state.recentResults.at(-1)).toBe(false);
    expect(medianProbeLatencyMs(r.state)).toBe(10);
  });

  it("treats ok/kind disagreement as a failure", () => {
    const s = run([{ ok: true, latencyMs: 5, kind: "fail" }, { ok: false, latencyMs: 5, kind: "pass" }]).state;
    expect(s.consecutiveFailures).toBe(2);
    expect(s.lastResult).toBe("fail");
  });

  it("does not mutate the input state", () => {
    const s = initialActiveState();
    const frozen = Object.freeze({ ...s, recentResults: Object.freeze([true]) });
    applyProbe(frozen, FAIL, 1, DEFAULT_ACTIVE_CHECK_CONFIG);
    expect(frozen.recentResults).toEqual([true]);
  });

  it("recovers from corrupt stored counters", () => {
    const corrupt = { ...initialActiveState(), consecutiveFailures: Number.NaN, consecutiveSuccesses: -4 };
    expect(applyProbe(corrupt, FAIL, 1).state.consecutiveFailures).toBe(1);
    expect(applyProbe(corrupt, PASS, 1).state.consecutiveSuccesses).toBe(1);
  });

  it("rejects invalid config and time", () => {
    const s = initialActiveState();
    expect(() => applyProbe(s, PASS, 1, { ...DEFAULT_ACTIVE_CHECK_CONFIG, retries: 0 })).toThrow(RangeError);
    expect(() => applyProbe(s, PASS, 1, { ...DEFAULT_ACTIVE_CHECK_CONFIG, rise: 1.5 })).toThrow(RangeError);
    expect(() => applyProbe(s, PASS, 1, { ...DEFAULT_ACTIVE_CHECK_CONFIG, degradedErrorRate: 0 })).toThrow(RangeError);
    expect(() => applyProbe(s, PASS, Number.NaN)).toThrow(RangeError);
  });
});
