/**
 * Per-service autoscaling policy, modelled on the Kubernetes
 * HorizontalPodAutoscaler (autoscaling/v2): min/max replicas, metric targets,
 * the controller's tolerance, and `behavior` with its defaults
 *
 *   scaleUp:   stabilizationWindowSeconds 0,   policies Percent 100 / 15 s and Pods 4 / 15 s, selectPolicy Max
 *   scaleDown: stabilizationWindowSeconds 300, policies Percent 100 / 15 s
 *
 * The rate policies are fixed to HPA's default 15 s period (hence the field
 * names) and to selectPolicy Max; only their values are configurable.
 *
 * Policies come from operator config, so validatePolicy checks at runtime what
 * the types already say, and names each bad field.
 */

/** Hard ceiling on maxInstances; also bounds what the engine stores (see history.ts). */
export const MAX_INSTANCES_LIMIT = 500;

/** HPA caps stabilizationWindowSeconds at one hour. */
export const MAX_STABILIZATION_MS = 3_600_000;

/** Below a second the metrics a decision is based on cannot have moved. */
export const MIN_EVALUATION_PERIOD_MS = 1_000;
export const MAX_EVALUATION_PERIOD_MS = 3_600_000;

export const DEFAULT_EVALUATION_PERIOD_MS = 15_000;
/** The kube-controller-manager default for --horizontal-pod-autoscaler-tolerance. */
export const DEFAULT_TOLERANCE = 0.1;

export interface AutoscaleTargets {
  /** Average CPU utilisation over ready instances, percent (0, 100]. */
  readonly cpuPercent?: number;
  /** Average requests in flight (queue depth) per ready instance. */
  readonly inflightPerInstance?: number;
  readonly p95Ms?: number;
  /** Share of requests failing, percent (0, 100]. */
  readonly errorRatePercent?: number;
}

export type MetricName = keyof AutoscaleTargets;

/** Evaluation order, and the order of Decision.perMetric. */
export const METRIC_NAMES: readonly MetricName[] = ["cpuPercent", "inflightPerInstance", "p95Ms", "errorRatePercent"];

export interface ScaleUpRules {
  /** Default 0: scale up on the current recommendation alone. */
  readonly stabilizationMs?: number;
  /** Default 100: at most double per 15 s. */
  readonly maxPercentPer15s?: number;
  /** Default 4: or at most +4 per 15 s, whichever allows more (selectPolicy Max). */
  readonly maxInstancesPer15s?: number;
}

export interface ScaleDownRules {
  /** Default 300_000: scale down only to the highest recommendation of the last 5 minutes. */
  readonly stabilizationMs?: number;
  /** Default 100: may drop all the way (to minInstances) in one 15 s period. */
  readonly maxPercentPer15s?: number;
}

export type AutoscaleMode = "enforce" | "dry-run";

export interface AutoscalePolicy {
  /** 0 ≤ minInstances ≤ maxInstances ≤ 500, integers. */
  readonly minInstances: number;
  readonly maxInstances: number;
  /** At least one target; a decision scales to satisfy the most demanding one. */
  readonly targets: AutoscaleTargets;
  /** How often the caller should evaluate; default 15_000 (HPA's sync period). */
  readonly evaluationPeriodMs?: number;
  /** dry-run decides and logs but records no scale events; the caller must not act on it. */
  readonly mode: AutoscaleMode;
  /** 0 ≤ tolerance < 1, default 0.1. */
  readonly tolerance?: number;
  readonly scaleUp?: ScaleUpRules;
  readonly scaleDown?: ScaleDownRules;
}

export interface ResolvedAutoscalePolicy {
  readonly minInstances: number;
  readonly maxInstances: number;
  readonly targets: AutoscaleTargets;
  readonly evaluationPeriodMs: number;
  readonly mode: AutoscaleMode;
  readonly tolerance: number;
  readonly scaleUp: Required<ScaleUpRules>;
  readonly scaleDown: Required<ScaleDownRules>;
}

