/**
 * MetricsDO's RPC contract: what the Worker (routes, dashboard) gets back from
 * it. The object implements it (durable-objects/metrics); the Worker reaches it
 * through the typed stub (platform/stubs.ts).
 */
import type { AlertHistory } from "../core/alerts/history";
import type { AlertStatus } from "../core/alerts/pipeline";
import type { Silence } from "../core/alerts/silences";
import type { MetricsView } from "../core/metrics/view";
import type { AutoscaleView, InstanceHealthEvent, RegistrySnapshot, ReleaseSummary } from "./registry";

/** One vantage point's part in a sweep, summed over the sweep's rounds (one per shard with instances due). */
export interface VantagePointStats {
  readonly name: string;
  /** Rounds it sent its batch for in time. */
  readonly answered: number;
  /** Rounds that closed without its batch. */
  readonly missing: number;
  /** Rounds where every probe it made failed while another vantage point got through: its votes did not count. */
  readonly discounted: number;
  readonly probes: number;
  readonly failed: number;
}

/** The last sweep that probed something and whose rounds have all been decided, aggregated over its shards and vantage points. */
export interface CompletedSweep {
  readonly at: number;
  /** Instances handed out. */
  readonly probed: number;
  /** Shards with instances due: each one round at every vantage point. */
  readonly rounds: number;
  /** Instances with a verdict (pass, fail or split). */
  readonly decided: number;
  /** RegistryDO calls the sweep cost: one healthTargets, plus one applyProbeResults per round decided with results. */
  readonly registryCalls: number;
  /** From the sweep's start to its last round's decision. */
  readonly durationMs: number;
  readonly vantagePoints: readonly VantagePointStats[];
}

export interface LoopStatus {
  /** When the last sweep started (handed its rounds out). */
  readonly lastSweepAt: number | null;
  /** Instances the last sweep handed out to probers. */
  readonly lastSweepProbed: number;
  /** From start to last decision of the latest completed sweep that probed something (a sweep must fit in one interval). */
  readonly lastSweepDurationMs: number | null;
  /** The shard count the fleet was sized to at the last sweep (probers per vantage point). */
  readonly lastSweepShards: number;
  /** Shards that had instances due in the last sweep. */
  readonly lastSweepRounds: number;
  /** Where probes run from (HEALTH_CHECK_VANTAGE_POINTS; "local" when none is set). */
  readonly vantagePoints: readonly string[];
  /** Instances handed out whose round has not been decided yet. */
  readonly probesInFlight: number;
  readonly lastCompletedSweep: CompletedSweep | null;
  readonly consecutiveSweepFailures: number;
  readonly consecutiveAlertFailures: number;
  readonly recentEvents: readonly InstanceHealthEvent[];
}

export interface AlertsView {
  readonly active: readonly AlertStatus[];
  readonly history: AlertHistory;
  readonly outbox: { readonly pending: number; readonly delivered: number; readonly deadLettered: number; readonly dropped: number };
}

/** What the dashboard shows (GET /admin/dashboard/state); the live socket sends a leaner view of it, as a snapshot and then deltas (src/core/dashboard). */
export interface DashboardState {
  readonly type: "snapshot";
  readonly generatedAt: string;
  readonly environment: string;
  readonly services: RegistrySnapshot["services"];
  readonly metrics: MetricsView;
  readonly alerts: AlertsView;
  readonly autoscaling: readonly AutoscaleView[];
  /** Each service's newest release while it runs or is paused, and for an hour after it ended; by service name. */
  readonly releases: readonly ReleaseSummary[];
  readonly loop: LoopStatus;
}

export type SilenceResult = { readonly ok: true; readonly silence: Silence } | { readonly ok: false; readonly error: string };
