import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AutoscalePolicy,
  type AutoscaleTargets,
  type Observation,
  INITIAL_AUTOSCALE_STATE,
  MAX_INSTANCES_LIMIT,
  METRIC_NAMES,
  RATE_PERIOD_MS,
  evaluate,
  withDefaults,
} from "../../src/core/autoscale/index";

const T0 = 1_700_000_000_000;

const targetsArb: fc.Arbitrary<AutoscaleTargets> = fc
  .record(
    {
      cpuPercent: fc.integer({ min: 10, max: 100 }),
      inflightPerInstance: fc.double({ min: 0.5, max: 100, noNaN: true }),
      p95Ms: fc.integer({ min: 10, max: 2_000 }),
      errorRatePercent: fc.double({ min: 0.1, max: 20, noNaN: true }),
    },
    { requiredKeys: [] },
  )
  .filter((t) => Object.keys(t).length > 0);

const policyArb: fc.Arbitrary<AutoscalePolicy> = fc
  .record({
    min: fc.integer({ min: 0, max: 10 }),
    span: fc.integer({ min: 0, max: 30 }),
    targets: targetsArb,
    tolerance: fc.option(fc.double({ min: 0, max: 0.5, noNaN: true }), { nil: undefined }),
    upStab: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }),
    upPct: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
    upCount: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
    downStab: fc.option(fc.integer({ min: 0, max: 600_000 }), { nil: undefined }),
    downPct: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
  })
  .map((r) => ({
    minInstances: r.min,
    maxInstances: r.min + r.span,
    targets: r.targets,
    mode: "enforce" as const,
    tolerance: r.tolerance,
    scaleUp: { stabilizationMs: r.upStab, maxPercentPer15s: r.upPct, maxInstancesPer15s: r.upCount },
    scaleDown: { stabilizationMs: r.downStab, maxPercentPer15s: r.downPct },
  }));

/** A reading: mostly a value spanning well below to well above any target, sometimes missing. */
const readingArb: fc.Arbitrary<number | null | undefined> = fc.oneof(
  { arbitrary: fc.double({ min: 0, max: 3_000, noNaN: true }), weight: 8 },
  { arbitrary: fc.constantFrom(null, undefined, Number.NaN), weight: 1 },
);

const stepArb = fc.record({
  advanceMs: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 20_000, max: 400_000 })),
  observation: fc.record({
    cpuPercent: readingArb,
    inflightPerInstance: readingArb,
    p95Ms: readingArb,
    errorRatePercent: readingArb,
  }) as fc.Arbitrary<Observation>,
});

function missingAny(policy: AutoscalePolicy, obs: Observation): boolean {
  return METRIC_NAMES.some((m) => {
    if (policy.targets[m] === undefined) return false;
    const v = obs[m];
    return v === null || v === undefined || Number.isNaN(v);
  });
}

interface Applied {
  readonly at: number;
  readonly delta: number;
}

