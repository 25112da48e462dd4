/**
 * Passive outlier detection (Envoy's consecutive_gateway_failure): an instance
 * whose real requests keep failing with gateway errors is ejected from rotation
 * for a while, before the active check (30 s interval, 3 retries) would notice.
 * Each repeat ejection lasts longer, so a persistently bad instance spends most
 * of its time out, while a one-off blip costs only the base time.
 *
 * Pure: the registry records outcomes, counts ejected instances per service for
 * mayEject, and the balancer skips instances for which isEjected is true.
 */

export interface OutlierState {
  /** Gateway failures (5xx, timeout, connect failure) since the last success. */
  readonly consecutiveGatewayFailures: number;
  /** Ejection multiplier: grows by one per ejection, decays by one per clean interval. */
  readonly ejectionCount: number;
  /** Ejected while now < ejectedUntil; null when not ejected (or readmitted). */
  readonly ejectedUntil: number | null;
}

export interface OutlierConfig {
  readonly consecutiveFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** Upper bound on the share of a service's instances ejected at once; see mayEject. */
  readonly maxEjectionPercent: number;
}

/** Envoy's defaults. */
export const DEFAULT_OUTLIER_CONFIG: OutlierConfig = {
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 10,
};

export const initialOutlierState: OutlierState = { consecutiveGatewayFailures: 0, ejectionCount: 0, ejectedUntil: null };

export interface OutlierOutcome {
  /** A gateway failure: 5xx, timeout or connect failure. 4xx are the client's fault and count as success. */
  readonly gatewayFailure: boolean;
}

export interface RecordResult {
  readonly state: OutlierState;
  /** True only on the call that started an ejection. */
  readonly ejected: boolean;
}

export function validateOutlierConfig(c: OutlierConfig): string | null {
  if (!(Number.isSafeInteger(c.consecutiveFailures) && c.consecutiveFailures >= 1)) {
    return `consecutiveFailures must be a positive integer, got ${String(c.consecutiveFailures)}`;
  }
  if (!(Number.isFinite(c.baseEjectionMs) && c.baseEjectionMs > 0)) {
    return `baseEjectionMs must be a positive number, got ${String(c.baseEjectionMs)}`;
  }
  if (!(Number.isFinite(c.maxEjectionMs) && c.maxEjectionMs > 0)) {
    return `maxEjectionMs must be a positive number, got ${String(c.maxEjectionMs)}`;
  }
  return null;
}

function normalizeCount(n: number): number {
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export function isEjected(state: OutlierState, now: number): boolean {
  return state.ejectedUntil !== null && now < state.ejectedUntil;
}

/**
 * Envoy's cap: fewer than max(1, floor(total × pct / 100)) instances may be
 * ejected at once, so passive detection can never empty a service (beyond the
 * one instance always allowed, which keeps small services protected too).
 * A non-finite or negative percentage is treated as 0, leaving just that one.
 */
export function mayEject(totalInstances: number, currentlyEjected: number, maxEjectionPercent: number): boolean {
  if (!(totalInstances >= 1)) return false;
  const pct = Number.isFinite(maxEjectionPercent) ? Math.max(0, maxEjectionPercent) : 0;
  const cap = Math.max(1, Math.floor((totalInstances * pct) / 100));
  return currentlyEjected < cap;
}

/**
 * Past this multiplier the ejection is already at maxEjectionMs, so counting
 * higher would only make the decay back to zero take longer without changing any
 * duration; capping keeps recovery from a long bad spell bounded.
 */
function multiplierCap(config: OutlierConfig): number {
  return Math.max(1, Math.ceil(config.maxEjectionMs / config.baseEjectionMs));
}

/**
 * Records one real request's outcome.
 *
 * - Success resets the consecutive counter.
 * - A failure that brings the counter to the threshold ejects for
 *   min(base × (ejectionCount + 1), max) when `ejectionAllowed` (from mayEject);
 *   if not allowed, the counter keeps growing, so the next failure after the cap
 *   frees up ejects at once.
 * - While ejected, outcomes are ignored: they come from requests routed before the
 *   ejection (or in panic mode), and counting them would queue a second ejection
 *   the moment the first one ends.
 * - An ejection whose time has passed is cleared here too (as readmit would).
 */
export function recordOutcome(
  state: OutlierState,
  outcome: OutlierOutcome,
  now: number,
  config: OutlierConfig,
  ejectionAllowed: boolean,
): RecordResult {
  const problem = validateOutlierConfig(config);
  if (problem !== null) throw new RangeError(`invalid outlier config: ${problem}`);
  if (isEjected(state, now)) return { state, ejected: false };

  const ejectionCount = normalizeCount(state.ejectionCount);
  if (!outcome.gatewayFailure) {
    return { state: { consecutiveGatewayFailures: 0, ejectionCount, ejectedUntil: null }, ejected: false };
  }
  const failures = normalizeCount(state.consecutiveGatewayFailures) + 1;
  if (failures < config.consecutiveFailures || !ejectionAllowed) {
    return { state: { consecutiveGatewayFailures: failures, ejectionCount, ejectedUntil: null }, ejected: false };
  }
  return ejection(ejectionCount, now, config);
}

/** An ejection for min(base × (ejectionCount + 1), max), the multiplier capped. */
function ejection(ejectionCount: number, now: number, config: OutlierConfig): RecordResult {
  const multiplier = Math.min(ejectionCount + 1, multiplierCap(config));
  const durationMs = Math.min(config.baseEjectionMs * multiplier, config.maxEjectionMs);
  return {
    state: { consecutiveGatewayFailures: 0, ejectionCount: multiplier, ejectedUntil: now + durationMs },
    ejected: true,
  };
}

/**
 * A connection the instance refused (or reset), reported by an edge isolate
 * that has stopped sending to it: ejected at once, as the threshold would
 * (same duration and multiplier, same cap through `ejectionAllowed`), since
 * the isolate will not send the further failures that count toward it.
 * Envoy's local-origin outlier detection treats such failures apart from
 * 5xx answers in the same spirit.
 */
export function ejectOnRefusal(state: OutlierState, now: number, config: OutlierConfig, ejectionAllowed: boolean): RecordResult {
  const problem = validateOutlierConfig(config);
  if (problem !== null) throw new RangeError(`invalid outlier config: ${problem}`);
  if (isEjected(state, now) || !ejectionAllowed) return { state, ejected: false };
  return ejection(normalizeCount(state.ejectionCount), now, config);
}

/**
 * Ends an ejection; call when an active check passes after ejectedUntil (the
 * caller decides when). The multiplier is deliberately kept: an instance that
 * fails again soon after coming back should stay out longer. It only decays via
 * decayEjectionCount.
 */
export function readmit(state: OutlierState): OutlierState {
  return {
    consecutiveGatewayFailures: 0,
    ejectionCount: normalizeCount(state.ejectionCount),
    ejectedUntil: null,
  };
}

/**
 * Envoy's decay: once per detection interval in which the instance is not
 * ejected, the multiplier drops by one. The registry calls this once per health
 * sweep (30 s), so after its maximum (10 with the defaults) an instance needs
 * about 5 clean minutes to be back at the base ejection time.
 */
export function decayEjectionCount(state: OutlierState, now: number): OutlierState {
  const count = normalizeCount(state.ejectionCount);
  if (isEjected(state, now) || count === 0) return state;
  return { ...state, ejectionCount: count - 1 };
}
