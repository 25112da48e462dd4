/**
 * Active health checking of one instance, modelled on Envoy's health checker:
 * a status moves only after several consecutive probes agree (hysteresis), so a
 * single lost probe does not pull an instance out of rotation and a single lucky
 * one does not put a broken instance back.
 *
 *   healthy/degraded ── `retries` consecutive failures ──▶ unhealthy      (Envoy: unhealthy_threshold)
 *   unhealthy ── `rise` consecutive passes ──▶ healthy or degraded        (Envoy: healthy_threshold)
 *   healthy ⇄ degraded by the recent latency median and failure rate, with a
 *   lower exit threshold than entry threshold so values hovering at the border
 *   do not flip the status on every probe.
 *
 * Pure: the caller (the registry) runs the probe, passes the result and `now`,
 * stores the returned state and forwards the events (alerts, logs).
 */
import type { HealthStatus } from "../balancer/types";
import { failureRate, median, pushBounded, trimBounded } from "./recent-window";

export type ProbeKind = "pass" | "fail" | "timeout";

export interface Probe {
  /** Whether the probe succeeded. A probe passes only when ok is true AND kind is "pass"; any disagreement counts as a failure. */
  readonly ok: boolean;
  /** Round-trip time; null when there was no response (connect error, timeout). */
  readonly latencyMs: number | null;
  readonly kind: ProbeKind;
  readonly error?: string;
}

export interface ActiveCheckState {
  readonly status: HealthStatus;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly lastCheckAt: number | null;
  readonly lastResult: ProbeKind | null;
  readonly lastLatencyMs: number | null;
  readonly lastError: string | null;
  /** Latencies of the last LATENCY_WINDOW passing probes, oldest first. */
  readonly recentLatenciesMs: readonly number[];
  /** Outcomes (true = pass) of the last RESULT_WINDOW probes, oldest first. */
  readonly recentResults: readonly boolean[];
  /**
   * Set by the probe that moved the instance across the unhealthy line: "fell" when it
   * was marked unhealthy, "rose" when it came back; absent otherwise (the next probe
   * clears it). The check interval reads it (check-interval.ts: the edge intervals).
   */
  readonly edge?: "fell" | "rose";
}

export interface ActiveCheckConfig {
  /** Consecutive failures that make an instance unhealthy ("fall"). */
  readonly retries: number;
  /** Consecutive passes that bring an unhealthy instance back. */
  readonly rise: number;
  /** Consecutive failures at which one failure-threshold event (an alert) is emitted. */
  readonly alertThreshold: number;
  /** Median probe latency at or above which an instance is degraded. */
  readonly degradedLatencyMs: number;
  /** Recent failure rate (0..1] at or above which an instance is degraded. */
  readonly degradedErrorRate: number;
}

/** retries and alertThreshold follow the orchestrator's documented health config; the rest are Envoy-like defaults. */
export const DEFAULT_ACTIVE_CHECK_CONFIG: ActiveCheckConfig = {
  retries: 3,
  rise: 2,
  alertThreshold: 2,
  degradedLatencyMs: 2000,
  degradedErrorRate: 0.25,
};

export type HealthEvent =
  | { readonly type: "status-changed"; readonly from: HealthStatus; readonly to: HealthStatus }
  | { readonly type: "failure-threshold"; readonly consecutiveFailures: number }
  | { readonly type: "recovered" };

export interface ProbeOutcome {
  readonly state: ActiveCheckState;
  /** In order: failure-threshold, status-changed, recovered (each at most once). */
  readonly events: HealthEvent[];
}

export const LATENCY_WINDOW = 10;
export const RESULT_WINDOW = 20;
/** Fewer samples than this say too little about latency (one slow cold start) to degrade on. */
export const MIN_LATENCY_SAMPLES = 3;
/** Fewer results than this make a failure rate too coarse (1 of 2 = 50%) to degrade on. */
export const MIN_ERROR_RATE_SAMPLES = 4;
/**
 * Leaving degraded needs both signals below this fraction of their thresholds.
 * The 20% gap absorbs normal jitter around the threshold, so an instance whose
 * latency oscillates at the border settles as degraded instead of flapping.
 */
export const DEGRADED_EXIT_FACTOR = 0.8;

export function initialActiveState(status: HealthStatus = "healthy"): ActiveCheckState {
  return {
    status,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    lastCheckAt: null,
    lastResult: null,
    lastLatencyMs: null,
    lastError: null,
    recentLatenciesMs: [],
    recentResults: [],
  };
}

function isPositiveInteger(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 1;
}

/** Config comes from operators; a zero or fractional threshold would silently disable hysteresis, so it throws. */
export function validateActiveCheckConfig(c: ActiveCheckConfig): string | null {
  if (!isPositiveInteger(c.retries)) return `retries must be a positive integer, got ${String(c.retries)}`;
  if (!isPositiveInteger(c.rise)) return `rise must be a positive integer, got ${String(c.rise)}`;
  if (!isPositiveInteger(c.alertThreshold)) {
    return `alertThreshold must be a positive integer, got ${String(c.alertThreshold)}`;
  }
  if (!(Number.isFinite(c.degradedLatencyMs) && c.degradedLatencyMs > 0)) {
    return `degradedLatencyMs must be a positive number, got ${String(c.degradedLatencyMs)}`;
  }
  if (!(c.degradedErrorRate > 0 && c.degradedErrorRate <= 1)) {
    return `degradedErrorRate must be in (0, 1], got ${String(c.degradedErrorRate)}`;
  }
  return null;
}

