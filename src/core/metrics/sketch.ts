/**
 * A mergeable latency sketch in the style of DDSketch (Masson, Rim & Lee,
 * VLDB 2019): log-spaced buckets with relative accuracy α = 1%.
 *
 *   γ = (1 + α) / (1 − α)
 *   bucket index i = ceil(log_γ(v))      bucket i holds values in (γ^(i−1), γ^i]
 *   representative r_i = 2γ^i / (γ + 1)  so |r_i − v| ≤ α·v for every v in bucket i
 *
 * A quantile is answered by walking the buckets to the rank and returning that
 * bucket's representative, so every reported quantile is within α of the exact
 * sample at the same rank (see `quantileRank` for the rank convention). Counts
 * simply add, which is what makes sketches from many edge isolates mergeable
 * with no loss: merge(a, b) is the sketch of the concatenated samples.
 *
 * The object is plain JSON (a sparse record of bucket counts keyed by the
 * integer index as a string), so it can go to SQLite and over RPC unchanged.
 * Empty-sketch min/max are null because JSON has no Infinity.
 *
 * Memory is bounded at SKETCH_MAX_BINS buckets by folding the lowest buckets
 * into the lowest kept one: the tail that matters for latency (p95, p99) keeps
 * its accuracy and only the smallest values get over-reported. With α = 1% the
 * cap is reached only past a dynamic range of γ^2048 ≈ 6·10^17, so for real
 * millisecond latencies it is a guard against garbage, not a working regime.
 * WebSocket connection durations use the same sketch: everything from
 * SKETCH_MIN_VALUE_MS to a year is about 1,440 buckets, so hours or days keep
 * the full 1% accuracy.
 */

export const SKETCH_RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);

/** Values below this (ms) share the zero bucket: 10 µs is below any timer the Workers runtime exposes. */
export const SKETCH_MIN_VALUE_MS = 0.01;
export const SKETCH_MAX_BINS = 2048;

export interface Sketch {
  /** Sample count per bucket index (key = String(i)); only non-empty buckets are present. */
  readonly bins: Readonly<Record<string, number>>;
  /** Samples below SKETCH_MIN_VALUE_MS (including 0; negatives are clamped to 0). */
  readonly zeroCount: number;
  readonly count: number;
  /** Exact sum of the (clamped) samples, for averages. */
  readonly sum: number;
  readonly min: number | null;
  readonly max: number | null;
}

interface MutableSketch {
  bins: Record<string, number>;
  zeroCount: number;
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
}

export function createSketch(): Sketch {
  return { bins: {}, zeroCount: 0, count: 0, sum: 0, min: null, max: null };
}

function copy(sketch: Sketch): MutableSketch {
  return { ...sketch, bins: { ...sketch.bins } };
}

export function bucketIndex(valueMs: number): number {
  // "+ 0" turns the -0 that ceil gives for values just under 1 into 0.
  return Math.ceil(Math.log(valueMs) / LOG_GAMMA) + 0;
}

/** The value reported for every sample in bucket `index`. */
export function bucketValue(index: number): number {
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}

/** Sorted bucket indexes; integer keys, so Number() is exact. */
function sortedIndexes(bins: Readonly<Record<string, number>>): number[] {
  return Object.keys(bins)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Folds the lowest buckets into the lowest one that is kept, until at most SKETCH_MAX_BINS remain. */
function collapse(sketch: MutableSketch): void {
  const indexes = sortedIndexes(sketch.bins);
  const excess = indexes.length - SKETCH_MAX_BINS;
  if (excess <= 0) return;
  const keep = indexes[excess];
  if (keep === undefined) return;
  let folded = 0;
  for (const index of indexes.slice(0, excess)) {
    folded += sketch.bins[String(index)] ?? 0;
    delete sketch.bins[String(index)];
  }
  sketch.bins[String(keep)] = (sketch.bins[String(keep)] ?? 0) + folded;
}

function checkSample(valueMs: number, count: number): void {
  if (typeof valueMs !== "number" || !Number.isFinite(valueMs)) {
    throw new RangeError(`sketch sample must be a finite number of ms, got ${String(valueMs)}`);
  }
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`sketch sample count must be a positive integer, got ${String(count)}`);
  }
}

/** In-place insert for builders that own their sketch (sketchOf, and callers that batch). */
function addInto(sketch: MutableSketch, rawValueMs: number, count: number): void {
  checkSample(rawValueMs, count);
  // A negative duration can only be clock skew; 0 is the honest reading of it.
  const valueMs = Math.max(0, rawValueMs);
  if (valueMs < SKETCH_MIN_VALUE_MS) {
    sketch.zeroCount += count;
  } else {
    const key = String(bucketIndex(valueMs));
    const existing = sketch.bins[key];
    sketch.bins[key] = (existing ?? 0) + count;
    if (existing === undefined) collapse(sketch);
  }
  sketch.count += count;
  sketch.sum += valueMs * count;
  sketch.min = sketch.min === null ? valueMs : Math.min(sketch.min, valueMs);
  sketch.max = sketch.max === null ? valueMs : Math.max(sketch.max, valueMs);
}

