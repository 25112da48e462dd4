/**
 * One autoscaler evaluation, following HPA's reconcileAutoscaler:
 *
 * 1. current outside [min, max] (policy changed, instances lost): the answer is
 *    the violated bound, straight away, bypassing stabilization and rate limits.
 * 2. Otherwise the metrics recommend (recommend.ts). If missing metrics hold
 *    the count, stop there: HPA aborts the reconcile, so nothing is stabilized
 *    or recorded and the answer is current.
 * 3. Clamp the recommendation to [min, max]. HPA clamps last, together with the
 *    rate limit; clamping first gives the same count (clamping is monotone and
 *    commutes with the windows' min/max, and current is inside the bounds), and
 *    makes the stabilization and rate stages report what actually limited.
 * 4. Stabilize (behavior.ts) against the recent recommendations, clamped to
 *    today's bounds so a policy change applies at once.
 * 5. Rate-limit against the scale events of the last 15 s.
 * 6. Record the recommendation (unclamped) and, when the count changes in
 *    enforce mode, the scale event.
 *
 * dry-run goes through exactly the same steps and records the recommendation,
 * so its stabilization is what enforce mode would do; it records no scale
 * events (nothing was scaled), and the caller must not act on the decision.
 *
 * `current` is the number of ready instances. Note it is also the baseline the
 * rate limits and scale events are counted from: instances launched but not yet
 * ready are not in it, so the caller must subtract those before acting on
 * `desired - current`, or it will launch them again.
 */
import {
  type AutoscaleMode,
  type AutoscalePolicy,
  type AutoscaleTargets,
  type ResolvedAutoscalePolicy,
  validatePolicy,
  withDefaults,
} from "./policy";
import { type MetricRecommendation, type Observation, recommend } from "./recommend";
import { type AutoscaleState, pruneState, withRecommendation, withScaleEvent } from "./history";
import { scaleDownLimit, scaleUpLimit, stabilize } from "./behavior";

export type LimitReason =
  | "tolerance"
  | "stabilization-up"
  | "stabilization-down"
  | "rate-up-percent"
  | "rate-up-count"
  | "rate-down-percent"
  | "min"
  | "max"
  | "missing-metrics";

export type ScaleAction = "scale-up" | "scale-down" | "none";

export interface Decision {
  readonly at: number;
  /** Ready instances the decision started from. */
  readonly current: number;
  readonly observed: Observation;
  readonly targets: AutoscaleTargets;
  readonly perMetric: readonly MetricRecommendation[];
  /** The metrics' combined recommendation, before any bound or behavior. */
  readonly rawDesired: number;
  /** After clamping to [min, max] and the stabilization windows. */
  readonly stabilized: number;
  /** After the 15 s rate limits. */
  readonly rateLimited: number;
  /** The instance count to run; equals rateLimited. */
  readonly desired: number;
  /** What moved the count away from rawDesired, in pipeline order; empty when nothing did. */
  readonly limitedBy: readonly LimitReason[];
  /** In dry-run, what enforce mode would do. */
  readonly action: ScaleAction;
  readonly mode: AutoscaleMode;
  /** Pinned at max while some metric still asks for more: the caller should alert. */
  readonly atMaxStillOverTarget: boolean;
}

export interface Evaluation {
  readonly state: AutoscaleState;
  readonly decision: Decision;
}

interface Stages {
  readonly stabilized: number;
  readonly rateLimited: number;
  readonly limitedBy: readonly LimitReason[];
  readonly record: boolean;
}

function clamp(n: number, p: ResolvedAutoscalePolicy): number {
  return Math.min(Math.max(n, p.minInstances), p.maxInstances);
}

