/**
 * The autoscaler's memory between evaluations, as HPA keeps it per target:
 * recent recommendations (for the stabilization windows) and recent scale
 * events (for the per-15 s rate limits). Kept bounded so it can be persisted
 * with the service (e.g. in Durable Object storage) on every evaluation.
 *
 * Bounds:
 * - recommendations older than the longer stabilization window are dropped,
 *   and only the newest recommendation of each value is kept. That loses
 *   nothing: windows are suffixes of time, so any window holding an older
 *   equal value also holds the newer one, and min/max are unchanged. Stored
 *   values are capped at MAX_INSTANCES_LIMIT (harmless, every policy clamps
 *   there anyway), so at most 501 entries exist however often evaluate runs.
 * - scale events older than the 15 s rate period are dropped; beyond
 *   MAX_SCALE_EVENTS (only reachable by evaluating many times a second) the
 *   oldest event is folded into a later one of the same direction, keeping the
 *   later time. That only makes the rate limit stricter, never looser.
 *
 * Timestamps after `now` (the clock moved back) are pulled to `now`: treating
 * them as just recorded is conservative for both windows and lets them age out.
 * Entries that are not finite (corrupt storage) are dropped.
 */
import { MAX_INSTANCES_LIMIT } from "./policy";

export interface TimedRecommendation {
  readonly at: number;
  /** The metrics' recommendation before clamping (capped at MAX_INSTANCES_LIMIT). */
  readonly desired: number;
}

export interface ScaleEvent {
  readonly at: number;
  /** Instances added (> 0) or removed (< 0). */
  readonly delta: number;
}

export interface AutoscaleState {
  readonly recommendations: readonly TimedRecommendation[];
  readonly scaleEvents: readonly ScaleEvent[];
  readonly lastEvaluatedAt: number | null;
}

export const INITIAL_AUTOSCALE_STATE: AutoscaleState = { recommendations: [], scaleEvents: [], lastEvaluatedAt: null };

/** HPA's fixed policy period for the default rate limits. */
export const RATE_PERIOD_MS = 15_000;

export const MAX_SCALE_EVENTS = 64;

/** An entry still counts at `now` when at > now − windowMs (HPA: timestamp.After(cutoff)). */
export function inWindow(at: number, now: number, windowMs: number): boolean {
  return at > now - windowMs;
}

function sanitize<T extends { readonly at: number }>(entries: readonly T[], value: (e: T) => number, now: number, keepMs: number): T[] {
  const out: T[] = [];
  for (const e of entries) {
    if (!Number.isFinite(e.at) || !Number.isFinite(value(e))) continue;
    const entry = e.at > now ? { ...e, at: now } : e;
    if (inWindow(entry.at, now, keepMs)) out.push(entry);
  }
  return out;
}

/** The state with everything outside its window (or corrupt) dropped. */
export function pruneState(state: AutoscaleState, now: number, recommendationWindowMs: number): AutoscaleState {
  return {
    recommendations: sanitize(state.recommendations, (r) => r.desired, now, recommendationWindowMs),
    scaleEvents: sanitize(state.scaleEvents, (e) => e.delta, now, RATE_PERIOD_MS),
    lastEvaluatedAt: state.lastEvaluatedAt,
  };
}

/** Appends a recommendation at `now` (≥ every stored time), dropping older entries of the same value. */
export function withRecommendation(recs: readonly TimedRecommendation[], now: number, desired: number): TimedRecommendation[] {
  const value = Math.min(desired, MAX_INSTANCES_LIMIT);
  return [...recs.filter((r) => r.desired !== value), { at: now, desired: value }];
}

/** Folds the oldest event that has a later one of the same direction into it; false if none has. */
function foldOldest(events: ScaleEvent[]): boolean {
  for (let i = 0; i < events.length; i++) {
    const older = events[i];
    for (let j = i + 1; j < events.length; j++) {
      const later = events[j];
      if (older === undefined || later === undefined || Math.sign(later.delta) !== Math.sign(older.delta)) continue;
      events[j] = { at: Math.max(older.at, later.at), delta: older.delta + later.delta };
      events.splice(i, 1);
      return true;
    }
  }
  return false;
}

/** Appends a scale event, folding the oldest ones together past MAX_SCALE_EVENTS. */
export function withScaleEvent(events: readonly ScaleEvent[], now: number, delta: number): ScaleEvent[] {
  const out = [...events, { at: now, delta }];
  // foldOldest always succeeds here: more than two events cannot all differ in direction.
  while (out.length > MAX_SCALE_EVENTS) {
    if (!foldOldest(out)) break;
  }
  return out;
}

/** Instances added and removed by the events of the current 15 s period. */
export function changeInPeriod(events: readonly ScaleEvent[], now: number): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const e of events) {
    if (!inWindow(e.at, now, RATE_PERIOD_MS)) continue;
    if (e.delta > 0) added += e.delta;
    else removed -= e.delta;
  }
  return { added, removed };
}
