/**
 * The metric step of HPA's replica calculation: each metric asks for
 *
 *   desired = ceil(current × observed / target)
 *
 * unless |observed / target − 1| ≤ tolerance, where it asks for `current` (so
 * noise around the target never moves the count), and the largest request wins.
 * `current` is the number of ready instances, the ones the averages were taken
 * over (HPA's readyPodCount).
 *
 * Missing metrics (HPA's invalid metrics): a metric without a usable observation
 * is skipped. If every metric is missing, or some are and the rest would scale
 * down, the recommendation is `current`: a scale-down must never be caused by
 * not knowing. (HPA aborts the reconcile in that case; engine.ts does the same,
 * so the held value is not recorded for stabilization.) Missing metrics do not
 * stop a scale-up that the usable metrics ask for.
 *
 * Zero ready instances: the formula would answer 0 forever. Instead a metric
 * with load (observed > 0) is evaluated as if all of it sat on one instance,
 * and asks for at least 1; after clamping that is at least min(max, 1).
 * Callers computing a per-instance average should divide by max(ready, 1).
 */
import type { AutoscaleTargets, MetricName } from "./policy";
import { METRIC_NAMES } from "./policy";

/** One evaluation's readings; null, undefined or NaN means "not available". */
export interface Observation {
  readonly cpuPercent?: number | null;
  readonly inflightPerInstance?: number | null;
  readonly p95Ms?: number | null;
  readonly errorRatePercent?: number | null;
}

/** missing: null/undefined/NaN; invalid: not a finite number ≥ 0. Both count as missing for the guard. */
export type SkipReason = "missing" | "invalid";

export interface MetricRecommendation {
  readonly metric: MetricName;
  /** The reading as given; null when missing or not a number. */
  readonly observed: number | null;
  readonly target: number;
  /** Instances this metric alone asks for; null when skipped. */
  readonly desired: number | null;
  /** The reading was within tolerance of the target, so desired = current. */
  readonly withinTolerance: boolean;
  readonly skipped?: SkipReason;
}

export interface Recommendation {
  /** One entry per configured target, in METRIC_NAMES order. */
  readonly perMetric: readonly MetricRecommendation[];
  /** The largest usable per-metric recommendation, or `current` when heldByMissing. */
  readonly desired: number;
  /** All metrics missing, or some missing and the rest below current. */
  readonly heldByMissing: boolean;
  /** Without the tolerance the combined recommendation would have been different. */
  readonly heldByTolerance: boolean;
}

/** ceil(current × observed / target) with no tolerance; see the module comment for current = 0. */
export function proportionalDesired(current: number, observed: number, target: number): number {
  if (current === 0) return observed > 0 ? Math.max(1, proportionalDesired(1, observed, target)) : 0;
  // Multiply first: for integer operands the quotient is then rounded once, so an
  // exact answer (2 × 30 / 10) stays exact instead of ceil-ing 6.000…01 up to 7.
  return Math.min(Number.MAX_SAFE_INTEGER, Math.ceil((current * observed) / target));
}

/**
 * Whether observed is within tolerance of target. Written as
 * |observed − target| ≤ tolerance × target rather than |observed/target − 1|:
 * the same test, but 11 against 10 at tolerance 0.1 is exactly on the edge
 * instead of 1.1 − 1 = 0.10000000000000009 just past it.
 */
export function withinTolerance(observed: number, target: number, tolerance: number): boolean {
  return Math.abs(observed - target) <= tolerance * target;
}

/** What one metric asks for, given a usable reading. */
export function recommendForMetric(current: number, observed: number, target: number, tolerance: number): number {
  if (current === 0) return observed > 0 ? Math.max(1, recommendForMetric(1, observed, target, tolerance)) : 0;
  return withinTolerance(observed, target, tolerance) ? current : proportionalDesired(current, observed, target);
}

function readObservation(value: unknown): { observed: number | null; skipped?: SkipReason } {
  if (value === undefined || value === null || (typeof value === "number" && Number.isNaN(value))) {
    return { observed: null, skipped: "missing" };
  }
  if (typeof value !== "number") return { observed: null, skipped: "invalid" };
  if (!Number.isFinite(value) || value < 0) return { observed: value, skipped: "invalid" };
  return { observed: value };
}

function combine(current: number, values: readonly (number | null)[]): { desired: number; heldByMissing: boolean } {
  let best: number | null = null;
  let missing = false;
  for (const v of values) {
    if (v === null) missing = true;
    else best = best === null ? v : Math.max(best, v);
  }
  if (best === null || (missing && best < current)) return { desired: current, heldByMissing: true };
  return { desired: best, heldByMissing: false };
}

/**
 * Combines every configured target's recommendation. Readings for metrics
 * without a target are ignored.
 */
export function recommend(current: number, observation: Observation, targets: AutoscaleTargets, tolerance: number): Recommendation {
  const perMetric: MetricRecommendation[] = [];
  const untolerated: (number | null)[] = [];
  for (const metric of METRIC_NAMES) {
    const target = targets[metric];
    if (target === undefined) continue;
    const { observed, skipped } = readObservation(observation[metric]);
    if (skipped !== undefined || observed === null) {
      perMetric.push({ metric, observed, target, desired: null, withinTolerance: false, skipped: skipped ?? "missing" });
      untolerated.push(null);
      continue;
    }
    const held = current > 0 && withinTolerance(observed, target, tolerance);
    perMetric.push({ metric, observed, target, desired: recommendForMetric(current, observed, target, tolerance), withinTolerance: held });
    untolerated.push(proportionalDesired(current, observed, target));
  }
  const combined = combine(
    current,
    perMetric.map((m) => m.desired),
  );
  const withoutTolerance = combine(current, untolerated);
  return {
    perMetric,
    desired: combined.desired,
    heldByMissing: combined.heldByMissing,
    heldByTolerance: withoutTolerance.desired !== combined.desired,
  };
}
