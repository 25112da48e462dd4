/**
 * Bounded sample windows kept in persisted health state, and the two statistics
 * the active check reads from them. Arrays rather than a ring buffer with a head
 * index: the windows are tiny (10–20 entries) and a plain array survives
 * JSON/structured-clone storage without a separate cursor that could go stale.
 */

/**
 * Appends `value` and keeps only the newest `limit` entries. Also trims windows
 * persisted by an older version with a larger bound, so state never grows.
 */
export function pushBounded<T>(window: readonly T[], value: T, limit: number): T[] {
  const next = [...window, value];
  return next.length > limit ? next.slice(next.length - limit) : next;
}

/** Keeps only the newest `limit` entries (used when a window is carried over unchanged). */
export function trimBounded<T>(window: readonly T[], limit: number): T[] {
  return window.length > limit ? window.slice(window.length - limit) : [...window];
}

/**
 * Median of the samples, or null below `minSamples`. The median rather than the
 * mean so one cold-start or GC-paused probe cannot by itself mark an instance
 * degraded. Even counts average the two middle samples.
 */
export function median(samples: readonly number[], minSamples: number): number | null {
  if (samples.length === 0 || samples.length < minSamples) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid];
  const lower = sorted[sorted.length % 2 === 0 ? mid - 1 : mid];
  if (upper === undefined || lower === undefined) return null;
  return (lower + upper) / 2;
}

/**
 * Fraction of failed results (false entries), or null below `minSamples`:
 * one failure out of two probes is 50% but says little, so short windows do not
 * count as evidence.
 */
export function failureRate(results: readonly boolean[], minSamples: number): number | null {
  if (results.length === 0 || results.length < minSamples) return null;
  let failures = 0;
  for (const ok of results) if (!ok) failures++;
  return failures / results.length;
}
