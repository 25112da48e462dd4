/**
 * The release controller (core/release/controller.ts): step progression,
 * promotion on reaching 100 %, rollback the moment a threshold is crossed,
 * inconclusive steps extended and then paused, the operator's actions and
 * their refusals; and, as properties over random runs, that weights only go
 * up while a release is active, that a rolled-back or aborted release never
 * routes to the canary again, and that the history is one unbroken chain.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newReleaseWindow, recordSideOutcome, type ReleaseWindow } from "../../src/core/release/analysis";
import {
  applyOperatorAction,
  evaluateRelease,
  evaluationCadenceMs,
  MAX_INCONCLUSIVE_INTERVALS,
  newRelease,
  nextEvaluationAt,
  OPERATOR_ACTIONS,
  type OperatorAction,
  restartedStep,
} from "../../src/core/release/controller";
import { isActive, type Release, weightOf } from "../../src/core/release/release";
import { normalizeReleaseSpec, type ReleaseSpec, type ReleaseSpecInput } from "../../src/core/release/spec";

const T0 = 1_700_000_000_000;
const INTERVAL_MS = 60_000;

function specOf(over: Partial<ReleaseSpecInput> = {}): ReleaseSpec {
  const result = normalizeReleaseSpec({ version: "v2", steps: [5, 25, 50, 100], stepIntervalSeconds: 60, analysis: { minRequests: 10, maxErrorRatePercent: 5 }, ...over });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.spec;
}

function traffic(window: ReleaseWindow, canary: number, canaryFailures: number, stable = 50): void {
  for (let i = 0; i < canary; i++) recordSideOutcome(window.canary, i < canaryFailures, 20);
  for (let i = 0; i < stable; i++) recordSideOutcome(window.stable, false, 20);
}

/** Runs one step with healthy traffic to its end; returns the release after the step's judgement. */
function healthyStep(release: Release): { release: Release; kind: string | null } {
  const window = newReleaseWindow(release.stepStartedAt);
  traffic(window, 20, 0);
  const evaluated = evaluateRelease(release, window, release.judgeAt as number);
  return { release: evaluated.release, kind: evaluated.transition?.kind ?? null };
}

