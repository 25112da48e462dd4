/**
 * A release's specification (issue #20): which version is the canary, the
 * weight steps it walks through, how long each step lasts, the analysis that
 * judges it against the stable rest of the service, and the routing settings
 * the edge carries out (stickiness, a pin header, mirroring).
 *
 * The HTTP schema (src/http/schemas.ts) checks shapes and ranges with these
 * same bounds; `releaseSpecProblems` checks everything again, relations
 * included (steps strictly increasing and ending at 100, at least one
 * threshold), because the registry is also called over RPC.
 */
import type { AffinitySetting } from "../balancer/affinity";
import { isValidVersion, VERSION_RULE } from "./version";

export const DEFAULT_STEPS: readonly number[] = [5, 25, 50, 100];
export const DEFAULT_STEP_INTERVAL_SECONDS = 300;
/** Short steps are allowed (tests, a staging smoke run); a day is the longest one step may last. */
export const MIN_STEP_INTERVAL_SECONDS = 5;
export const MAX_STEP_INTERVAL_SECONDS = 86_400;
export const MAX_STEPS = 20;
export const DEFAULT_MIN_REQUESTS = 20;
export const MAX_MIN_REQUESTS = 1_000_000;
/**
 * The relative error-rate threshold's absolute allowance, in percentage
 * points: without one, a stable side at 0 % would make any single canary
 * failure "infinitely worse". With 1 and a ratio of 2, a canary may fail up
 * to 2 × the stable rate + 1 point.
 */
export const DEFAULT_ERROR_RATE_ALLOWANCE_PERCENT = 1;
/** The same for p95: a few milliseconds of noise on a fast service is not a regression. */
export const DEFAULT_P95_ALLOWANCE_MS = 10;

/** The analysis thresholds; at least one of the four `max…` must be set. */
export interface AnalysisSpec {
  /** Requests the canary (and, for relative thresholds, the stable side) needs in the window before it is judged. */
  readonly minRequests: number;
  /** The canary's error rate (5xx and gateway errors, %) may not exceed this. */
  readonly maxErrorRatePercent?: number;
  /** The canary's p95 latency (ms) may not exceed this. */
  readonly maxP95Ms?: number;
  /** The canary's error rate may not exceed this × the stable side's, plus `errorRateAllowancePercent`. */
  readonly maxErrorRateVsStable?: number;
  /** The canary's p95 may not exceed this × the stable side's, plus `p95AllowanceMs`. */
  readonly maxP95VsStable?: number;
  readonly errorRateAllowancePercent: number;
  readonly p95AllowanceMs: number;
}

export interface ReleaseSpec {
  /** The canary: the instances of the service with this version. */
  readonly version: string;
  /** The canary's weight at each step, %: strictly increasing, the last one 100 (reaching it promotes). */
  readonly steps: readonly number[];
  readonly stepIntervalSeconds: number;
  readonly analysis: AnalysisSpec;
  /** Where a client's stickiness key comes from (it keeps the client on one side), or null: requests are dealt at random. */
  readonly stickiness: AffinitySetting | null;
  /** A request header that pins a version (lower-case), or null. */
  readonly pinHeader: string | null;
  /** The share (%) of idempotent requests served by the stable side that are also copied to the canary. */
  readonly mirrorPercent: number;
  /** Judged and reported like a real release, never routed. */
  readonly dryRun: boolean;
}

/** A spec as a caller gives it: everything but the version and one threshold has a default. */
export interface ReleaseSpecInput {
  readonly version: string;
  readonly steps?: readonly number[];
  readonly stepIntervalSeconds?: number;
  readonly analysis: Partial<AnalysisSpec>;
  readonly stickiness?: AffinitySetting | null;
  readonly pinHeader?: string | null;
  readonly mirrorPercent?: number;
  readonly dryRun?: boolean;
}

export interface SpecProblem {
  readonly field: string;
  readonly message: string;
}

export type SpecResult = { readonly ok: true; readonly spec: ReleaseSpec } | { readonly ok: false; readonly problems: readonly SpecProblem[] };

const THRESHOLDS = ["maxErrorRatePercent", "maxP95Ms", "maxErrorRateVsStable", "maxP95VsStable"] as const;

