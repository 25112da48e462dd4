import { describe, expect, it } from "vitest";
import {
  type AutoscalePolicy,
  type AutoscaleState,
  type Decision,
  type DecisionLog,
  type Observation,
  EMPTY_DECISION_LOG,
  INITIAL_AUTOSCALE_STATE,
  MAX_INSTANCES_LIMIT,
  MAX_SCALE_EVENTS,
  RATE_PERIOD_MS,
  appendDecision,
  evaluate,
  evaluationDue,
} from "../../src/core/autoscale/index";
import { seededRandom } from "./support/seeded-random";

const T0 = 1_700_000_000_000;
const PERIOD = 15_000;

const base: AutoscalePolicy = {
  minInstances: 1,
  maxInstances: 20,
  targets: { inflightPerInstance: 10 },
  mode: "enforce",
};

interface Sim {
  readonly decisions: Decision[];
  readonly state: AutoscaleState;
  readonly log: DecisionLog;
}

/**
 * Evaluates every `periodMs` for `count` evaluations. `load(t)` is the total
 * work (requests in flight), spread over the ready instances; in enforce mode
 * the desired count is applied at once (instances are ready immediately).
 */
function simulate(
  policy: AutoscalePolicy,
  start: number,
  count: number,
  load: (t: number, i: number) => Observation | number,
  periodMs = PERIOD,
): Sim {
  let state = INITIAL_AUTOSCALE_STATE;
  let log = EMPTY_DECISION_LOG;
  let current = start;
  const decisions: Decision[] = [];
  for (let i = 0; i < count; i++) {
    const t = T0 + i * periodMs;
    const l = load(t, i);
    const obs = typeof l === "number" ? { inflightPerInstance: l / Math.max(current, 1) } : l;
    const out = evaluate(state, policy, current, obs, t);
    state = out.state;
    log = appendDecision(log, out.decision);
    decisions.push(out.decision);
    if (policy.mode === "enforce") current = out.decision.desired;
  }
  return { decisions, state, log };
}

describe("scale up", () => {
  it("follows a step in queue depth within one evaluation (2 → 6 against target 10)", () => {
    const first = evaluate(INITIAL_AUTOSCALE_STATE, base, 2, { inflightPerInstance: 10 }, T0);
    expect(first.decision.action).toBe("none");
    const { decision, state } = evaluate(first.state, base, 2, { inflightPerInstance: 30 }, T0 + PERIOD);
    expect(decision).toMatchObject({ rawDesired: 6, stabilized: 6, rateLimited: 6, desired: 6, action: "scale-up", limitedBy: [] });
    expect(decision.perMetric).toEqual([
      { metric: "inflightPerInstance", observed: 30, target: 10, desired: 6, withinTolerance: false },
    ]);
    expect(state.scaleEvents).toEqual([{ at: T0 + PERIOD, delta: 4 }]);
  });

  it("is limited per 15 s to max(+100%, +4) of the period's starting count", () => {
    let s = evaluate(INITIAL_AUTOSCALE_STATE, base, 2, { inflightPerInstance: 100 }, T0);
    expect(s.decision).toMatchObject({ rawDesired: 20, desired: 6, limitedBy: ["rate-up-count"] });

    // Five seconds later the period still holds the +4: the limit is max(2×2, 2+4) = 6 again.
    const early = evaluate(s.state, base, 6, { inflightPerInstance: 33 }, T0 + 5_000);
    expect(early.decision).toMatchObject({ rawDesired: 20, desired: 6, action: "none", limitedBy: ["rate-up-count"] });

    s = evaluate(early.state, base, 6, { inflightPerInstance: 33 }, T0 + PERIOD);
    expect(s.decision).toMatchObject({ rawDesired: 20, desired: 12, limitedBy: ["rate-up-percent"] });

    s = evaluate(s.state, base, 12, { inflightPerInstance: 17 }, T0 + 2 * PERIOD);
    expect(s.decision).toMatchObject({ rawDesired: 21, desired: 20, limitedBy: ["max"], action: "scale-up" });
  });

  it("reports both rate policies when they tie", () => {
    // From 4: +100% = 8 and +4 = 8.
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, base, 4, { inflightPerInstance: 50 }, T0);
    expect(decision).toMatchObject({ desired: 8, limitedBy: ["rate-up-percent", "rate-up-count"] });
  });

  it("waits out a scale-up stabilization window: the minimum recommendation of the window wins", () => {
    const policy: AutoscalePolicy = { ...base, scaleUp: { stabilizationMs: 60_000 } };
    const { decisions } = simulate(policy, 2, 8, (_t, i) => (i === 0 ? 20 : 60));
    // i = 0 recommends 2 (at target); from i = 1 on, 6. The 2 leaves the window at i = 4 (60 s later).
    expect(decisions.map((d) => d.desired)).toEqual([2, 2, 2, 2, 6, 6, 6, 6]);
    expect(decisions[1]?.limitedBy).toEqual(["stabilization-up"]);
  });
});

