/**
 * Rolling per-minute tallies: the last 15 whole minutes plus the current one,
 * enough for 1/5/15-minute throughput (like load averages) and for windowed
 * error rate and latency that alerts need. Memory is fixed at 16 buckets no
 * matter how long the service runs.
 *
 * A window of N minutes is the sliding interval (now − N min, now]. The current
 * minute is partly elapsed, so the oldest bucket it touches is counted in
 * proportion to its overlap (the sliding-window estimate that assumes traffic
 * was even within that minute). This reacts immediately to a change in traffic
 * instead of waiting for a minute to complete, and never jumps at a minute
 * boundary. Latency sketches cannot be pro-rated, so a window's sketch covers
 * every minute it touches (up to N + 1 whole minutes).
 */
import { type Sketch, createSketch, mergeSketch } from "./sketch";
import { type Tally, mergeTally, tallyFailures, tallyRequests } from "./tally";

export const MINUTE_MS = 60_000;
/** Whole minutes kept before the current one: the longest window is 15 minutes. */
export const WINDOW_HISTORY_MINUTES = 15;

export interface MinuteBucket {
  /** floor(epoch ms / 60 000). */
  readonly minute: number;
  readonly tally: Tally;
}

export interface Windows {
  /** Ascending by minute, at most WINDOW_HISTORY_MINUTES + 1 buckets, all within the kept range. */
  readonly minutes: readonly MinuteBucket[];
}

export interface WindowStats {
  readonly minutes: number;
  /** Requests in the window; fractional because the oldest minute is pro-rated. */
  readonly requests: number;
  /** 5xx + gateway. */
  readonly failures: number;
  readonly clientErrors: number;
  /** failures / requests × 100; 0 when there were no requests. */
  readonly errorRatePercent: number;
  readonly throughputRps: number;
  /** Durations of every minute the window touches. */
  readonly sketch: Sketch;
}

export interface Throughput {
  readonly m1: number;
  readonly m5: number;
  readonly m15: number;
}

export function createWindows(): Windows {
  return { minutes: [] };
}

export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}

function checkNow(now: number): void {
  if (typeof now !== "number" || !Number.isFinite(now)) throw new RangeError(`now must be finite ms, got ${String(now)}`);
}

/**
 * Drops minutes older than the kept range, and also minutes after the current
 * one: those only exist if the clock stepped back, and keeping them would break
 * the fixed bound. Their requests stay in the lifetime totals.
 */
export function rollWindows(windows: Windows, now: number): Windows {
  checkNow(now);
  const current = minuteOf(now);
  const kept = windows.minutes.filter((b) => b.minute >= current - WINDOW_HISTORY_MINUTES && b.minute <= current);
  return kept.length === windows.minutes.length ? windows : { minutes: kept };
}

function insert(minutes: readonly MinuteBucket[], minute: number, tally: Tally): MinuteBucket[] {
  const result: MinuteBucket[] = [];
  let placed = false;
  for (const b of minutes) {
    if (!placed && b.minute === minute) {
      result.push({ minute, tally: mergeTally(b.tally, tally) });
      placed = true;
    } else {
      if (!placed && b.minute > minute) {
        result.push({ minute, tally });
        placed = true;
      }
      result.push(b);
    }
  }
  if (!placed) result.push({ minute, tally });
  return result;
}

/**
 * Adds an entry to the minute of its last record (clamped to now, so a skewed
 * edge clock cannot book requests in the future). An entry older than the kept
 * range is not windowed; it still counts in the lifetime totals.
 */
export function addToWindows(windows: Windows, entry: { readonly lastAt: number; readonly tally: Tally }, now: number): Windows {
  const rolled = rollWindows(windows, now);
  const at = Number.isFinite(entry.lastAt) ? Math.min(entry.lastAt, now) : now;
  const minute = minuteOf(at);
  if (minute < minuteOf(now) - WINDOW_HISTORY_MINUTES) return rolled;
  return { minutes: insert(rolled.minutes, minute, entry.tally) };
}

/** Minute-by-minute sum, e.g. the instances of a service. */
export function mergeWindows(a: Windows, b: Windows): Windows {
  let minutes: MinuteBucket[] = [...a.minutes];
  for (const bucket of b.minutes) minutes = insert(minutes, bucket.minute, bucket.tally);
  return { minutes };
}

function checkMinutes(minutes: number): void {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > WINDOW_HISTORY_MINUTES) {
    throw new RangeError(`window must be 1..${WINDOW_HISTORY_MINUTES} whole minutes, got ${String(minutes)}`);
  }
}

/** The buckets a window touches, each with the share of it that lies inside (now − N min, now]. */
function weighted(windows: Windows, now: number, minutes: number): { bucket: MinuteBucket; weight: number }[] {
  checkNow(now);
  checkMinutes(minutes);
  const current = minuteOf(now);
  const oldest = current - minutes;
  const oldestWeight = (MINUTE_MS - (now - current * MINUTE_MS)) / MINUTE_MS;
  const out: { bucket: MinuteBucket; weight: number }[] = [];
  for (const bucket of windows.minutes) {
    if (bucket.minute < oldest || bucket.minute > current) continue;
    const weight = bucket.minute === oldest ? oldestWeight : 1;
    if (weight > 0) out.push({ bucket, weight });
  }
  return out;
}

/** Stats over the last `minutes` (an integer 1..15) minutes ending at now. */
export function windowStats(windows: Windows, now: number, minutes: number): WindowStats {
  let requests = 0;
  let failures = 0;
  let clientErrors = 0;
  let sketch = createSketch();
  for (const { bucket, weight } of weighted(windows, now, minutes)) {
    requests += weight * tallyRequests(bucket.tally);
    failures += weight * tallyFailures(bucket.tally);
    clientErrors += weight * bucket.tally.counts["4xx"];
    sketch = mergeSketch(sketch, bucket.tally.sketch);
  }
  return {
    minutes,
    requests,
    failures,
    clientErrors,
    errorRatePercent: requests > 0 ? (failures / requests) * 100 : 0,
    throughputRps: requests / (minutes * 60),
    sketch,
  };
}

/** Requests per second over the last 1, 5 and 15 minutes (no sketch merging: counts only). */
export function throughput(windows: Windows, now: number): Throughput {
  const rps = (minutes: number) =>
    weighted(windows, now, minutes).reduce((sum, { bucket, weight }) => sum + weight * tallyRequests(bucket.tally), 0) / (minutes * 60);
  return { m1: rps(1), m5: rps(5), m15: rps(15) };
}
