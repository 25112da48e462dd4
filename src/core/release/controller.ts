/**
 * The release controller's decisions (issue #20): a new release, one
 * evaluation of a running or paused release against its window, and the
 * operator's actions. Functions of (release, window, now): each returns the
 * new release and the transition it made, if any; the registry persists the
 * one and audits the other in the same turn.
 *
 * When it evaluates: every `evaluationCadenceMs` (a tenth of the step, at
 * least 1 s and at most 10 s, so a canary that crosses a threshold is rolled
 * back within a fraction of a step) and at the end of each step.
 *
 * Inconclusive steps: a step that ends without enough requests to judge runs
 * one more interval, its window still growing; after MAX_INCONCLUSIVE_INTERVALS
 * such intervals in a row the controller pauses the release (and the
 * CanaryStalled alert fires) rather than judge on too little or walk on
 * without evidence. An operator resumes (a fresh window), promotes or aborts.
 *
 * Dry run: the same machine and the same history, marked as a dry run; the
 * edge never routes it (src/core/registry/release-routing.ts).
 */
import { analyze, type Analysis, type ReleaseWindow } from "./analysis";
import { isActive, type Release, RELEASE_CONTROLLER, type ReleaseState, type Transition, type TransitionKind, weightOf, withTransition } from "./release";
import type { ReleaseSpec } from "./spec";

export const MAX_INCONCLUSIVE_INTERVALS = 3;
const MIN_CADENCE_MS = 1_000;
const MAX_CADENCE_MS = 10_000;

export type OperatorAction = "promote" | "abort" | "pause" | "resume";
export const OPERATOR_ACTIONS: readonly OperatorAction[] = ["promote", "abort", "pause", "resume"];

export function stepIntervalMs(spec: ReleaseSpec): number {
  return spec.stepIntervalSeconds * 1000;
}

export function evaluationCadenceMs(spec: ReleaseSpec): number {
  return Math.min(MAX_CADENCE_MS, Math.max(MIN_CADENCE_MS, Math.floor(stepIntervalMs(spec) / 10)));
}

/** A release just started: its first step runs now. */
export function newRelease(id: string, service: string, spec: ReleaseSpec, actor: string, now: number): Release {
  const base: Release = {
    id,
    service,
    spec,
    state: "running",
    stepIndex: 0,
    stepStartedAt: now,
    judgeAt: now + stepIntervalMs(spec),
    inconclusiveIntervals: 0,
    pausedBy: null,
    createdAt: now,
    updatedAt: now,
    endedAt: null,
    createdBy: actor,
    lastAnalysis: null,
    history: [],
  };
  const detail = `${spec.version} at ${weightOf(base)}% (steps ${spec.steps.join(" → ")}, ${spec.stepIntervalSeconds} s each)`;
  return { ...base, history: [transition(base, "started", null, base, actor, detail, now)] };
}

export interface Evaluation {
  readonly release: Release;
  /** Null when nothing changed (the step goes on). */
  readonly transition: Transition | null;
  readonly analysis: Analysis;
  /** A new step (or a resumption) began: the registry starts a fresh window. */
  readonly newWindow: boolean;
}

/** One evaluation at `now`. A release that is not running or paused is returned as it is. */
export function evaluateRelease(release: Release, window: ReleaseWindow, now: number): Evaluation {
  const judgeAt = release.state === "running" && release.judgeAt !== null ? release.judgeAt : Number.POSITIVE_INFINITY;
  const analysis = analyze(window, release.spec.analysis, now, judgeAt);
  const unchanged: Evaluation = { release, transition: null, analysis, newWindow: false };
  if (!isActive(release)) return unchanged;
  const auto = (kind: TransitionKind, next: Partial<Release>, detail: string, newWindow: boolean): Evaluation => {
    const changed = move(release, kind, { ...next, lastAnalysis: analysis }, RELEASE_CONTROLLER, detail, now);
    return { release: changed.release, transition: changed.transition, analysis, newWindow };
  };
  const stepLabel = `step ${release.stepIndex + 1} of ${release.spec.steps.length} (${weightOf(release)}%)`;
  switch (analysis.verdict) {
    case "fail":
      return auto("rolled-back", { state: "rolled-back", judgeAt: null, pausedBy: null, endedAt: now }, `${stepLabel}: ${analysis.reason}`, false);
    case "pending":
      return unchanged;
    case "pass": {
      const nextIndex = release.stepIndex + 1;
      const nextWeight = release.spec.steps[nextIndex];
      if (nextWeight === undefined || nextWeight >= 100) {
        const index = release.spec.steps.length - 1;
        return auto("promoted", { state: "promoted", stepIndex: index, judgeAt: null, endedAt: now }, `${stepLabel} passed, promoted to 100%: ${analysis.reason}`, false);
      }
      return auto(
        "advanced",
        { stepIndex: nextIndex, stepStartedAt: now, judgeAt: now + stepIntervalMs(release.spec), inconclusiveIntervals: 0 },
        `${stepLabel} passed, on to ${nextWeight}%: ${analysis.reason}`,
        true,
      );
    }
    case "inconclusive": {
      const intervals = release.inconclusiveIntervals + 1;
      if (intervals >= MAX_INCONCLUSIVE_INTERVALS) {
        return auto(
          "paused",
          { state: "paused", judgeAt: null, pausedBy: "controller", inconclusiveIntervals: intervals },
          `${stepLabel} inconclusive ${intervals} intervals in a row, paused: ${analysis.reason}`,
          false,
        );
      }
      return auto(
        "extended",
        { judgeAt: now + stepIntervalMs(release.spec), inconclusiveIntervals: intervals },
        `${stepLabel} inconclusive (${intervals} of ${MAX_INCONCLUSIVE_INTERVALS}), extended by ${release.spec.stepIntervalSeconds} s: ${analysis.reason}`,
        false,
      );
    }
  }
}