describe("autoscale engine properties", () => {
  it("stays in bounds, holds the rate limits and the windows, and never scales down on missing metrics", () => {
    fc.assert(
      fc.property(policyArb, fc.nat(), fc.array(stepArb, { maxLength: 120 }), (policy, startSeed, steps) => {
        const p = withDefaults(policy);
        const span = p.maxInstances - p.minInstances;
        let current = p.minInstances + (span === 0 ? 0 : startSeed % (span + 1));
        let state = INITIAL_AUTOSCALE_STATE;
        let now = T0;
        // Kept by the test itself, independently of the engine's state.
        const applied: Applied[] = [];
        const recorded: { at: number; desired: number }[] = [];
        const clamp = (n: number): number => Math.min(Math.max(n, p.minInstances), p.maxInstances);

        for (const step of steps) {
          now += step.advanceMs;
          const { decision, state: next } = evaluate(state, policy, current, step.observation, now);
          state = next;
          const d = decision.desired;

          // Bounds.
          expect(d).toBeGreaterThanOrEqual(p.minInstances);
          expect(d).toBeLessThanOrEqual(p.maxInstances);
          expect(Number.isSafeInteger(d)).toBe(true);
          expect(decision.action).toBe(d > current ? "scale-up" : d < current ? "scale-down" : "none");

          // Missing metrics never cause a scale-down (current always starts, and stays, in bounds here).
          if (missingAny(policy, step.observation)) expect(d).toBeGreaterThanOrEqual(current);

          // Rate limits, from the changes applied in the last 15 s.
          const recent = applied.filter((a) => a.at > now - RATE_PERIOD_MS);
          const added = recent.reduce((s, a) => s + Math.max(0, a.delta), 0);
          const removed = recent.reduce((s, a) => s + Math.max(0, -a.delta), 0);
          const start = current - added + removed;
          if (d > current) {
            const upLimit = Math.max(Math.ceil((start * (100 + p.scaleUp.maxPercentPer15s)) / 100), start + p.scaleUp.maxInstancesPer15s);
            expect(d).toBeLessThanOrEqual(upLimit);
            // The whole period's growth stays within the larger of the two policies.
            expect(added + (d - current)).toBeLessThanOrEqual(Math.max(Math.ceil((start * p.scaleUp.maxPercentPer15s) / 100), p.scaleUp.maxInstancesPer15s) + removed);
          }
          if (d < current) {
            expect(d).toBeGreaterThanOrEqual(Math.trunc((start * (100 - p.scaleDown.maxPercentPer15s)) / 100));
          }

          // Stabilization windows, over the recommendations this test saw recorded before, plus this one.
          const inWindow = (windowMs: number): number[] => [
            ...recorded.filter((r) => r.at > now - windowMs).map((r) => clamp(r.desired)),
            clamp(decision.rawDesired),
          ];
          if (d < current) expect(d).toBeGreaterThanOrEqual(Math.max(...inWindow(p.scaleDown.stabilizationMs)));
          if (d > current) expect(d).toBeLessThanOrEqual(Math.min(...inWindow(p.scaleUp.stabilizationMs)));
          if (!decision.limitedBy.includes("missing-metrics")) recorded.push({ at: now, desired: decision.rawDesired });

          // At max with a metric still asking for more is always flagged.
          const over = decision.perMetric.some((m) => m.desired !== null && m.desired > p.maxInstances);
          expect(decision.atMaxStillOverTarget).toBe(d === p.maxInstances && over);

          // Bounded state.
          const keep = Math.max(p.scaleUp.stabilizationMs, p.scaleDown.stabilizationMs);
          expect(state.recommendations.length).toBeLessThanOrEqual(MAX_INSTANCES_LIMIT + 1);
          expect(state.recommendations.every((r) => r.at > now - keep || r.at === now)).toBe(true);
          expect(state.scaleEvents.every((e) => e.at > now - RATE_PERIOD_MS)).toBe(true);

          if (d !== current) applied.push({ at: now, delta: d - current });
          current = d;
        }
      }),
      { numRuns: 300 },
    );
  });

  it("dry-run decides like enforce from the same count, but records no scale events", () => {
    fc.assert(
      fc.property(policyArb, fc.nat(), fc.array(stepArb, { maxLength: 60 }), (policy, startSeed, steps) => {
        const dry: AutoscalePolicy = { ...policy, mode: "dry-run" };
        const span = policy.maxInstances - policy.minInstances;
        const current = policy.minInstances + (span === 0 ? 0 : startSeed % (span + 1));
        let dryState = INITIAL_AUTOSCALE_STATE;
        let now = T0;
        for (const step of steps) {
          now += step.advanceMs;
          const out = evaluate(dryState, dry, current, step.observation, now);
          expect(out.state.scaleEvents).toEqual([]);
          expect(out.decision.mode).toBe("dry-run");
          // The dry-run state never holds events, so enforce mode from it decides and remembers the same.
          const enforce = evaluate(dryState, policy, current, step.observation, now);
          expect({ ...enforce.decision, mode: "dry-run" }).toEqual(out.decision);
          expect(enforce.state.recommendations).toEqual(out.state.recommendations);
          dryState = out.state;
        }
      }),
      { numRuns: 200 },
    );
  });
});
