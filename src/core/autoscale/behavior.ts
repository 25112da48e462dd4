/**
 * HPA `behavior`: the stabilization windows and the rate policies, as in
 * kube-controller-manager's stabilizeRecommendationWithBehaviors and
 * calculateScale{Up,Down}Limit*.
 *
 * Stabilization: over the recommendations of the last scaleUp window take the
 * MIN (a scale-up must have been asked for throughout the window), over those
 * of the last scaleDown window take the MAX (a scale-down only to the highest
 * recent ask); the current recommendation is part of both. The result is
 * current moved towards those bounds, so it never crosses current.
 *
 * Rate limits, per 15 s period, from the count at the start of the period
 * (current − added + removed in the last 15 s):
 *   up:   max(ceil(start × (1 + pct/100)), start + count)   (selectPolicy Max)
 *   down: trunc(start × (1 − pct/100))
 * Both round towards the larger change, as HPA does, so a small count can
 * always move (+100% of 1 is 2; −50% of 3 is 1). A limit past current in the
 * wrong direction (the period already moved more) holds at current.
 */
import type { ResolvedAutoscalePolicy } from "./policy";
import { type ScaleEvent, type TimedRecommendation, changeInPeriod, inWindow } from "./history";

export type StabilizationLimit = "stabilization-up" | "stabilization-down";
export type RateUpLimit = "rate-up-percent" | "rate-up-count";

export interface Stabilized {
  readonly value: number;
  readonly limitedBy: StabilizationLimit | null;
}

/** `history` must already be clamped to the policy's bounds, as `desired` is. */
export function stabilize(
  current: number,
  desired: number,
  history: readonly TimedRecommendation[],
  upWindowMs: number,
  downWindowMs: number,
  now: number,
): Stabilized {
  let upBound = desired;
  let downBound = desired;
  for (const r of history) {
    if (inWindow(r.at, now, upWindowMs)) upBound = Math.min(upBound, r.desired);
    if (inWindow(r.at, now, downWindowMs)) downBound = Math.max(downBound, r.desired);
  }
  const value = Math.min(Math.max(current, upBound), downBound);
  if (value < desired) return { value, limitedBy: "stabilization-up" };
  if (value > desired) return { value, limitedBy: "stabilization-down" };
  return { value, limitedBy: null };
}

export interface ScaleUpLimit {
  /** The most instances allowed now; ≥ current. */
  readonly limit: number;
  /** The policy (or both, on a tie) that set the limit. */
  readonly by: readonly RateUpLimit[];
}

function periodStart(current: number, events: readonly ScaleEvent[], now: number): number {
  const { added, removed } = changeInPeriod(events, now);
  return current - added + removed;
}

export function scaleUpLimit(
  current: number,
  events: readonly ScaleEvent[],
  now: number,
  rules: ResolvedAutoscalePolicy["scaleUp"],
): ScaleUpLimit {
  const start = periodStart(current, events, now);
  // Integer numerator (percent is validated integer), so exact results stay exact.
  const byPercent = Math.ceil((start * (100 + rules.maxPercentPer15s)) / 100);
  const byCount = start + rules.maxInstancesPer15s;
  const chosen = Math.max(byPercent, byCount);
  const by: RateUpLimit[] = [];
  if (byPercent === chosen) by.push("rate-up-percent");
  if (byCount === chosen) by.push("rate-up-count");
  return { limit: Math.max(chosen, current), by };
}

/** The fewest instances allowed now; ≤ current. */
export function scaleDownLimit(
  current: number,
  events: readonly ScaleEvent[],
  now: number,
  rules: ResolvedAutoscalePolicy["scaleDown"],
): number {
  const start = periodStart(current, events, now);
  // trunc, not floor: HPA converts with int32(), which truncates a negative start towards 0.
  return Math.min(Math.trunc((start * (100 - rules.maxPercentPer15s)) / 100), current);
}