describe("noise around the target", () => {
  it("±8% for 30 minutes at 15 s evaluations changes nothing and barely logs", () => {
    const rand = seededRandom(42);
    const noisy = (): number => 1 + (rand() * 2 - 1) * 0.08;
    const policy: AutoscalePolicy = { ...base, targets: { inflightPerInstance: 10, cpuPercent: 60 } };
    const evaluations = (30 * 60_000) / PERIOD;
    const { decisions, state, log } = simulate(policy, 5, evaluations, () => ({
      inflightPerInstance: 10 * noisy(),
      cpuPercent: 60 * noisy(),
    }));
    expect(decisions).toHaveLength(120);
    for (const d of decisions) {
      expect(d).toMatchObject({ current: 5, rawDesired: 5, desired: 5, action: "none" });
      expect(d.perMetric.every((m) => m.withinTolerance)).toBe(true);
    }
    expect(state.scaleEvents).toEqual([]);
    // The first decision, then one heartbeat per 20 evaluations.
    expect(log.entries.map((e) => e.reason)).toEqual(["heartbeat", "heartbeat", "heartbeat", "heartbeat", "heartbeat", "changed"]);
    expect(log.entries[0]?.unloggedBefore).toBe(19);
  });

  it("counts noise that only the tolerance absorbed", () => {
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, base, 10, { inflightPerInstance: 10.9 }, T0);
    expect(decision).toMatchObject({ rawDesired: 10, desired: 10, limitedBy: ["tolerance"] });
    // 11 against 10 is exactly 10% off: still within tolerance (no 1.1 − 1 > 0.1 float surprise).
    const edge = evaluate(INITIAL_AUTOSCALE_STATE, base, 10, { inflightPerInstance: 11 }, T0);
    expect(edge.decision.rawDesired).toBe(10);
    const beyond = evaluate(INITIAL_AUTOSCALE_STATE, base, 10, { inflightPerInstance: 11.01 }, T0);
    expect(beyond.decision.rawDesired).toBe(12);
  });
});

describe("scale down", () => {
  const drop = (t: number): number => (t < T0 + 10 * PERIOD ? 100 : 20);
  const lastHigh = T0 + 9 * PERIOD;

  it("waits out the 300 s window after the load drops, then goes all the way at once (−100%)", () => {
    const { decisions, state } = simulate(base, 10, 40, drop);
    for (const d of decisions) {
      if (d.at < lastHigh + 300_000) {
        expect(d.desired).toBe(10);
        if (d.at > lastHigh) expect(d.limitedBy).toEqual(["stabilization-down"]);
      } else {
        expect(d.desired).toBe(2);
      }
    }
    const down = decisions.filter((d) => d.action === "scale-down");
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ at: lastHigh + 300_000, current: 10, rawDesired: 2, desired: 2, limitedBy: [] });
    expect(state.scaleEvents).toEqual([]); // aged out by the end
  });

  it("respects a tighter per-15 s percentage, counting the whole period", () => {
    const policy: AutoscalePolicy = { ...base, evaluationPeriodMs: 5_000, scaleDown: { maxPercentPer15s: 50 } };
    const { decisions } = simulate(policy, 10, 100, (t) => (t < lastHigh + 5_000 ? 100 : 20), 5_000);
    const changes = decisions.filter((d) => d.action !== "none");
    expect(changes.map((d) => [d.at - lastHigh, d.current, d.desired])).toEqual([
      [300_000, 10, 5], // trunc(10 × 50%)
      [315_000, 5, 2], // trunc(5 × 50%) = 2, also the recommendation
    ]);
    expect(changes[0]?.limitedBy).toEqual(["rate-down-percent"]);
    // Evaluations inside the first step's 15 s period may not go further.
    for (const d of decisions.filter((x) => x.at > lastHigh + 300_000 && x.at < lastHigh + 315_000)) {
      expect(d).toMatchObject({ current: 5, desired: 5, limitedBy: ["rate-down-percent"] });
    }
  });

  it("never scales below minInstances", () => {
    const policy: AutoscalePolicy = { ...base, minInstances: 3 };
    const { decisions } = simulate(policy, 10, 40, (t) => (t < T0 + 10 * PERIOD ? 100 : 0));
    expect(decisions.at(-1)).toMatchObject({ desired: 3, rawDesired: 0 });
    expect(decisions.at(-1)?.limitedBy).toEqual(["min"]);
  });
});