/** Steps 3 to 5 of the module comment, for current inside [min, max]. */
function normalize(p: ResolvedAutoscalePolicy, state: AutoscaleState, current: number, raw: number, tolerance: boolean, now: number): Stages {
  const limitedBy: LimitReason[] = tolerance ? ["tolerance"] : [];
  const clamped = clamp(raw, p);
  if (raw < p.minInstances) limitedBy.push("min");
  if (raw > p.maxInstances) limitedBy.push("max");

  const history = state.recommendations.map((r) => ({ at: r.at, desired: clamp(r.desired, p) }));
  const s = stabilize(current, clamped, history, p.scaleUp.stabilizationMs, p.scaleDown.stabilizationMs, now);
  if (s.limitedBy !== null) limitedBy.push(s.limitedBy);

  let rateLimited = s.value;
  if (s.value > current) {
    const up = scaleUpLimit(current, state.scaleEvents, now, p.scaleUp);
    if (s.value > up.limit) {
      rateLimited = up.limit;
      limitedBy.push(...up.by);
    }
  } else if (s.value < current) {
    const down = scaleDownLimit(current, state.scaleEvents, now, p.scaleDown);
    if (s.value < down) {
      rateLimited = down;
      limitedBy.push("rate-down-percent");
    }
  }
  return { stabilized: s.value, rateLimited, limitedBy, record: true };
}

/**
 * Evaluates `policy` for a service with `current` ready instances and the
 * latest `observation`, at `now` (ms). Pure: returns the state to persist.
 * An invalid policy, a `current` that is not a non-negative integer or a
 * non-finite `now` are caller bugs and throw RangeError.
 */
export function evaluate(state: AutoscaleState, policy: AutoscalePolicy, current: number, observation: Observation, now: number): Evaluation {
  const problems = validatePolicy(policy);
  if (problems.length > 0) {
    throw new RangeError(`invalid autoscale policy: ${problems.map((x) => `${x.field}: ${x.message}`).join("; ")}`);
  }
  if (!(Number.isSafeInteger(current) && current >= 0)) throw new RangeError(`current must be a non-negative integer, got ${String(current)}`);
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite ms timestamp, got ${String(now)}`);

  const p = withDefaults(policy);
  const pruned = pruneState(state, now, Math.max(p.scaleUp.stabilizationMs, p.scaleDown.stabilizationMs));
  const rec = recommend(current, observation, p.targets, p.tolerance);

  let stages: Stages;
  if (current > p.maxInstances || current < p.minInstances) {
    const bound = clamp(current, p);
    stages = { stabilized: bound, rateLimited: bound, limitedBy: [current > p.maxInstances ? "max" : "min"], record: false };
  } else if (rec.heldByMissing) {
    stages = { stabilized: current, rateLimited: current, limitedBy: ["missing-metrics"], record: false };
  } else {
    stages = normalize(p, pruned, current, rec.desired, rec.heldByTolerance, now);
  }

  const desired = stages.rateLimited;
  const action: ScaleAction = desired > current ? "scale-up" : desired < current ? "scale-down" : "none";
  const overMax = rec.perMetric.some((m) => m.desired !== null && m.desired > p.maxInstances);
  const decision: Decision = {
    at: now,
    current,
    observed: { ...observation },
    targets: p.targets,
    perMetric: rec.perMetric,
    rawDesired: rec.desired,
    stabilized: stages.stabilized,
    rateLimited: stages.rateLimited,
    desired,
    limitedBy: stages.limitedBy,
    action,
    mode: p.mode,
    atMaxStillOverTarget: desired === p.maxInstances && overMax,
  };
  const next: AutoscaleState = {
    recommendations: stages.record ? withRecommendation(pruned.recommendations, now, rec.desired) : pruned.recommendations,
    scaleEvents: action !== "none" && p.mode === "enforce" ? withScaleEvent(pruned.scaleEvents, now, desired - current) : pruned.scaleEvents,
    lastEvaluatedAt: now,
  };
  return { state: next, decision };
}

/**
 * Whether a full evaluation period has passed since the last evaluation. A
 * clock that moved back counts as due, rather than stalling the autoscaler
 * until it catches up.
 */
export function evaluationDue(state: AutoscaleState, policy: AutoscalePolicy, now: number): boolean {
  const period = withDefaults(policy).evaluationPeriodMs;
  return state.lastEvaluatedAt === null || now - state.lastEvaluatedAt >= period || now < state.lastEvaluatedAt;
}