describe("release controller", () => {
  it("walks the steps at the end of each interval while the canary holds up, and is promoted on reaching 100 %", () => {
    let release = newRelease("r1", "banking", specOf(), "key:abc", T0);
    expect(release.state).toBe("running");
    expect(weightOf(release)).toBe(5);
    expect(release.history.map((t) => t.kind)).toEqual(["started"]);
    const weights = [weightOf(release)];
    const kinds: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const step = healthyStep(release);
      release = step.release;
      kinds.push(step.kind);
      weights.push(weightOf(release));
    }
    expect(kinds).toEqual(["advanced", "advanced", "promoted"]);
    expect(weights).toEqual([5, 25, 50, 100]);
    expect(release.state).toBe("promoted");
    expect(release.endedAt).toBe(T0 + 3 * INTERVAL_MS);
    expect(release.history.every((t, i) => i === 0 || t.actor === "release-controller")).toBe(true);
  });

  it("does not move before the step ends, even with plenty of healthy traffic", () => {
    const release = newRelease("r1", "banking", specOf(), "key:abc", T0);
    const window = newReleaseWindow(T0);
    traffic(window, 500, 0);
    const evaluated = evaluateRelease(release, window, T0 + INTERVAL_MS - 1);
    expect(evaluated.transition).toBeNull();
    expect(evaluated.analysis.verdict).toBe("pending");
  });

  it("rolls back at once (weight 0) when the canary crosses a threshold mid-step, naming the numbers", () => {
    const release = newRelease("r1", "banking", specOf(), "key:abc", T0);
    const window = newReleaseWindow(T0);
    traffic(window, 10, 3);
    const evaluated = evaluateRelease(release, window, T0 + 2_000);
    expect(evaluated.release.state).toBe("rolled-back");
    expect(weightOf(evaluated.release)).toBe(0);
    expect(evaluated.transition).toMatchObject({ kind: "rolled-back", from: "running", to: "rolled-back", weightPercent: 0, actor: "release-controller" });
    expect(evaluated.transition?.detail).toMatch(/step 1 of 4 \(5%\).*error rate 30% > 5%/);
    expect(nextEvaluationAt(evaluated.release, T0 + 2_000)).toBeNull();
  });

  it("extends an inconclusive step, and pauses the release after MAX_INCONCLUSIVE_INTERVALS of them", () => {
    let release = newRelease("r1", "banking", specOf(), "key:abc", T0);
    const window = newReleaseWindow(T0);
    traffic(window, 3, 0);
    const kinds: string[] = [];
    for (let i = 0; i < MAX_INCONCLUSIVE_INTERVALS; i++) {
      const evaluated = evaluateRelease(release, window, release.judgeAt as number);
      release = evaluated.release;
      kinds.push(evaluated.transition?.kind ?? "none");
    }
    expect(kinds).toEqual([...Array(MAX_INCONCLUSIVE_INTERVALS - 1).fill("extended"), "paused"]);
    expect(release).toMatchObject({ state: "paused", pausedBy: "controller", stepIndex: 0, judgeAt: null });
    expect(weightOf(release)).toBe(5);
  });

  it("an extended step passes once the window has enough requests", () => {
    let release = newRelease("r1", "banking", specOf(), "key:abc", T0);
    const window = newReleaseWindow(T0);
    traffic(window, 3, 0);
    release = evaluateRelease(release, window, release.judgeAt as number).release;
    expect(release.judgeAt).toBe(T0 + 2 * INTERVAL_MS);
    traffic(window, 10, 0);
    const evaluated = evaluateRelease(release, window, release.judgeAt as number);
    expect(evaluated.transition?.kind).toBe("advanced");
    expect(evaluated.newWindow).toBe(true);
  });

  it("a paused release holds its weight but is still rolled back when the canary fails", () => {
    const paused = applyOperatorAction(newRelease("r1", "banking", specOf(), "key:abc", T0), "pause", "key:ops", T0 + 1);
    if (!paused.ok) throw new Error(paused.detail);
    const healthy = newReleaseWindow(T0);
    traffic(healthy, 100, 0);
    expect(evaluateRelease(paused.release, healthy, T0 + 10 * INTERVAL_MS).transition).toBeNull();
    const failing = newReleaseWindow(T0);
    traffic(failing, 100, 50);
    expect(evaluateRelease(paused.release, failing, T0 + 2).release.state).toBe("rolled-back");
  });

  it("operator actions: promote jumps to 100, abort to 0, pause and resume; each refused where it does not apply", () => {
    const release = newRelease("r1", "banking", specOf(), "key:abc", T0);
    const promoted = applyOperatorAction(release, "promote", "key:ops", T0 + 5);
    expect(promoted.ok && [promoted.release.state, weightOf(promoted.release), promoted.transition.actor]).toEqual(["promoted", 100, "key:ops"]);
    const aborted = applyOperatorAction(release, "abort", "key:ops", T0 + 5);
    expect(aborted.ok && [aborted.release.state, weightOf(aborted.release)]).toEqual(["aborted", 0]);
    expect(applyOperatorAction(release, "resume", "key:ops", T0 + 5)).toMatchObject({ ok: false, detail: "Cannot resume a release that is running." });
    const paused = applyOperatorAction(release, "pause", "key:ops", T0 + 5);
    if (!paused.ok) throw new Error(paused.detail);
    expect(applyOperatorAction(paused.release, "pause", "key:ops", T0 + 6)).toMatchObject({ ok: false });
    const resumed = applyOperatorAction(paused.release, "resume", "key:ops", T0 + 7);
    expect(resumed.ok && [resumed.release.state, resumed.release.stepStartedAt, resumed.release.judgeAt, resumed.newWindow]).toEqual(["running", T0 + 7, T0 + 7 + INTERVAL_MS, true]);
    if (!promoted.ok) return;
    for (const action of OPERATOR_ACTIONS) expect(applyOperatorAction(promoted.release, action, "key:ops", T0 + 9)).toMatchObject({ ok: false, detail: `Cannot ${action} a release that is promoted.` });
  });

  it("evaluates every tenth of a step (1 s to 10 s) and at the step's end", () => {
    expect(evaluationCadenceMs(specOf({ stepIntervalSeconds: 5 }))).toBe(1_000);
    expect(evaluationCadenceMs(specOf({ stepIntervalSeconds: 60 }))).toBe(6_000);
    expect(evaluationCadenceMs(specOf({ stepIntervalSeconds: 3600 }))).toBe(10_000);
    const release = newRelease("r1", "banking", specOf({ stepIntervalSeconds: 5 }), "key:abc", T0);
    expect(nextEvaluationAt(release, T0)).toBe(T0 + 1_000);
    expect(nextEvaluationAt(release, T0 + 4_500)).toBe(T0 + 5_000);
  });

  it("a dry run walks the same way, each transition marked as a dry run", () => {
    let release = newRelease("r1", "banking", specOf({ dryRun: true }), "key:abc", T0);
    release = healthyStep(release).release;
    expect(release.history.map((t) => t.detail.startsWith("dry run: "))).toEqual([true, true]);
    expect(weightOf(release)).toBe(25);
  });

  it("after a restart a running step starts over; other states are left as they are", () => {
    const release = newRelease("r1", "banking", specOf(), "key:abc", T0);
    expect(restartedStep(release, T0 + 30_000)).toMatchObject({ stepStartedAt: T0 + 30_000, judgeAt: T0 + 30_000 + INTERVAL_MS, history: release.history });
    const aborted = applyOperatorAction(release, "abort", "key:ops", T0 + 1);
    if (aborted.ok) expect(restartedStep(aborted.release, T0 + 30_000)).toBe(aborted.release);
  });
});