describe("bounds", () => {
  it("flags atMaxStillOverTarget when pinned at max", () => {
    const policy: AutoscalePolicy = { ...base, maxInstances: 8 };
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, policy, 8, { inflightPerInstance: 30 }, T0);
    expect(decision).toMatchObject({ rawDesired: 24, desired: 8, action: "none", limitedBy: ["max"], atMaxStillOverTarget: true });
  });

  it("does not flag it at max within tolerance, or when merely rate-limited below max", () => {
    const policy: AutoscalePolicy = { ...base, maxInstances: 8 };
    expect(evaluate(INITIAL_AUTOSCALE_STATE, policy, 8, { inflightPerInstance: 10.5 }, T0).decision.atMaxStillOverTarget).toBe(false);
    const limited = evaluate(INITIAL_AUTOSCALE_STATE, base, 2, { inflightPerInstance: 100 }, T0).decision;
    expect(limited.desired).toBe(6);
    expect(limited.atMaxStillOverTarget).toBe(false);
  });

  it("flags it when reaching max through the rate limit", () => {
    const policy: AutoscalePolicy = { ...base, maxInstances: 6 };
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, policy, 2, { inflightPerInstance: 100 }, T0);
    expect(decision).toMatchObject({ desired: 6, action: "scale-up", atMaxStillOverTarget: true });
  });

  it("goes straight to the bound when current is outside it (as HPA), ignoring rate limits", () => {
    const policy: AutoscalePolicy = { ...base, maxInstances: 5, scaleDown: { maxPercentPer15s: 10 } };
    const over = evaluate(INITIAL_AUTOSCALE_STATE, policy, 30, { inflightPerInstance: 1 }, T0);
    expect(over.decision).toMatchObject({ desired: 5, action: "scale-down", limitedBy: ["max"] });
    expect(over.state.scaleEvents).toEqual([{ at: T0, delta: -25 }]);
    expect(over.state.recommendations).toEqual([]);

    const under = evaluate(INITIAL_AUTOSCALE_STATE, { ...base, minInstances: 3 }, 1, { inflightPerInstance: 0 }, T0);
    expect(under.decision).toMatchObject({ desired: 3, action: "scale-up", limitedBy: ["min"] });
  });
});