/**
 * Returns a new sketch with `count` more samples of `valueMs`; the input is not
 * touched, so a sketch held in state can never be changed behind its owner's back.
 * Non-finite values and non-positive counts are caller bugs and throw RangeError.
 * To add many samples at once use `sketchOf` (one copy instead of one per sample).
 */
export function addSample(sketch: Sketch, valueMs: number, count = 1): Sketch {
  const next = copy(sketch);
  addInto(next, valueMs, count);
  return next;
}

/** The sketch of a list of samples, built with a single allocation. */
export function sketchOf(valuesMs: Iterable<number>): Sketch {
  const sketch = copy(createSketch());
  for (const value of valuesMs) addInto(sketch, value, 1);
  return sketch;
}

function minOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function maxOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** A new sketch equal to the sketch of both inputs' samples (up to float rounding of `sum`). */
export function mergeSketch(a: Sketch, b: Sketch): Sketch {
  const merged = copy(a);
  for (const [key, count] of Object.entries(b.bins)) {
    merged.bins[key] = (merged.bins[key] ?? 0) + count;
  }
  collapse(merged);
  merged.zeroCount += b.zeroCount;
  merged.count += b.count;
  merged.sum += b.sum;
  merged.min = minOf(a.min, b.min);
  merged.max = maxOf(a.max, b.max);
  return merged;
}

export function sketchCount(sketch: Sketch): number {
  return sketch.count;
}

export function sketchSum(sketch: Sketch): number {
  return sketch.sum;
}

export function sketchMin(sketch: Sketch): number | null {
  return sketch.min;
}

export function sketchMax(sketch: Sketch): number | null {
  return sketch.max;
}

/** Mean of the samples, or null when there are none. */
export function sketchMean(sketch: Sketch): number | null {
  return sketch.count === 0 ? null : sketch.sum / sketch.count;
}

/**
 * Rank convention (1-based) for the q-quantile of n samples: ceil(q × n), at
 * least 1, i.e. the smallest sample with at least a fraction q of the samples at
 * or below it (the "inverse CDF" definition, type 1 in Hyndman & Fan). q × n is
 * nudged down by a relative 1e-12 first so float noise such as 0.07 × 100 =
 * 7.000000000000001 does not skip a rank.
 */
export function quantileRank(q: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(q * n * (1 - 1e-12))));
}

/**
 * The q-quantile (0 ≤ q ≤ 1) in ms, within α relative error of the exact sample
 * at rank quantileRank(q, count); null for an empty sketch. The answer is clamped
 * into [min, max], which can only move it closer to the true sample. Samples in
 * the zero bucket are reported as 0 (or min when that is above 0).
 */
export function quantile(sketch: Sketch, q: number): number | null {
  if (typeof q !== "number" || !(q >= 0 && q <= 1)) {
    throw new RangeError(`quantile q must be within [0, 1], got ${String(q)}`);
  }
  if (sketch.count === 0 || sketch.min === null || sketch.max === null) return null;
  const rank = quantileRank(q, sketch.count);
  const clamp = (v: number) => Math.min(sketch.max ?? v, Math.max(sketch.min ?? v, v));
  let seen = sketch.zeroCount;
  if (rank <= seen) return clamp(0);
  for (const index of sortedIndexes(sketch.bins)) {
    seen += sketch.bins[String(index)] ?? 0;
    if (rank <= seen) return clamp(bucketValue(index));
  }
  // Only reachable if count disagrees with the bins (a corrupt stored sketch).
  return sketch.max;
}

/**
 * How many samples the sketch reports at or below `valueMs`, judging each bucket
 * by its representative (the same value `quantile` would report), so histogram
 * buckets derived from this agree with the quantiles. Monotone in valueMs.
 */
export function countAtOrBelow(sketch: Sketch, valueMs: number): number {
  let total = valueMs >= 0 ? sketch.zeroCount : 0;
  for (const [key, count] of Object.entries(sketch.bins)) {
    if (bucketValue(Number(key)) <= valueMs) total += count;
  }
  return total;
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function isOptionalFinite(x: unknown): boolean {
  return x === null || (typeof x === "number" && Number.isFinite(x));
}

/**
 * Runtime check for sketches read back from storage or received over RPC, where
 * the static type is only a promise: integer bucket keys, non-negative integer
 * counts that add up to `count`.
 */
export function isSketch(x: unknown): x is Sketch {
  if (typeof x !== "object" || x === null) return false;
  const s = x as Record<string, unknown>;
  if (!isCount(s.zeroCount) || !isCount(s.count) || typeof s.sum !== "number" || !Number.isFinite(s.sum)) return false;
  if (!isOptionalFinite(s.min) || !isOptionalFinite(s.max)) return false;
  if (typeof s.bins !== "object" || s.bins === null || Array.isArray(s.bins)) return false;
  let total = s.zeroCount;
  for (const [key, count] of Object.entries(s.bins)) {
    if (!/^(0|-?[1-9]\d*)$/.test(key) || !isCount(count) || count === 0) return false;
    total += count;
  }
  return total === s.count && (s.count === 0) === (s.min === null) && (s.count === 0) === (s.max === null);
}
