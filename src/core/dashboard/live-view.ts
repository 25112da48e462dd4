/**
 * The live dashboard's view of the fleet: what the page shows, and nothing
 * else, built from the full dashboard state (GET /admin/dashboard/state).
 *
 * Why a view of its own: the full state is about 360 KB at 500 instances, and
 * most of it changes on every push without the page showing it (each
 * instance's last probe time and latency, heartbeat times, per-instance
 * latency sketches, 500 notifications of alert history). The view keeps what
 * an operator reads (status, counts, rates, errors), so that a push carries
 * only what really changed (delta.ts), keyed so that one instance changing
 * sends one instance.
 *
 * Encoding: records keyed by service name (services and their releases),
 * instance id and alert fingerprint (own properties only: names like
 * "__proto__" are ordinary keys); optional
 * members are left out at their usual value (0 open WebSockets, no error), so
 * the common entry is short. Pure: `now` is passed in.
 */
import type { AlertHistory } from "../alerts/history";
import type { AlertStatus } from "../alerts/pipeline";
import type { AutoscalePolicy, DecisionLog } from "../autoscale";
import type { HealthStatus } from "../balancer/types";
import type { ServiceStatus } from "../instance-health";
import type { MetricsView, StatsView } from "../metrics/view";
import { own, setOwn } from "../metrics/own";
import type { InstanceAdminState } from "../registry/records";
import type { SideNumbers, ThresholdCheck, Verdict } from "../release/analysis";
import type { ReleaseState, TransitionKind } from "../release/release";
import type { AnalysisSpec } from "../release/spec";

// ------------------------------------------------------------------ what the view is built from

/** The parts of one instance the view reads (InstanceView in contracts/registry.ts has them all). */
export interface SourceInstance {
  readonly id: string;
  readonly service: string;
  readonly target: { readonly kind: "url"; readonly url: string } | { readonly kind: "binding"; readonly binding: string };
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly adminState: InstanceAdminState;
  readonly pool: boolean;
  readonly health: HealthStatus;
  readonly checkStatus: "passing" | "critical";
  readonly inflight: number;
  readonly websockets: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly version: string | null;
  /** lastError is read defensively: a string today, perhaps a classified object ({ class, message, traceId }) later. */
  readonly activeCheck: { readonly lastResult: "pass" | "fail" | "timeout" | null; readonly lastError: unknown };
  readonly ejectedUntil: string | null;
}

export interface SourceService {
  readonly name: string;
  readonly strategy: string;
  readonly adminState: "active" | "stopped";
  readonly status: ServiceStatus;
  readonly panic: boolean;
  readonly inflight: number;
  readonly instances: readonly SourceInstance[];
}

export interface SourceAutoscale {
  readonly service: string;
  readonly policy: AutoscalePolicy | null;
  readonly current: number;
  readonly standby: number;
  readonly log: DecisionLog;
}

export interface SourceLoop {
  readonly lastSweepAt: number | null;
  readonly lastSweepProbed: number;
  readonly lastSweepShards: number;
  readonly vantagePoints: readonly string[];
  readonly lastCompletedSweep: { readonly vantagePoints: readonly { readonly name: string; readonly discounted: number }[] } | null;
  readonly consecutiveSweepFailures: number;
  readonly consecutiveAlertFailures: number;
}

/** A release as the registry summarises it for the dashboard (ReleaseSummary in contracts/registry.ts), as far as the view reads it. */
export interface SourceRelease {
  readonly id: string;
  readonly service: string;
  readonly version: string;
  readonly state: ReleaseState;
  readonly dryRun: boolean;
  readonly stepIndex: number;
  readonly weightPercent: number;
  readonly spec: { readonly steps: readonly number[]; readonly stepIntervalSeconds: number; readonly analysis: AnalysisSpec };
  readonly stepStartedAt: string;
  readonly judgeAt: string | null;
  readonly pausedBy: "operator" | "controller" | null;
  readonly endedAt: string | null;
  readonly analysis: {
    readonly verdict: Verdict;
    readonly windowStartedAt: string;
    readonly canary: SideNumbers;
    readonly stable: SideNumbers;
    readonly checks: readonly ThresholdCheck[];
    readonly reason: string;
  } | null;
  /** The newest few, oldest first. */
  readonly history: readonly { readonly at: string; readonly kind: TransitionKind; readonly to: ReleaseState; readonly stepIndex: number; readonly weightPercent: number; readonly actor: string; readonly detail: string }[];
  readonly transitions: number;
}