/** Persisted counters may be corrupt or from older code; anything but a safe non-negative integer restarts at 0. */
function normalizeCount(n: number): number {
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

function isLatency(x: number | null): x is number {
  return x !== null && Number.isFinite(x) && x >= 0;
}

/**
 * Whether the recent samples are at or above `factor` × the degraded thresholds.
 * factor = 1 is the entry test, DEGRADED_EXIT_FACTOR the test for staying.
 */
function degradedSignal(
  latencies: readonly number[],
  results: readonly boolean[],
  config: ActiveCheckConfig,
  factor: number,
): boolean {
  const latency = median(latencies, MIN_LATENCY_SAMPLES);
  if (latency !== null && latency >= config.degradedLatencyMs * factor) return true;
  const rate = failureRate(results, MIN_ERROR_RATE_SAMPLES);
  return rate !== null && rate >= config.degradedErrorRate * factor;
}

/**
 * Folds one probe result into the state.
 *
 * Only passing probes add to the latency window: a fast 503 would otherwise make
 * a sick instance look quick, and a timeout has no real latency. Failures are
 * accounted for by the failure rate instead.
 *
 * Recovery starts a clean record: when `rise` passes bring an instance back,
 * its result and latency windows keep only that streak of passes, so it returns
 * healthy unless those passes themselves say otherwise (once enough samples
 * exist). The failures it recovered from no longer keep it degraded for the
 * many probes it would take to push them out of the window (20 probes, ten
 * minutes at a 30 s interval). A flapping instance is still kept out: it never
 * makes `rise` passes in a row.
 */
export function applyProbe(
  state: ActiveCheckState,
  probe: Probe,
  now: number,
  config: ActiveCheckConfig = DEFAULT_ACTIVE_CHECK_CONFIG,
): ProbeOutcome {
  const problem = validateActiveCheckConfig(config);
  if (problem !== null) throw new RangeError(`invalid active check config: ${problem}`);
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite ms timestamp, got ${String(now)}`);

  const passed = probe.ok && probe.kind === "pass";
  const previousFailures = normalizeCount(state.consecutiveFailures);
  const consecutiveFailures = passed ? 0 : previousFailures + 1;
  const consecutiveSuccesses = passed ? normalizeCount(state.consecutiveSuccesses) + 1 : 0;
  let recentResults = pushBounded(state.recentResults, passed, RESULT_WINDOW);
  let recentLatenciesMs =
    passed && isLatency(probe.latencyMs)
      ? pushBounded(state.recentLatenciesMs, probe.latencyMs, LATENCY_WINDOW)
      : trimBounded(state.recentLatenciesMs, LATENCY_WINDOW);

  const from = state.status;
  let to: HealthStatus = from;
  if (from === "unhealthy") {
    if (passed && consecutiveSuccesses >= config.rise) {
      // A clean record from the streak that brought it back (see above).
      const streak = Math.min(consecutiveSuccesses, RESULT_WINDOW);
      recentResults = Array.from({ length: streak }, () => true);
      recentLatenciesMs = recentLatenciesMs.slice(-Math.min(consecutiveSuccesses, LATENCY_WINDOW));
      to = degradedSignal(recentLatenciesMs, recentResults, config, 1) ? "degraded" : "healthy";
    }
  } else if (!passed && consecutiveFailures >= config.retries) {
    to = "unhealthy";
  } else if (from === "healthy") {
    if (degradedSignal(recentLatenciesMs, recentResults, config, 1)) to = "degraded";
  } else if (!degradedSignal(recentLatenciesMs, recentResults, config, DEGRADED_EXIT_FACTOR)) {
    to = "healthy";
  }

  const events: HealthEvent[] = [];
  // Crossing rather than equality, so a corrupt stored count cannot re-fire it;
  // the count only grows by one per failure and a pass resets it, hence once per streak.
  if (previousFailures < config.alertThreshold && consecutiveFailures >= config.alertThreshold) {
    events.push({ type: "failure-threshold", consecutiveFailures });
  }
  if (to !== from) events.push({ type: "status-changed", from, to });
  if (from === "unhealthy" && to !== "unhealthy") events.push({ type: "recovered" });

  return {
    state: {
      status: to,
      consecutiveFailures,
      consecutiveSuccesses,
      lastCheckAt: now,
      lastResult: passed ? "pass" : probe.kind === "timeout" ? "timeout" : "fail",
      lastLatencyMs: isLatency(probe.latencyMs) ? probe.latencyMs : null,
      lastError: passed ? null : (probe.error ?? null),
      recentLatenciesMs,
      recentResults,
      ...(from !== "unhealthy" && to === "unhealthy" ? { edge: "fell" as const } : {}),
      ...(from === "unhealthy" && to !== "unhealthy" ? { edge: "rose" as const } : {}),
    },
    events,
  };
}

/** Current median probe latency (null below MIN_LATENCY_SAMPLES), for dashboards. */
export function medianProbeLatencyMs(state: ActiveCheckState): number | null {
  return median(state.recentLatenciesMs, MIN_LATENCY_SAMPLES);
}

/** Current probe failure rate (null below MIN_ERROR_RATE_SAMPLES), for dashboards. */
export function probeFailureRate(state: ActiveCheckState): number | null {
  return failureRate(state.recentResults, MIN_ERROR_RATE_SAMPLES);
}