describe("missing metrics", () => {
  const two: AutoscalePolicy = { ...base, targets: { cpuPercent: 60, inflightPerInstance: 10 } };

  it("never scale down: the evaluation holds at current and records nothing", () => {
    for (const cpu of [null, undefined, Number.NaN]) {
      const { decision, state } = evaluate(INITIAL_AUTOSCALE_STATE, two, 6, { cpuPercent: cpu, inflightPerInstance: 2 }, T0);
      expect(decision).toMatchObject({ rawDesired: 6, desired: 6, action: "none", limitedBy: ["missing-metrics"] });
      expect(decision.perMetric[0]).toMatchObject({ metric: "cpuPercent", observed: null, desired: null, skipped: "missing" });
      expect(state.recommendations).toEqual([]);
    }
  });

  it("treat negative or infinite readings as missing", () => {
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, two, 6, { cpuPercent: -1, inflightPerInstance: 2 }, T0);
    expect(decision.perMetric[0]).toMatchObject({ observed: -1, skipped: "invalid" });
    expect(decision.action).toBe("none");
    const inf = evaluate(INITIAL_AUTOSCALE_STATE, two, 6, { cpuPercent: Number.POSITIVE_INFINITY, inflightPerInstance: 2 }, T0);
    expect(inf.decision.perMetric[0]?.skipped).toBe("invalid");
  });

  it("do not stop a scale-up the other metrics ask for", () => {
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, two, 6, { cpuPercent: null, inflightPerInstance: 30 }, T0);
    expect(decision).toMatchObject({ rawDesired: 18, desired: 12, action: "scale-up", limitedBy: ["rate-up-percent"] });
  });

  it("hold when every metric is missing", () => {
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, two, 6, {}, T0);
    expect(decision).toMatchObject({ desired: 6, action: "none", limitedBy: ["missing-metrics"] });
  });

  it("hold even long after the load dropped, while the metric stays missing", () => {
    const { decisions } = simulate(two, 10, 60, (t) =>
      t < T0 + 10 * PERIOD ? { cpuPercent: 60, inflightPerInstance: 10 } : { cpuPercent: null, inflightPerInstance: 1 },
    );
    expect(decisions.every((d) => d.desired === 10)).toBe(true);
  });

  it("ignore readings for metrics without a target", () => {
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, base, 4, { inflightPerInstance: 10, p95Ms: 5_000 }, T0);
    expect(decision.perMetric.map((m) => m.metric)).toEqual(["inflightPerInstance"]);
    expect(decision.desired).toBe(4);
  });
});

describe("the largest metric wins", () => {
  it("scales for the most demanding target", () => {
    const policy: AutoscalePolicy = { ...base, maxInstances: 50, targets: { cpuPercent: 50, p95Ms: 200, errorRatePercent: 5 } };
    const { decision } = evaluate(INITIAL_AUTOSCALE_STATE, policy, 4, { cpuPercent: 75, p95Ms: 100, errorRatePercent: 10 }, T0);
    expect(decision.perMetric.map((m) => [m.metric, m.desired])).toEqual([
      ["cpuPercent", 6],
      ["p95Ms", 2],
      ["errorRatePercent", 8],
    ]);
    expect(decision).toMatchObject({ rawDesired: 8, desired: 8 });
  });
});

describe("zero ready instances", () => {
  const zeroMin: AutoscalePolicy = { ...base, minInstances: 0, maxInstances: 10 };

  it("starts instances when there is load, as if it sat on one instance", () => {
    expect(evaluate(INITIAL_AUTOSCALE_STATE, zeroMin, 0, { inflightPerInstance: 25 }, T0).decision).toMatchObject({ rawDesired: 3, desired: 3 });
    // Load under the target still gets one instance.
    expect(evaluate(INITIAL_AUTOSCALE_STATE, zeroMin, 0, { inflightPerInstance: 1 }, T0).decision.desired).toBe(1);
    // From 0 the rate limit is +4.
    expect(evaluate(INITIAL_AUTOSCALE_STATE, zeroMin, 0, { inflightPerInstance: 90 }, T0).decision).toMatchObject({ rawDesired: 9, desired: 4 });
  });

  it("stays at zero without load", () => {
    expect(evaluate(INITIAL_AUTOSCALE_STATE, zeroMin, 0, { inflightPerInstance: 0 }, T0).decision).toMatchObject({ desired: 0, action: "none" });
  });

  it("with max 0 stays at 0 and raises the alert", () => {
    const off: AutoscalePolicy = { ...zeroMin, maxInstances: 0 };
    expect(evaluate(INITIAL_AUTOSCALE_STATE, off, 0, { inflightPerInstance: 5 }, T0).decision).toMatchObject({ desired: 0, atMaxStillOverTarget: true });
  });
});