/** The full dashboard state (DashboardState in contracts/metrics.ts), as far as the view reads it. */
export interface ViewSource {
  readonly environment: string;
  readonly services: readonly SourceService[];
  readonly metrics: Pick<MetricsView, "global" | "workers">;
  readonly alerts: { readonly active: readonly AlertStatus[]; readonly history: AlertHistory };
  readonly autoscaling: readonly SourceAutoscale[];
  readonly releases: readonly SourceRelease[];
  readonly loop: SourceLoop;
}

// ------------------------------------------------------------------ the view

/** Traffic numbers: lifetime totals, the 1-minute rate, and the 5-minute window the table and charts show. */
export interface LiveStats {
  readonly requests: number;
  /** Requests per second over the last minute. */
  readonly rps: number;
  /** Lifetime error rate, percent. */
  readonly errorRate: number;
  /** Over the last 5 minutes: error rate (percent) and latency percentiles (ms). */
  readonly recent: { readonly errorRate: number; readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
}

export interface LiveGlobal extends LiveStats {
  readonly inflight: number;
  readonly websockets: number;
}

/** A service; its name is its key in LiveView.services. */
export interface LiveService extends LiveStats {
  readonly status: ServiceStatus;
  readonly admin: "active" | "stopped";
  readonly strategy: string;
  /** In flight, open WebSocket connections included. */
  readonly inflight: number;
  /** Open WebSocket connections; left out when none. */
  readonly websockets?: number;
  /** Left out unless the service is in panic mode. */
  readonly panic?: true;
}

/** An instance's last probe error: a string, or a classified error when the probe reports one. */
export type LiveError = string | { readonly class?: string; readonly message: string; readonly traceId?: string };

/** An instance; its id is its key in LiveView.instances. Members at their usual value are left out. */
export interface LiveInstance {
  readonly service: string;
  /** The URL, or "binding:NAME" for a service binding. */
  readonly target: string;
  readonly health: HealthStatus;
  /** Left out when "active". */
  readonly admin?: "stopped" | "standby";
  /** In flight, open WebSocket connections included; left out when 0. */
  readonly inflight?: number;
  /** Open WebSocket connections; left out when none. */
  readonly websockets?: number;
  /** The last active probe's result; left out until the first probe. */
  readonly check?: "pass" | "fail" | "timeout";
  /** The last probe error; left out when there is none. */
  readonly error?: LiveError;
  /** Epoch ms; present only while passive outlier detection keeps it out of rotation. */
  readonly ejectedUntil?: number;
  /** Present when its TTL heartbeat has lapsed. */
  readonly heartbeat?: "critical";
  /** metadata.name, when it has one. */
  readonly name?: string;
  /** Left out when 1. */
  readonly weight?: number;
  /**
   * Present while slow start ramps its weight up. The ramped weight itself is not sent: it
   * changes on every push for the whole window, for every instance that just joined.
   */
  readonly warming?: true;
  /** A standby (autoscaling pool) instance. */
  readonly pool?: true;
  /** The version it declared; left out when it declared none. */
  readonly version?: string;
}

/** An active or suppressed alert; its fingerprint is its key in LiveView.alerts. */
export interface LiveAlert {
  readonly state: "active" | "suppressed";
  /** Why a suppressed alert is not notified. */
  readonly why?: "silenced" | "inhibited";
  readonly name: string;
  readonly severity?: string;
  readonly service?: string;
  readonly instance?: string;
  readonly summary: string;
  readonly startsAt: number;
}

export interface LiveNotification {
  readonly at: number;
  readonly status: "firing" | "resolved";
  readonly groupKey: string;
  /** The first few alerts of the notification (see `more`). */
  readonly alerts: readonly { readonly name: string; readonly status: "firing" | "resolved"; readonly service?: string; readonly instance?: string }[];
  /** Alerts of the notification not listed. */
  readonly more?: number;
  /** The first alert's summary. */
  readonly summary?: string;
}

export interface LiveHistory {
  /** Newest first, at most HISTORY_SHOWN. */
  readonly entries: readonly LiveNotification[];
  /** Notifications in the stored history (the rest are not sent). */
  readonly total: number;
  /** Notifications pushed out of the stored history by its limit. */
  readonly dropped: number;
}

export interface LiveDecision {
  readonly at: number;
  readonly action: string;
  readonly current: number;
  readonly desired: number;
  readonly metrics: readonly { readonly metric: string; readonly observed: number | null; readonly target: number }[];
  readonly limitedBy: readonly string[];
}

export interface LiveAutoscale {
  readonly service: string;
  readonly current: number;
  readonly standby: number;
  /** null when the policy was removed (its log is still shown). */
  readonly policy: { readonly mode: string; readonly min: number; readonly max: number } | null;
  /** Newest first, at most DECISIONS_SHOWN. */
  readonly decisions: readonly LiveDecision[];
}

export interface LiveLoop {
  readonly lastSweepAt: number | null;
  readonly probed: number;
  readonly shards: number;
  readonly vantagePoints: readonly string[];
  /** Vantage points whose votes did not count in the last completed sweep (every probe failed while others got through). */
  readonly discounted: readonly string[];
  readonly sweepFailures: number;
  readonly alertFailures: number;
}

/** One side of a release's window: requests, failures, error rate (%) and p95 (ms) of the answered ones. */
export type LiveSide = SideNumbers;

/** The canary against the stable side over the current step's window (or, once ended, behind its last automatic transition). */
export interface LiveAnalysis {
  readonly verdict: Verdict;
  readonly windowStartedAt: number;
  readonly canary: LiveSide;
  readonly stable: LiveSide;
  /** Every configured threshold: its effective limit, the canary's value, and pass, fail or unjudged. */
  readonly checks: readonly ThresholdCheck[];
  /** Why, with the numbers; left out while a step is in progress (the numbers above say it all). */
  readonly reason?: string;
}

export interface LiveTransition {
  readonly at: number;
  readonly kind: TransitionKind;
  readonly to: ReleaseState;
  readonly stepIndex: number;
  readonly weight: number;
  /** An admin key's fingerprint, or "release-controller". */
  readonly actor: string;
  readonly detail: string;
}

/**
 * A service's release (its newest, while running or paused and for an hour after it ended);
 * the service's name is its key in LiveView.releases. What changes while it runs is the
 * analysis numbers; `analysis.at` is left out so that a quiet release does not change.
 */
export interface LiveRelease {
  readonly id: string;
  /** The canary's version. */
  readonly version: string;
  readonly state: ReleaseState;
  /** Present for a dry run (judged, never routed). */
  readonly dryRun?: true;
  /** Present while paused. */
  readonly pausedBy?: "operator" | "controller";
  readonly stepIndex: number;
  /** The canary's weight (%) at each step. */
  readonly steps: readonly number[];
  readonly stepSeconds: number;
  /** The canary's weight now (%): the step's while active, 100 once promoted, 0 once rolled back or aborted. */
  readonly weight: number;
  /** When the current step's window began (epoch ms). */
  readonly stepStartedAt: number;
  /** Running: when the step is next judged (epoch ms). */
  readonly judgeAt?: number;
  /** Present once it reached a final state (epoch ms). */
  readonly endedAt?: number;
  readonly thresholds: AnalysisSpec;
  /** Left out when there is none (an ended release that no analysis ended). */
  readonly analysis?: LiveAnalysis;
  /** The newest transitions, newest first. */
  readonly history: readonly LiveTransition[];
  /** Transitions in all. */
  readonly transitions: number;
}

export interface LiveView {
  readonly environment: string;
  readonly global: LiveGlobal;
  readonly loop: LiveLoop;
  /** By service name. */
  readonly services: Readonly<Record<string, LiveService>>;
  /** By instance id (ids are unique across services). */
  readonly instances: Readonly<Record<string, LiveInstance>>;
  /** Active and suppressed alerts, by fingerprint (resolved ones are left out). */
  readonly alerts: Readonly<Record<string, LiveAlert>>;
  /** Releases running, paused or ended in the last hour, by service name. */
  readonly releases: Readonly<Record<string, LiveRelease>>;
  readonly history: LiveHistory;
  readonly autoscaling: readonly LiveAutoscale[];
}

/** How much alert history and autoscaling log the view carries: what the page lists. */
export const HISTORY_SHOWN = 50;
export const DECISIONS_SHOWN = 5;
const ALERTS_PER_NOTIFICATION = 5;
/** Long strings from outside (errors, summaries) are cut: the page shows one line of each. */
const TEXT_MAX = 300;

// ------------------------------------------------------------------ building it

function clip(text: string): string {
  return text.length > TEXT_MAX ? `${text.slice(0, TEXT_MAX - 1)}…` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whatever shape a probe error has (string, classified object, something else), one the page can show; undefined for none. */
export function liveError(value: unknown): LiveError | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  if (typeof value === "string") return clip(value);
  if (isRecord(value) && typeof value.message === "string") {
    const cls = value.class ?? value.kind;
    return {
      ...(typeof cls === "string" && cls !== "" ? { class: clip(cls) } : {}),
      message: clip(value.message),
      ...(typeof value.traceId === "string" && value.traceId !== "" ? { traceId: clip(value.traceId) } : {}),
    };
  }
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return clip(text);
}

function stats(s: StatsView): LiveStats {
  return {
    requests: s.totalRequests,
    rps: s.throughput.m1,
    errorRate: s.errorRate,
    recent: { errorRate: s.recent.errorRate, p50: s.recent.p50, p95: s.recent.p95, p99: s.recent.p99 },
  };
}

function timeMs(iso: string | null): number | null {
  if (iso === null) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

function liveInstance(i: SourceInstance, now: number): LiveInstance {
  const ejectedUntil = timeMs(i.ejectedUntil);
  const error = liveError(i.activeCheck.lastError);
  const name = own(i.metadata, "name");
  return {
    service: i.service,
    target: i.target.kind === "url" ? i.target.url : `binding:${i.target.binding}`,
    health: i.health,
    ...(i.adminState !== "active" ? { admin: i.adminState } : {}),
    ...(i.inflight !== 0 ? { inflight: i.inflight } : {}),
    ...(i.websockets > 0 ? { websockets: i.websockets } : {}),
    ...(i.activeCheck.lastResult !== null ? { check: i.activeCheck.lastResult } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(ejectedUntil !== null && ejectedUntil > now ? { ejectedUntil } : {}),
    ...(i.checkStatus === "critical" ? { heartbeat: "critical" as const } : {}),
    ...(typeof name === "string" && name !== "" ? { name: clip(name) } : {}),
    ...(i.weight !== 1 ? { weight: i.weight } : {}),
    ...(i.effectiveWeight < i.weight ? { warming: true as const } : {}),
    ...(i.pool ? { pool: true as const } : {}),
    ...(i.version !== null ? { version: i.version } : {}),
  };
}

function liveService(s: SourceService, metrics: MetricsView["workers"]): LiveService {
  const m = own(metrics, s.name);
  const zero: LiveStats = { requests: 0, rps: 0, errorRate: 0, recent: { errorRate: 0, p50: null, p95: null, p99: null } };
  const sockets = m?.websockets.open ?? 0;
  return {
    status: s.status,
    admin: s.adminState,
    strategy: s.strategy,
    inflight: s.inflight,
    ...(sockets > 0 ? { websockets: sockets } : {}),
    ...(s.panic ? { panic: true as const } : {}),
    ...(m === undefined ? zero : stats(m)),
  };
}

function liveAlert(status: AlertStatus): LiveAlert | null {
  // Resolved alerts are not shown: the history has them.
  if (status.state === "resolved") return null;
  const labels = status.alert.labels;
  const label = (key: string): string | undefined => {
    const value = own(labels, key);
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const severity = label("severity");
  const service = label("service");
  const instance = label("instance");
  const why = status.state === "suppressed" ? (status.inhibited ? "inhibited" : status.silencedBy.length > 0 ? "silenced" : undefined) : undefined;
  return {
    state: status.state,
    ...(why !== undefined ? { why } : {}),
    name: label("alertname") ?? "alert",
    ...(severity !== undefined ? { severity } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(instance !== undefined ? { instance } : {}),
    summary: clip(status.alert.annotations.summary),
    startsAt: status.alert.startsAt,
  };
}

function liveHistory(history: AlertHistory): LiveHistory {
  const entries = [...history.entries]
    .sort((a, b) => b.at - a.at)
    .slice(0, HISTORY_SHOWN)
    .map((n): LiveNotification => {
      const first = n.alerts[0];
      const listed = n.alerts.slice(0, ALERTS_PER_NOTIFICATION).map((a) => {
        const service = own(a.labels, "service");
        const instance = own(a.labels, "instance");
        return {
          name: own(a.labels, "alertname") ?? "alert",
          status: a.status,
          ...(service !== undefined && service !== "" ? { service } : {}),
          ...(instance !== undefined && instance !== "" ? { instance } : {}),
        };
      });
      const more = n.alerts.length - listed.length + (n.truncated ?? 0);
      return {
        at: n.at,
        status: n.status,
        groupKey: n.groupKey,
        alerts: listed,
        ...(more > 0 ? { more } : {}),
        ...(first !== undefined && first.annotations.summary !== "" ? { summary: clip(first.annotations.summary) } : {}),
      };
    });
  return { entries, total: history.entries.length, dropped: history.dropped };
}

function liveAutoscale(view: SourceAutoscale): LiveAutoscale {
  return {
    service: view.service,
    current: view.current,
    standby: view.standby,
    policy: view.policy === null ? null : { mode: view.policy.mode, min: view.policy.minInstances, max: view.policy.maxInstances },
    decisions: view.log.entries.slice(0, DECISIONS_SHOWN).map(({ decision: d }) => ({
      at: d.at,
      action: d.action,
      current: d.current,
      desired: d.desired,
      metrics: d.perMetric.map((m) => ({ metric: m.metric, observed: m.observed, target: m.target })),
      limitedBy: [...d.limitedBy],
    })),
  };
}

function liveRelease(r: SourceRelease): LiveRelease {
  const judgeAt = timeMs(r.judgeAt);
  const endedAt = timeMs(r.endedAt);
  const a = r.analysis;
  return {
    id: r.id,
    version: r.version,
    state: r.state,
    ...(r.dryRun ? { dryRun: true as const } : {}),
    ...(r.pausedBy !== null ? { pausedBy: r.pausedBy } : {}),
    stepIndex: r.stepIndex,
    steps: [...r.spec.steps],
    stepSeconds: r.spec.stepIntervalSeconds,
    weight: r.weightPercent,
    stepStartedAt: timeMs(r.stepStartedAt) ?? 0,
    ...(judgeAt !== null ? { judgeAt } : {}),
    ...(endedAt !== null ? { endedAt } : {}),
    thresholds: { ...r.spec.analysis },
    ...(a === null
      ? {}
      : {
          analysis: {
            verdict: a.verdict,
            windowStartedAt: timeMs(a.windowStartedAt) ?? 0,
            canary: { ...a.canary },
            stable: { ...a.stable },
            checks: a.checks.map((c) => ({ ...c })),
            ...(a.verdict !== "pending" ? { reason: clip(a.reason) } : {}),
          },
        }),
    history: [...r.history].reverse().map((t) => ({ at: timeMs(t.at) ?? 0, kind: t.kind, to: t.to, stepIndex: t.stepIndex, weight: t.weightPercent, actor: t.actor, detail: clip(t.detail) })),
    transitions: r.transitions,
  };
}

function liveLoop(loop: SourceLoop): LiveLoop {
  const sweep = loop.lastCompletedSweep;
  return {
    lastSweepAt: loop.lastSweepAt,
    probed: loop.lastSweepProbed,
    shards: loop.lastSweepShards,
    vantagePoints: [...loop.vantagePoints],
    discounted: sweep === null ? [] : sweep.vantagePoints.filter((v) => v.discounted > 0).map((v) => v.name),
    sweepFailures: loop.consecutiveSweepFailures,
    alertFailures: loop.consecutiveAlertFailures,
  };
}

/** The live view of a full dashboard state at `now`. */
export function liveView(source: ViewSource, now: number): LiveView {
  const services: Record<string, LiveService> = {};
  const instances: Record<string, LiveInstance> = {};
  for (const service of source.services) {
    setOwn(services, service.name, liveService(service, source.metrics.workers));
    for (const instance of service.instances) setOwn(instances, instance.id, liveInstance(instance, now));
  }
  const alerts: Record<string, LiveAlert> = {};
  for (const status of source.alerts.active) {
    const alert = liveAlert(status);
    if (alert !== null) setOwn(alerts, status.alert.fingerprint, alert);
  }
  const releases: Record<string, LiveRelease> = {};
  for (const release of source.releases) setOwn(releases, release.service, liveRelease(release));
  const g = source.metrics.global;
  return {
    environment: source.environment,
    global: { ...stats(g), inflight: g.inflight, websockets: g.websockets.open },
    loop: liveLoop(source.loop),
    services,
    instances,
    alerts,
    releases,
    history: liveHistory(source.alerts.history),
    autoscaling: source.autoscaling.map(liveAutoscale),
  };
}
