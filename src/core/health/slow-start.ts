/**
 * Slow start (Envoy's slow_start_config): an instance that just entered rotation
 * (registered, recovered or readmitted) gets a reduced share of traffic that
 * grows over a window, so cold caches, JITs and connection pools warm up on a
 * trickle instead of a full share all at once.
 */

export const DEFAULT_SLOW_START_WINDOW_MS = 30_000;
export const DEFAULT_MIN_WEIGHT_FRACTION = 0.1;
/**
 * The fraction never goes below this, whatever the caller passes: a zero weight
 * would starve the instance entirely, and then it would never warm up.
 */
export const MIN_WEIGHT_FRACTION_FLOOR = 0.01;

/** Same fallback as the weighted strategy: an unusable operator weight counts as 1. */
function sanitizeWeight(weight: number): number {
  return Number.isFinite(weight) && weight > 0 ? weight : 1;
}

/**
 * Weight to use at `now` for an instance in rotation since `inRotationSince`.
 *
 * Linear from minFraction × weight at the start to weight at the end of the
 * window. (Envoy with aggression 1 is max(elapsed / window, minFraction), flat
 * for the first tenth; the linear ramp starts growing at once and is continuous
 * at both ends.) Full weight when since is null, the window is over or not
 * positive, or a timestamp is not finite. A `since` in the future (clock skew
 * between writers) counts as "just entered". Not an integer: see scaledWeights.
 */
export function effectiveWeight(
  weight: number,
  inRotationSince: number | null,
  now: number,
  windowMs: number = DEFAULT_SLOW_START_WINDOW_MS,
  minFraction: number = DEFAULT_MIN_WEIGHT_FRACTION,
): number {
  const w = sanitizeWeight(weight);
  if (inRotationSince === null || !Number.isFinite(inRotationSince) || !Number.isFinite(now)) return w;
  if (!(Number.isFinite(windowMs) && windowMs > 0)) return w;
  const elapsed = Math.max(0, now - inRotationSince);
  if (elapsed >= windowMs) return w;
  const floor = Number.isNaN(minFraction) ? DEFAULT_MIN_WEIGHT_FRACTION : minFraction;
  const start = Math.min(1, Math.max(MIN_WEIGHT_FRACTION_FLOOR, floor));
  const fraction = start + (1 - start) * (elapsed / windowMs);
  return w * Math.min(1, fraction);
}

export const DEFAULT_WEIGHT_SCALE = 100;

/**
 * Turns one fractional weight into a positive integer: weight × scale, rounded,
 * at least 1 so a ramping instance still gets picked.
 */
export function scaleWeight(weight: number, scale: number = DEFAULT_WEIGHT_SCALE): number {
  const s = Number.isFinite(scale) && scale > 0 ? scale : DEFAULT_WEIGHT_SCALE;
  const scaled = Math.round(sanitizeWeight(weight) * s);
  return Number.isSafeInteger(scaled) ? Math.max(1, scaled) : Number.MAX_SAFE_INTEGER;
}

/**
 * Integer weights for smooth weighted round-robin, which works on integers and
 * keeps running sums in persisted state. Scale every instance's weight, ramping
 * or not, on every pick: mixing scaled and unscaled weights between picks would
 * distort the persisted current weights for a while.
 */
export function scaledWeights(weights: readonly number[], scale: number = DEFAULT_WEIGHT_SCALE): number[] {
  return weights.map((w) => scaleWeight(w, scale));
}
