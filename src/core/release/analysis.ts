/**
 * The canary analysis (issue #20): the canary's requests in the current
 * step's window against the stable side's over the same window, judged by the
 * release's thresholds.
 *
 * - A request fails when it got a 5xx or a gateway error (a timeout, a
 *   connect failure), as in /metrics; a client that went away is not counted.
 *   Latency is that of the requests that got an answer (a sketch, p95).
 * - Nothing is judged before the canary has `minRequests` in the window; the
 *   relative thresholds also need `minRequests` on the stable side.
 * - **fail** as soon as one judged threshold is crossed, whenever that
 *   happens in the step: a regression is rolled back at the next evaluation,
 *   not at the end of the step.
 * - **pass** only at the end of the step, and only when every configured
 *   threshold could be judged and held.
 * - **inconclusive** at the end of the step when some threshold could not be
 *   judged (too few requests on either side); before it, **pending**.
 */
import { addSample, createSketch, mergeSketch, quantile, type Sketch, sketchOf } from "../metrics/sketch";
import type { AnalysisSpec } from "./spec";

/** One side's outcomes since the window started. Mutable: it is fed one outcome at a time. */
export interface SideTally {
  requests: number;
  failures: number;
  sketch: Sketch;
  /** Latencies not yet folded into the sketch (folding one at a time would copy it each time). */
  pending: number[];
}

/** Both sides' outcomes since the current step (or its resumption) began. Memory only. */
export interface ReleaseWindow {
  readonly startedAt: number;
  readonly canary: SideTally;
  readonly stable: SideTally;
}

const MAX_PENDING_SAMPLES = 1024;

export function newReleaseWindow(startedAt: number): ReleaseWindow {
  return { startedAt, canary: newSideTally(), stable: newSideTally() };
}

function newSideTally(): SideTally {
  return { requests: 0, failures: 0, sketch: createSketch(), pending: [] };
}

/** `latencyMs`: the answer's duration, or null when no answer came (a gateway error). */
export function recordSideOutcome(side: SideTally, failed: boolean, latencyMs: number | null): void {
  side.requests++;
  if (failed) side.failures++;
  if (latencyMs !== null) {
    side.pending.push(latencyMs);
    if (side.pending.length >= MAX_PENDING_SAMPLES) foldPending(side);
  }
}

function foldPending(side: SideTally): Sketch {
  if (side.pending.length > 0) {
    side.sketch = side.pending.length === 1 ? addSample(side.sketch, side.pending[0] as number) : mergeSketch(side.sketch, sketchOf(side.pending));
    side.pending = [];
  }
  return side.sketch;
}

export type Verdict = "pass" | "fail" | "inconclusive" | "pending";

export type ThresholdName = "maxErrorRatePercent" | "maxP95Ms" | "maxErrorRateVsStable" | "maxP95VsStable";

export interface SideNumbers {
  readonly requests: number;
  readonly failures: number;
  /** Failures / requests × 100; null without requests. */
  readonly errorRatePercent: number | null;
  readonly p95Ms: number | null;
}

export interface ThresholdCheck {
  readonly threshold: ThresholdName;
  /** The effective limit: the threshold itself, or for a relative one ratio × stable + allowance. */
  readonly limit: number | null;
  /** The canary's value, or null when there was not enough to judge. */
  readonly observed: number | null;
  readonly result: "pass" | "fail" | "unjudged";
}

export interface Analysis {
  readonly verdict: Verdict;
  readonly at: number;
  readonly windowStartedAt: number;
  readonly canary: SideNumbers;
  readonly stable: SideNumbers;
  /** Every configured threshold, in a fixed order. */
  readonly checks: readonly ThresholdCheck[];
  /** Why, in a sentence with the numbers (it goes into the history, the audit log and alerts). */
  readonly reason: string;
}

export function sideNumbers(side: SideTally): SideNumbers {
  const sketch = foldPending(side);
  return {
    requests: side.requests,
    failures: side.failures,
    errorRatePercent: side.requests > 0 ? round((side.failures / side.requests) * 100) : null,
    p95Ms: sketch.count > 0 ? roundOrNull(quantile(sketch, 0.95)) : null,
  };
}

/**
 * Judges the window at `now`. `judgeAt`: when the step ends (pass or
 * inconclusive are only given from then on); Infinity for a paused release,
 * which is only ever failed.
 */