describe("dry-run", () => {
  const dry: AutoscalePolicy = { ...base, mode: "dry-run" };

  it("decides and logs the action but records no scale events", () => {
    let state = INITIAL_AUTOSCALE_STATE;
    let log = EMPTY_DECISION_LOG;
    for (let i = 0; i < 4; i++) {
      const out = evaluate(state, dry, 2, { inflightPerInstance: 30 }, T0 + i * PERIOD);
      expect(out.decision).toMatchObject({ mode: "dry-run", action: "scale-up", desired: 6 });
      state = out.state;
      log = appendDecision(log, out.decision);
    }
    expect(state.scaleEvents).toEqual([]);
    expect(state.recommendations).toEqual([{ at: T0 + 3 * PERIOD, desired: 6 }]);
    // The same would-be action every period is logged once, not four times.
    expect(log.entries).toHaveLength(1);
    expect(log.entries[0]).toMatchObject({ reason: "changed", decision: { action: "scale-up", mode: "dry-run", desired: 6 } });
  });

  it("stabilizes exactly like enforce mode", () => {
    const drop = (t: number): Observation => ({ inflightPerInstance: t < T0 + 10 * PERIOD ? 10 : 2 });
    const dryRun = simulate(dry, 10, 40, drop);
    const enforce = simulate(base, 10, 40, drop);
    const firstDown = (s: Sim): number | undefined => s.decisions.find((d) => d.action === "scale-down")?.at;
    expect(firstDown(dryRun)).toBe(T0 + 9 * PERIOD + 300_000);
    expect(firstDown(dryRun)).toBe(firstDown(enforce));
    expect(dryRun.decisions.filter((d) => d.action === "scale-down").every((d) => d.desired === 2)).toBe(true);
  });
});

describe("state", () => {
  it("stays bounded however often it is evaluated: fast flapping folds scale events", () => {
    const policy: AutoscalePolicy = { ...base, minInstances: 0, maxInstances: MAX_INSTANCES_LIMIT, scaleDown: { stabilizationMs: 0 } };
    const rand = seededRandom(7);
    let state = INITIAL_AUTOSCALE_STATE;
    let current = 10;
    let longest = 0;
    for (let i = 0; i < 3_000; i++) {
      const now = T0 + i * 50;
      const out = evaluate(state, policy, current, { inflightPerInstance: rand() * 20 }, now);
      state = out.state;
      current = out.decision.desired;
      longest = Math.max(longest, state.scaleEvents.length);
      expect(state.scaleEvents.length).toBeLessThanOrEqual(MAX_SCALE_EVENTS);
      expect(state.scaleEvents.every((e) => e.at > now - RATE_PERIOD_MS)).toBe(true);
    }
    expect(longest).toBe(MAX_SCALE_EVENTS); // the cap was actually reached
  });

  it("stays bounded however often it is evaluated: one recommendation per value", () => {
    const policy: AutoscalePolicy = { ...base, minInstances: 0, maxInstances: MAX_INSTANCES_LIMIT, scaleUp: { stabilizationMs: 600_000 } };
    const rand = seededRandom(11);
    let state = INITIAL_AUTOSCALE_STATE;
    let longest = 0;
    for (let i = 0; i < 5_000; i++) {
      const now = T0 + i * 50;
      // current held at 10: the recommendation is ceil(reading), 0..700, stored capped at 500.
      state = evaluate(state, policy, 10, { inflightPerInstance: rand() * 700 }, now).state;
      longest = Math.max(longest, state.recommendations.length);
      expect(state.recommendations.length).toBeLessThanOrEqual(MAX_INSTANCES_LIMIT + 1);
      expect(state.recommendations.every((r) => r.at > now - 600_000 && r.desired <= MAX_INSTANCES_LIMIT)).toBe(true);
    }
    expect(longest).toBeGreaterThan(400);
  });

  it("drops entries outside their windows and keeps one recommendation per value", () => {
    let s = evaluate(INITIAL_AUTOSCALE_STATE, base, 4, { inflightPerInstance: 10 }, T0).state;
    s = evaluate(s, base, 4, { inflightPerInstance: 10 }, T0 + PERIOD).state;
    expect(s.recommendations).toEqual([{ at: T0 + PERIOD, desired: 4 }]);
    s = evaluate(s, base, 4, { inflightPerInstance: 10 }, T0 + PERIOD + 300_000).state;
    expect(s.recommendations).toEqual([{ at: T0 + PERIOD + 300_000, desired: 4 }]);
    expect(s.lastEvaluatedAt).toBe(T0 + PERIOD + 300_000);
  });

  it("survives corrupt entries and a clock that moved back", () => {
    const corrupt: AutoscaleState = {
      recommendations: [
        { at: Number.NaN, desired: 3 },
        { at: T0 + 60_000, desired: 9 }, // from the future
      ],
      scaleEvents: [
        { at: T0 + 60_000, delta: 4 },
        { at: T0, delta: Number.POSITIVE_INFINITY },
      ],
      lastEvaluatedAt: T0 + 60_000,
    };
    const { decision, state } = evaluate(corrupt, base, 9, { inflightPerInstance: 1 }, T0);
    // The future 9 counts as just recorded, so it holds the scale-down.
    expect(decision).toMatchObject({ desired: 9, limitedBy: ["stabilization-down"] });
    expect(state.scaleEvents).toEqual([{ at: T0, delta: 4 }]);
    expect(state.recommendations).toEqual([
      { at: T0, desired: 9 },
      { at: T0, desired: 1 },
    ]);
  });

  it("evaluationDue follows evaluationPeriodMs", () => {
    const s = evaluate(INITIAL_AUTOSCALE_STATE, base, 2, { inflightPerInstance: 10 }, T0).state;
    expect(evaluationDue(INITIAL_AUTOSCALE_STATE, base, T0)).toBe(true);
    expect(evaluationDue(s, base, T0 + 14_999)).toBe(false);
    expect(evaluationDue(s, base, T0 + 15_000)).toBe(true);
    expect(evaluationDue(s, { ...base, evaluationPeriodMs: 30_000 }, T0 + 15_000)).toBe(false);
    expect(evaluationDue(s, base, T0 - 1)).toBe(true);
  });
});

