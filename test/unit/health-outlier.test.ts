import { describe, expect, it } from "vitest";
import {
  type OutlierState,
  DEFAULT_OUTLIER_CONFIG,
  decayEjectionCount,
  ejectOnRefusal,
  initialOutlierState,
  isEjected,
  mayEject,
  readmit,
  recordOutcome,
} from "../../src/core/health/index";

const FAIL = { gatewayFailure: true };
const OK = { gatewayFailure: false };
const config = DEFAULT_OUTLIER_CONFIG;

/** Feeds `n` gateway failures at `now`, returning the final state and whether any call ejected. */
function failN(state: OutlierState, n: number, now: number, allowed = true): { state: OutlierState; ejected: boolean } {
  let s = state;
  let ejected = false;
  for (let i = 0; i < n; i++) {
    const r = recordOutcome(s, FAIL, now, config, allowed);
    s = r.state;
    ejected ||= r.ejected;
  }
  return { state: s, ejected };
}

describe("recordOutcome", () => {
  it("ejects on the 5th consecutive gateway failure, not the 4th", () => {
    const four = failN(initialOutlierState, 4, 0);
    expect(four.ejected).toBe(false);
    expect(four.state.consecutiveGatewayFailures).toBe(4);
    const r = recordOutcome(four.state, FAIL, 1_000, config, true);
    expect(r.ejected).toBe(true);
    expect(r.state).toEqual({ consecutiveGatewayFailures: 0, ejectionCount: 1, ejectedUntil: 31_000 });
  });

  it("a success resets the counter", () => {
    const s = recordOutcome(failN(initialOutlierState, 4, 0).state, OK, 0, config, true).state;
    expect(s.consecutiveGatewayFailures).toBe(0);
    expect(failN(s, 4, 0).ejected).toBe(false);
  });

  it("ejection lasts 30 s × n, capped at 300 s", () => {
    let s: OutlierState = initialOutlierState;
    let now = 0;
    const durations: number[] = [];
    for (let n = 1; n <= 12; n++) {
      s = failN(s, 5, now).state;
      expect(s.ejectionCount).toBe(Math.min(n, 10));
      const until = s.ejectedUntil;
      if (until === null) throw new Error("expected an ejection");
      durations.push(until - now);
      now = until;
      s = readmit(s);
    }
    expect(durations).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300].map((x) => x * 1000));
  });

  it("does not eject when not allowed, and ejects on the next failure once allowed", () => {
    const blocked = failN(initialOutlierState, 7, 0, false);
    expect(blocked.ejected).toBe(false);
    expect(blocked.state.consecutiveGatewayFailures).toBe(7);
    const r = recordOutcome(blocked.state, FAIL, 0, config, true);
    expect(r.ejected).toBe(true);
  });

  it("ignores outcomes while ejected", () => {
    const ejected = failN(initialOutlierState, 5, 0).state;
    const r = recordOutcome(ejected, FAIL, 10_000, config, true);
    expect(r.ejected).toBe(false);
    expect(r.state).toBe(ejected);
  });

  it("clears an expired ejection on the next outcome", () => {
    const ejected = failN(initialOutlierState, 5, 0).state;
    const r = recordOutcome(ejected, OK, 30_000, config, true);
    expect(r.state).toEqual({ consecutiveGatewayFailures: 0, ejectionCount: 1, ejectedUntil: null });
  });

  it("rejects invalid config", () => {
    expect(() => recordOutcome(initialOutlierState, FAIL, 0, { ...config, consecutiveFailures: 0 }, true)).toThrow(
      RangeError,
    );
    expect(() => recordOutcome(initialOutlierState, FAIL, 0, { ...config, baseEjectionMs: -1 }, true)).toThrow(
      RangeError,
    );
  });
});

describe("ejectOnRefusal (an edge stopped sending after a refused connection)", () => {
  it("ejects at once, with the same duration and multiplier as the threshold would", () => {
    const r = ejectOnRefusal(initialOutlierState, 1_000, config, true);
    expect(r.ejected).toBe(true);
    expect(r.state).toEqual({ consecutiveGatewayFailures: 0, ejectionCount: 1, ejectedUntil: 31_000 });
    const again = ejectOnRefusal(readmit(r.state), 40_000, config, true);
    expect(again.state.ejectedUntil).toBe(40_000 + 60_000);
  });

  it("respects the ejection cap and leaves an ejected instance as it is", () => {
    expect(ejectOnRefusal(initialOutlierState, 0, config, false)).toEqual({ state: initialOutlierState, ejected: false });
    const ejected = ejectOnRefusal(initialOutlierState, 0, config, true).state;
    expect(ejectOnRefusal(ejected, 10_000, config, true)).toEqual({ state: ejected, ejected: false });
  });
});

describe("isEjected", () => {
  it("is true strictly before ejectedUntil", () => {
    const s: OutlierState = { consecutiveGatewayFailures: 0, ejectionCount: 1, ejectedUntil: 30_000 };
    expect(isEjected(s, 29_999)).toBe(true);
    expect(isEjected(s, 30_000)).toBe(false);
    expect(isEjected(initialOutlierState, 0)).toBe(false);
  });
});

describe("mayEject (max ejection percent)", () => {
  it("10 instances at 10%: at most 1 ejected", () => {
    expect(mayEject(10, 0, 10)).toBe(true);
    expect(mayEject(10, 1, 10)).toBe(false);
  });

  it("2 instances: one may be ejected", () => {
    expect(mayEject(2, 0, 10)).toBe(true);
    expect(mayEject(2, 1, 10)).toBe(false);
  });

  it("30 instances at 10%: 3", () => {
    expect(mayEject(30, 2, 10)).toBe(true);
    expect(mayEject(30, 3, 10)).toBe(false);
  });

  it("19 instances at 10% still allows only 1 (floor)", () => {
    expect(mayEject(19, 1, 10)).toBe(false);
    expect(mayEject(20, 1, 10)).toBe(true);
  });

  it("no instances: nothing to eject; odd percentages fall back to one", () => {
    expect(mayEject(0, 0, 10)).toBe(false);
    expect(mayEject(5, 0, 0)).toBe(true);
    expect(mayEject(5, 1, Number.NaN)).toBe(false);
    expect(mayEject(4, 3, 100)).toBe(true);
    expect(mayEject(4, 4, 100)).toBe(false);
  });
});

describe("readmit and decay", () => {
  it("readmit ends the ejection but keeps the multiplier", () => {
    const ejected = failN(initialOutlierState, 5, 0).state;
    const back = readmit(ejected);
    expect(back).toEqual({ consecutiveGatewayFailures: 0, ejectionCount: 1, ejectedUntil: null });
    expect(isEjected(back, 1)).toBe(false);
    // Failing again soon: the second ejection is longer.
    expect(failN(back, 5, 40_000).state.ejectedUntil).toBe(100_000);
  });

  it("decays by one per clean interval, never below zero, not while ejected", () => {
    const s: OutlierState = { consecutiveGatewayFailures: 0, ejectionCount: 2, ejectedUntil: 50_000 };
    expect(decayEjectionCount(s, 10_000)).toBe(s);
    const one = decayEjectionCount(s, 60_000);
    expect(one.ejectionCount).toBe(1);
    const zero = decayEjectionCount(one, 90_000);
    expect(zero.ejectionCount).toBe(0);
    expect(decayEjectionCount(zero, 120_000).ejectionCount).toBe(0);
    // After full decay, the next ejection is back to the base time.
    expect(failN(readmit(zero), 5, 200_000).state.ejectedUntil).toBe(230_000);
  });
});