export function analyze(window: ReleaseWindow, spec: AnalysisSpec, now: number, judgeAt: number): Analysis {
  const canary = sideNumbers(window.canary);
  const stable = sideNumbers(window.stable);
  const checks = judge(canary, stable, spec);
  const failed = checks.filter((c) => c.result === "fail");
  let verdict: Verdict;
  if (failed.length > 0) verdict = "fail";
  else if (now < judgeAt) verdict = "pending";
  else verdict = checks.every((c) => c.result === "pass") ? "pass" : "inconclusive";
  return { verdict, at: now, windowStartedAt: window.startedAt, canary, stable, checks, reason: reasonFor(verdict, canary, stable, checks, spec) };
}

function judge(canary: SideNumbers, stable: SideNumbers, spec: AnalysisSpec): ThresholdCheck[] {
  const enoughCanary = canary.requests >= spec.minRequests;
  const enoughBoth = enoughCanary && stable.requests >= spec.minRequests;
  const checks: ThresholdCheck[] = [];
  const check = (threshold: ThresholdName, judgeable: boolean, limit: number | null, observed: number | null) => {
    if (!judgeable || limit === null || observed === null) checks.push({ threshold, limit, observed: judgeable ? observed : null, result: "unjudged" });
    else checks.push({ threshold, limit: round(limit), observed, result: observed > limit ? "fail" : "pass" });
  };
  if (spec.maxErrorRatePercent !== undefined) check("maxErrorRatePercent", enoughCanary, spec.maxErrorRatePercent, canary.errorRatePercent);
  if (spec.maxP95Ms !== undefined) check("maxP95Ms", enoughCanary, spec.maxP95Ms, canary.p95Ms);
  if (spec.maxErrorRateVsStable !== undefined) {
    const limit = stable.errorRatePercent === null ? null : spec.maxErrorRateVsStable * stable.errorRatePercent + spec.errorRateAllowancePercent;
    check("maxErrorRateVsStable", enoughBoth, limit, canary.errorRatePercent);
  }
  if (spec.maxP95VsStable !== undefined) {
    const limit = stable.p95Ms === null ? null : spec.maxP95VsStable * stable.p95Ms + spec.p95AllowanceMs;
    check("maxP95VsStable", enoughBoth, limit, canary.p95Ms);
  }
  return checks;
}

const UNITS: Readonly<Record<ThresholdName, string>> = { maxErrorRatePercent: "%", maxP95Ms: " ms", maxErrorRateVsStable: "%", maxP95VsStable: " ms" };
const LABELS: Readonly<Record<ThresholdName, string>> = {
  maxErrorRatePercent: "error rate",
  maxP95Ms: "p95",
  maxErrorRateVsStable: "error rate vs stable",
  maxP95VsStable: "p95 vs stable",
};

function reasonFor(verdict: Verdict, canary: SideNumbers, stable: SideNumbers, checks: readonly ThresholdCheck[], spec: AnalysisSpec): string {
  const sides = `canary ${describeSide(canary)}; stable ${describeSide(stable)}`;
  switch (verdict) {
    case "fail": {
      const crossed = checks
        .filter((c) => c.result === "fail")
        .map((c) => `${LABELS[c.threshold]} ${String(c.observed)}${UNITS[c.threshold]} > ${String(c.limit)}${UNITS[c.threshold]}`)
        .join(", ");
      return `threshold crossed: ${crossed} (${sides})`;
    }
    case "pass":
      return `every threshold held (${sides})`;
    case "inconclusive": {
      const unjudged = checks.filter((c) => c.result === "unjudged").map((c) => LABELS[c.threshold]);
      return `too few requests to judge ${unjudged.join(", ")} (need ${spec.minRequests} per side; ${sides})`;
    }
    case "pending":
      return `step in progress (${sides})`;
  }
}

function describeSide(side: SideNumbers): string {
  const rate = side.errorRatePercent === null ? "n/a" : `${String(side.errorRatePercent)}%`;
  const p95 = side.p95Ms === null ? "n/a" : `${String(side.p95Ms)} ms`;
  return `${side.requests} requests, ${side.failures} failed (${rate}), p95 ${p95}`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function roundOrNull(x: number | null): number | null {
  return x === null ? null : round(x);
}