// ------------------------------------------------------------------ properties

type Op =
  | { kind: "traffic"; canary: number; failures: number; stable: number }
  | { kind: "wait"; ms: number }
  | { kind: "action"; action: OperatorAction };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("traffic" as const), canary: fc.nat(30), failures: fc.nat(3), stable: fc.nat(30) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 2 * INTERVAL_MS }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("action" as const), action: fc.constantFrom(...OPERATOR_ACTIONS) }) },
);

const specArb = fc
  .record({
    steps: fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { minLength: 1, maxLength: 5 }).map((s) => [...s.sort((a, b) => a - b), 100]),
    minRequests: fc.integer({ min: 1, max: 40 }),
    maxErrorRatePercent: fc.constantFrom(1, 5, 20),
    dryRun: fc.boolean(),
  })
  .map(({ steps, minRequests, maxErrorRatePercent, dryRun }) => specOf({ steps, analysis: { minRequests, maxErrorRatePercent }, dryRun }));

/** Every state the release passes through, evaluating at each cadence as the registry's alarm does. */
function run(spec: ReleaseSpec, ops: readonly Op[]): Release[] {
  let now = T0;
  let release = newRelease("r", "svc", spec, "key:abc", now);
  let window = newReleaseWindow(now);
  const seen = [release];
  const evaluateUntil = (until: number) => {
    for (;;) {
      const at = nextEvaluationAt(release, now);
      if (at === null || at > until) break;
      now = at;
      const evaluated = evaluateRelease(release, window, now);
      release = evaluated.release;
      if (evaluated.newWindow) window = newReleaseWindow(now);
      seen.push(release);
    }
    now = until;
  };
  for (const op of ops) {
    if (op.kind === "traffic") traffic(window, op.canary, Math.min(op.failures, op.canary), op.stable);
    else if (op.kind === "wait") evaluateUntil(now + op.ms);
    else {
      const acted = applyOperatorAction(release, op.action, "key:ops", now);
      if (acted.ok) {
        release = acted.release;
        if (acted.newWindow) window = newReleaseWindow(now);
        seen.push(release);
      }
    }
  }
  return seen;
}

describe("release controller properties", () => {
  it("weights only go up while a release is active; promoted is 100 for good, rolled back and aborted 0 for good", () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb, { maxLength: 60 }), (spec, ops) => {
        const states = run(spec, ops);
        let previous = -1;
        let ended: Release | null = null;
        for (const release of states) {
          if (ended !== null) {
            expect(release.state).toBe(ended.state);
            expect(weightOf(release)).toBe(weightOf(ended));
            continue;
          }
          if (isActive(release)) {
            expect(weightOf(release)).toBeGreaterThanOrEqual(previous);
            expect(weightOf(release)).toBeLessThan(100);
            previous = weightOf(release);
          } else {
            ended = release;
            expect(weightOf(release)).toBe(release.state === "promoted" ? 100 : 0);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a rolled-back release never routes to the canary again, and its history is one unbroken chain", () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb, { maxLength: 60 }), (spec, ops) => {
        const states = run(spec, ops);
        const last = states[states.length - 1] as Release;
        const history = last.history;
        expect(history[0]?.kind).toBe("started");
        for (let i = 1; i < history.length; i++) expect(history[i]?.from).toBe(history[i - 1]?.to);
        const rollback = history.findIndex((t) => t.to === "rolled-back" || t.to === "aborted");
        if (rollback >= 0) {
          expect(history.slice(rollback).every((t) => t.weightPercent === 0)).toBe(true);
          expect(rollback).toBe(history.length - 1);
        }
        for (const release of states) expect(release.stepIndex).toBeLessThan(release.spec.steps.length);
      }),
      { numRuns: 300 },
    );
  });
});