export type ActionResult =
  | { readonly ok: true; readonly release: Release; readonly transition: Transition; readonly newWindow: boolean }
  | { readonly ok: false; readonly reason: "not-applicable"; readonly detail: string };

/** An operator's action; one that does not apply to the release's state is refused (409). */
export function applyOperatorAction(release: Release, action: OperatorAction, actor: string, now: number): ActionResult {
  const refuse = (why: string): ActionResult => ({ ok: false, reason: "not-applicable", detail: `Cannot ${action} a release that ${why}.` });
  const ok = (kind: TransitionKind, next: Partial<Release>, detail: string, newWindow: boolean): ActionResult => ({ ok: true, ...move(release, kind, next, actor, detail, now), newWindow });
  if (!isActive(release)) return refuse(`is ${release.state}`);
  switch (action) {
    case "promote":
      return ok("promoted", { state: "promoted", stepIndex: release.spec.steps.length - 1, judgeAt: null, pausedBy: null, endedAt: now }, `promoted by an operator from ${weightOf(release)}% to 100%`, false);
    case "abort":
      return ok("aborted", { state: "aborted", judgeAt: null, pausedBy: null, endedAt: now }, `aborted by an operator at ${weightOf(release)}%: the canary gets no traffic`, false);
    case "pause":
      if (release.state === "paused") return refuse("is paused already");
      return ok("paused", { state: "paused", judgeAt: null, pausedBy: "operator" }, `paused by an operator at ${weightOf(release)}%`, false);
    case "resume":
      if (release.state === "running") return refuse("is running");
      return ok(
        "resumed",
        { state: "running", pausedBy: null, stepStartedAt: now, judgeAt: now + stepIntervalMs(release.spec), inconclusiveIntervals: 0 },
        `resumed by an operator at ${weightOf(release)}%: the step starts over with a fresh window`,
        true,
      );
  }
}

/**
 * A release loaded after the registry restarted: its window was in memory, so
 * a running step starts over (a fresh window, a full interval). The history
 * is not touched: nothing was decided.
 */
export function restartedStep(release: Release, now: number): Release {
  if (release.state !== "running") return release;
  return { ...release, stepStartedAt: now, judgeAt: now + stepIntervalMs(release.spec) };
}

/** When the release must next be evaluated after an evaluation at `now`; null when it is final. */
export function nextEvaluationAt(release: Release, now: number): number | null {
  if (!isActive(release)) return null;
  const cadence = now + evaluationCadenceMs(release.spec);
  return release.state === "running" && release.judgeAt !== null ? Math.max(now, Math.min(cadence, release.judgeAt)) : cadence;
}

function move(release: Release, kind: TransitionKind, next: Partial<Release>, actor: string, detail: string, now: number): { release: Release; transition: Transition } {
  const moved: Release = { ...release, ...next, updatedAt: now };
  const made = transition(release, kind, release.state, moved, actor, detail, now);
  return { release: { ...moved, history: withTransition(moved, made) }, transition: made };
}

function transition(release: Release, kind: TransitionKind, from: ReleaseState | null, after: Release, actor: string, detail: string, now: number): Transition {
  return {
    at: now,
    kind,
    from,
    to: after.state,
    stepIndex: after.stepIndex,
    weightPercent: weightOf(after),
    actor,
    detail: release.spec.dryRun ? `dry run: ${detail}` : detail,
  };
}