export const DEFAULT_SCALE_UP: Required<ScaleUpRules> = { stabilizationMs: 0, maxPercentPer15s: 100, maxInstancesPer15s: 4 };
export const DEFAULT_SCALE_DOWN: Required<ScaleDownRules> = { stabilizationMs: 300_000, maxPercentPer15s: 100 };

export interface PolicyProblem {
  /** Dotted path of the offending field, e.g. "targets.p95Ms", "scaleDown.stabilizationMs". */
  readonly field: string;
  readonly message: string;
}

type Loose = Readonly<Record<string, unknown>>;

function isRecord(x: unknown): x is Loose {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

function isIntegerIn(x: unknown, lo: number, hi: number): x is number {
  return Number.isSafeInteger(x) && (x as number) >= lo && (x as number) <= hi;
}

const TARGET_UPPER: Readonly<Record<MetricName, number>> = {
  cpuPercent: 100,
  inflightPerInstance: Number.MAX_VALUE,
  p95Ms: Number.MAX_VALUE,
  errorRatePercent: 100,
};

function checkTargets(targets: unknown, out: PolicyProblem[]): void {
  if (!isRecord(targets)) {
    out.push({ field: "targets", message: "must be an object with at least one target" });
    return;
  }
  let defined = 0;
  for (const [key, value] of Object.entries(targets)) {
    if (value === undefined) continue;
    const field = `targets.${key}`;
    if (!(METRIC_NAMES as readonly string[]).includes(key)) {
      // A misspelt target would otherwise be silently ignored.
      out.push({ field, message: `unknown target; expected one of ${METRIC_NAMES.join(", ")}` });
      continue;
    }
    defined++;
    const upper = TARGET_UPPER[key as MetricName];
    if (!(isFiniteNumber(value) && value > 0 && value <= upper)) {
      const range = upper === Number.MAX_VALUE ? "a positive finite number" : `a number in (0, ${upper}]`;
      out.push({ field, message: `must be ${range}, got ${String(value)}` });
    }
  }
  if (defined === 0) out.push({ field: "targets", message: "at least one target is required" });
}

function checkStabilization(rules: Loose, section: string, out: PolicyProblem[]): void {
  const v = rules["stabilizationMs"];
  if (v !== undefined && !(isFiniteNumber(v) && v >= 0 && v <= MAX_STABILIZATION_MS)) {
    out.push({ field: `${section}.stabilizationMs`, message: `must be a number of ms in [0, ${MAX_STABILIZATION_MS}], got ${String(v)}` });
  }
}

function checkScaleUp(rules: unknown, out: PolicyProblem[]): void {
  if (rules === undefined) return;
  if (!isRecord(rules)) {
    out.push({ field: "scaleUp", message: "must be an object" });
    return;
  }
  checkStabilization(rules, "scaleUp", out);
  // Integers keep the limit arithmetic exact (see behavior.ts); HPA's policy values are int32 too.
  const pct = rules["maxPercentPer15s"];
  if (pct !== undefined && !isIntegerIn(pct, 1, 10_000)) {
    out.push({ field: "scaleUp.maxPercentPer15s", message: `must be an integer in [1, 10000], got ${String(pct)}` });
  }
  const count = rules["maxInstancesPer15s"];
  if (count !== undefined && !isIntegerIn(count, 1, MAX_INSTANCES_LIMIT)) {
    out.push({ field: "scaleUp.maxInstancesPer15s", message: `must be an integer in [1, ${MAX_INSTANCES_LIMIT}], got ${String(count)}` });
  }
}

function checkScaleDown(rules: unknown, out: PolicyProblem[]): void {
  if (rules === undefined) return;
  if (!isRecord(rules)) {
    out.push({ field: "scaleDown", message: "must be an object" });
    return;
  }
  checkStabilization(rules, "scaleDown", out);
  const pct = rules["maxPercentPer15s"];
  if (pct !== undefined && !isIntegerIn(pct, 1, 100)) {
    out.push({ field: "scaleDown.maxPercentPer15s", message: `must be an integer in [1, 100], got ${String(pct)}` });
  }
}

/** Every problem with the policy, in field order; empty when it is usable. */
export function validatePolicy(policy: AutoscalePolicy): PolicyProblem[] {
  const out: PolicyProblem[] = [];
  if (!isRecord(policy)) return [{ field: "", message: "policy must be an object" }];
  const p: Loose = policy;

  const min = p["minInstances"];
  const max = p["maxInstances"];
  const minOk = isIntegerIn(min, 0, MAX_INSTANCES_LIMIT);
  const maxOk = isIntegerIn(max, 0, MAX_INSTANCES_LIMIT);
  if (!minOk) out.push({ field: "minInstances", message: `must be an integer in [0, ${MAX_INSTANCES_LIMIT}], got ${String(min)}` });
  if (!maxOk) out.push({ field: "maxInstances", message: `must be an integer in [0, ${MAX_INSTANCES_LIMIT}], got ${String(max)}` });
  if (minOk && maxOk && min > max) {
    out.push({ field: "maxInstances", message: `must be ≥ minInstances (${min}), got ${max}` });
  }

  checkTargets(p["targets"], out);

  const period = p["evaluationPeriodMs"];
  if (period !== undefined && !(isFiniteNumber(period) && period >= MIN_EVALUATION_PERIOD_MS && period <= MAX_EVALUATION_PERIOD_MS)) {
    out.push({
      field: "evaluationPeriodMs",
      message: `must be a number of ms in [${MIN_EVALUATION_PERIOD_MS}, ${MAX_EVALUATION_PERIOD_MS}], got ${String(period)}`,
    });
  }

  const mode = p["mode"];
  if (mode !== "enforce" && mode !== "dry-run") {
    out.push({ field: "mode", message: `must be "enforce" or "dry-run", got ${String(mode)}` });
  }

  const tolerance = p["tolerance"];
  // 1 or more would hold every metric at the current count for any load up to double the target.
  if (tolerance !== undefined && !(isFiniteNumber(tolerance) && tolerance >= 0 && tolerance < 1)) {
    out.push({ field: "tolerance", message: `must be a number in [0, 1), got ${String(tolerance)}` });
  }

  checkScaleUp(p["scaleUp"], out);
  checkScaleDown(p["scaleDown"], out);
  return out;
}

/** The policy with every default filled in. Does not validate; see validatePolicy. */
export function withDefaults(p: AutoscalePolicy): ResolvedAutoscalePolicy {
  const targets: { -readonly [K in MetricName]?: number } = {};
  for (const name of METRIC_NAMES) {
    const v = p.targets[name];
    if (v !== undefined) targets[name] = v;
  }
  return {
    minInstances: p.minInstances,
    maxInstances: p.maxInstances,
    targets,
    evaluationPeriodMs: p.evaluationPeriodMs ?? DEFAULT_EVALUATION_PERIOD_MS,
    mode: p.mode,
    tolerance: p.tolerance ?? DEFAULT_TOLERANCE,
    scaleUp: {
      stabilizationMs: p.scaleUp?.stabilizationMs ?? DEFAULT_SCALE_UP.stabilizationMs,
      maxPercentPer15s: p.scaleUp?.maxPercentPer15s ?? DEFAULT_SCALE_UP.maxPercentPer15s,
      maxInstancesPer15s: p.scaleUp?.maxInstancesPer15s ?? DEFAULT_SCALE_UP.maxInstancesPer15s,
    },
    scaleDown: {
      stabilizationMs: p.scaleDown?.stabilizationMs ?? DEFAULT_SCALE_DOWN.stabilizationMs,
      maxPercentPer15s: p.scaleDown?.maxPercentPer15s ?? DEFAULT_SCALE_DOWN.maxPercentPer15s,
    },
  };
}