describe("caller bugs", () => {
  it("throw RangeError", () => {
    const obs = { inflightPerInstance: 1 };
    expect(() => evaluate(INITIAL_AUTOSCALE_STATE, { ...base, maxInstances: 0 }, 1, obs, T0)).toThrow(/maxInstances/);
    expect(() => evaluate(INITIAL_AUTOSCALE_STATE, base, -1, obs, T0)).toThrow(RangeError);
    expect(() => evaluate(INITIAL_AUTOSCALE_STATE, base, 1.5, obs, T0)).toThrow(RangeError);
    expect(() => evaluate(INITIAL_AUTOSCALE_STATE, base, 1, obs, Number.NaN)).toThrow(RangeError);
  });
});

describe("decision log", () => {
  it("keeps every enforced change, newest first, up to the limit", () => {
    let log = EMPTY_DECISION_LOG;
    const { decisions } = simulate(base, 1, 10, (_t, i) => (i % 2 === 0 ? 300 : 1));
    const scaled = decisions.filter((d) => d.action !== "none");
    for (const d of scaled) log = appendDecision(log, d, 3);
    expect(log.entries.length).toBe(Math.min(3, scaled.length));
    expect(log.entries.map((e) => e.decision.at)).toEqual(scaled.slice(-3).reverse().map((d) => d.at));
    expect(log.entries.every((e) => e.reason === "scaled")).toBe(true);
  });

  it("defaults to 200 entries", () => {
    let log = EMPTY_DECISION_LOG;
    const d = evaluate(INITIAL_AUTOSCALE_STATE, base, 2, { inflightPerInstance: 30 }, T0).decision;
    for (let i = 0; i < 250; i++) log = appendDecision(log, { ...d, at: T0 + i });
    expect(log.entries).toHaveLength(200);
    expect(log.entries[0]?.decision.at).toBe(T0 + 249);
  });

  it("logs a changed recommendation even when the count holds", () => {
    const { log } = simulate(base, 10, 3, (_t, i) => (i === 1 ? 20 : 100));
    // i = 0 first; i = 1 recommends 2 (held by stabilization); i = 2 back to 10.
    expect(log.entries.map((e) => [e.reason, e.decision.rawDesired])).toEqual([
      ["changed", 10],
      ["changed", 2],
      ["changed", 10],
    ]);
  });

  it("rejects a bad limit", () => {
    const d = evaluate(INITIAL_AUTOSCALE_STATE, base, 2, { inflightPerInstance: 10 }, T0).decision;
    expect(() => appendDecision(EMPTY_DECISION_LOG, d, 0)).toThrow(RangeError);
    expect(() => appendDecision(EMPTY_DECISION_LOG, d, 10, 0)).toThrow(RangeError);
  });
});
