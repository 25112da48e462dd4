/**
 * MetricsDO's RPC contract: what the Worker (routes, dashboard) gets back from
 * it. The object implements it (durable-objects/metrics); the Worker reaches it
 * through the typed stub (platform/stubs.ts).
 */
import type { AlertHistory } from "../core/alerts/history";
import type { AlertStatus } from "../core/alerts/pipeline";
import type { Silence } from "../core/alerts/silences";
import type { MetricsView } from "../core/metrics/view";
import type { AutoscaleView, InstanceHealthEvent, RegistrySnapshot } from "./registry";

export interface LoopStatus {
  readonly lastSweepAt: number | null;
  readonly lastSweepProbed: number;
  /** How long the last sweep took, probes included (a sweep must fit in one interval). */
  readonly lastSweepDurationMs: number | null;
  readonly consecutiveSweepFailures: number;
  readonly consecutiveAlertFailures: number;
  readonly recentEvents: readonly InstanceHealthEvent[];
}

export interface AlertsView {
  readonly active: readonly AlertStatus[];
  readonly history: AlertHistory;
  readonly outbox: { readonly pending: number; readonly delivered: number; readonly deadLettered: number; readonly dropped: number };
}

/** What the dashboard shows; sent on connect and pushed on every change. */
export interface DashboardState {
  readonly type: "snapshot";
  readonly generatedAt: string;
  readonly environment: string;
  readonly services: RegistrySnapshot["services"];
  readonly metrics: MetricsView;
  readonly alerts: AlertsView;
  readonly autoscaling: readonly AutoscaleView[];
  readonly loop: LoopStatus;
}

export type SilenceResult = { readonly ok: true; readonly silence: Silence } | { readonly ok: false; readonly error: string };