/** The spec with its defaults filled in, or every problem with it. */
export function normalizeReleaseSpec(input: ReleaseSpecInput): SpecResult {
  const a = input.analysis;
  const spec: ReleaseSpec = {
    version: input.version,
    steps: [...(input.steps ?? DEFAULT_STEPS)],
    stepIntervalSeconds: input.stepIntervalSeconds ?? DEFAULT_STEP_INTERVAL_SECONDS,
    analysis: {
      minRequests: a.minRequests ?? DEFAULT_MIN_REQUESTS,
      ...(a.maxErrorRatePercent === undefined ? {} : { maxErrorRatePercent: a.maxErrorRatePercent }),
      ...(a.maxP95Ms === undefined ? {} : { maxP95Ms: a.maxP95Ms }),
      ...(a.maxErrorRateVsStable === undefined ? {} : { maxErrorRateVsStable: a.maxErrorRateVsStable }),
      ...(a.maxP95VsStable === undefined ? {} : { maxP95VsStable: a.maxP95VsStable }),
      errorRateAllowancePercent: a.errorRateAllowancePercent ?? DEFAULT_ERROR_RATE_ALLOWANCE_PERCENT,
      p95AllowanceMs: a.p95AllowanceMs ?? DEFAULT_P95_ALLOWANCE_MS,
    },
    stickiness: input.stickiness ?? null,
    pinHeader: input.pinHeader === undefined || input.pinHeader === null ? null : input.pinHeader.toLowerCase(),
    mirrorPercent: input.mirrorPercent ?? 0,
    dryRun: input.dryRun ?? false,
  };
  const problems = releaseSpecProblems(spec);
  return problems.length === 0 ? { ok: true, spec } : { ok: false, problems };
}

export function releaseSpecProblems(spec: ReleaseSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ field, message });
  if (!isValidVersion(spec.version)) problem("version", VERSION_RULE);

  const { steps } = spec;
  if (steps.length < 2 || steps.length > MAX_STEPS) problem("steps", `must list 2-${MAX_STEPS} weights: at least one below 100, then 100`);
  steps.forEach((weight, i) => {
    if (!Number.isInteger(weight) || weight < 1 || weight > 100) problem(`steps.${i}`, "must be a whole percentage, 1-100");
    else if (i > 0 && weight <= (steps[i - 1] as number)) problem(`steps.${i}`, "must be greater than the step before it");
  });
  if (steps.length > 0 && steps[steps.length - 1] !== 100) problem(`steps.${steps.length - 1}`, "the last step must be 100");

  if (!isWhole(spec.stepIntervalSeconds, MIN_STEP_INTERVAL_SECONDS, MAX_STEP_INTERVAL_SECONDS)) {
    problem("stepIntervalSeconds", `must be a whole number of seconds, ${MIN_STEP_INTERVAL_SECONDS}-${MAX_STEP_INTERVAL_SECONDS}`);
  }

  const a = spec.analysis;
  if (!isWhole(a.minRequests, 1, MAX_MIN_REQUESTS)) problem("analysis.minRequests", `must be a whole number, 1-${MAX_MIN_REQUESTS}`);
  if (!THRESHOLDS.some((name) => a[name] !== undefined)) problem("analysis", `set at least one of ${THRESHOLDS.join(", ")}`);
  checkRange(a.maxErrorRatePercent, 0, 100, "analysis.maxErrorRatePercent", "must be a percentage, 0-100", problem);
  checkRange(a.maxP95Ms, 1, 600_000, "analysis.maxP95Ms", "must be 1-600000 ms", problem);
  checkRange(a.maxErrorRateVsStable, 1, 1000, "analysis.maxErrorRateVsStable", "must be a ratio, 1-1000", problem);
  checkRange(a.maxP95VsStable, 1, 1000, "analysis.maxP95VsStable", "must be a ratio, 1-1000", problem);
  checkRange(a.errorRateAllowancePercent, 0, 100, "analysis.errorRateAllowancePercent", "must be a percentage, 0-100", problem);
  checkRange(a.p95AllowanceMs, 0, 600_000, "analysis.p95AllowanceMs", "must be 0-600000 ms", problem);

  if (!Number.isFinite(spec.mirrorPercent) || spec.mirrorPercent < 0 || spec.mirrorPercent > 100) problem("mirrorPercent", "must be a percentage, 0-100");
  if (spec.pinHeader !== null && !/^[!#$%&'*+\-.^_`|~0-9a-z]{1,64}$/.test(spec.pinHeader)) problem("pinHeader", "must be a header name: 1-64 HTTP token characters");
  return problems;
}

function isWhole(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

function checkRange(value: number | undefined, min: number, max: number, field: string, message: string, problem: (field: string, message: string) => void): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= min && value <= max)) problem(field, message);
}

/** The canary's weight (%) at step `index`. */
export function stepWeight(spec: ReleaseSpec, index: number): number {
  return spec.steps[Math.min(Math.max(index, 0), spec.steps.length - 1)] as number;
}
