/**
 * The /metrics JSON the product README promises:
 *   { timestamp, global: { totalRequests, errorRate, avgResponseTime, ... }, workers: { [service]: ... } }
 * extended with percentiles, throughput, an error breakdown, a recent window,
 * WebSocket connections, and per-instance detail. Health, in-flight counts and
 * open connections live in the registry, not in metrics, so the caller passes
 * them in as extras.
 *
 * Conventions: errorRate is a percentage of (5xx + gateway) over all requests,
 * 4xx excluded; times are ms; latency fields are null when there is no sample
 * (an average of nothing is not 0 ms); numbers are rounded for display
 * (2 decimals for ms and %, 3 for requests/s).
 */
import type { HealthStatus } from "../balancer/types";
import type { ServiceStatus } from "../instance-health";
import type { CloseClass } from "./close-class";
import { type MetricsState, type ServiceMetrics, serviceTotals, serviceWindows } from "./aggregate";
import { own, setOwn, sortedKeys } from "./own";
import { type Sketch, quantile, sketchMean } from "./sketch";
import { GATEWAY_CAUSES, type GatewayCause, gatewayKindOf } from "./status-class";
import { type Tally, connectFailures, emptyTally, gatewayCount, mergeTally, socketsOf, tallyFailures, tallyRequests, tallySocketsClosed } from "./tally";
import { type Throughput, type Windows, createWindows, mergeWindows, rollWindows, throughput, windowStats } from "./windows";

/** Window of the `recent` block: long enough to be stable, short enough to show an incident. */
export const RECENT_WINDOW_MINUTES = 5;

export interface InstanceExtras {
  readonly health?: HealthStatus;
  readonly inflight?: number;
  /** Open WebSocket connections (part of inflight), as the registry counts them from isolate reports. */
  readonly websockets?: number;
  /** The version it declared (issue #20), if any. */
  readonly version?: string;
}

export interface ServiceExtras {
  readonly status?: ServiceStatus;
  readonly instances?: Readonly<Record<string, InstanceExtras>>;
}

/** Registry facts per service name; services and instances listed here appear even with no traffic. */
export type MetricsExtras = Readonly<Record<string, ServiceExtras>>;

export interface ErrorBreakdown {
  readonly "4xx": number;
  readonly "5xx": number;
  /** timeout + connect. */
  readonly gateway: number;
  readonly timeout: number;
  /** Connect failures of every cause (byCause's dns + refused + reset + tls + other). */
  readonly connect: number;
  /** gateway by why there was no answer (core/upstream-errors.ts); other is a connect failure of unknown cause. */
  readonly byCause: Readonly<Record<GatewayCause, number>>;
}

export interface StatsView {
  readonly totalRequests: number;
  readonly errorRate: number;
  readonly avgResponseTime: number | null;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly throughput: Throughput;
  readonly errors: ErrorBreakdown;
  readonly bytes: number;
  readonly recent: {
    readonly minutes: number;
    readonly requests: number;
    readonly errorRate: number;
    readonly p50: number | null;
    readonly p95: number | null;
    readonly p99: number | null;
  };
}

/**
 * Relayed WebSocket connections. `open` is the registry's count, not opened −
 * closed: the registry's is bound to each isolate's lease, so the connections
 * of an isolate that died stop counting, where a close that was never recorded
 * would leave opened − closed too high forever.
 */
export interface WebSocketsView<Open extends number | null = number> {
  readonly open: Open;
  /** Lifetime counters. */
  readonly opened: number;
  readonly closed: number;
  /** `closed` by how the connections ended (core/metrics/close-class.ts). */
  readonly closedBy: Readonly<Record<CloseClass, number>>;
  /** How long closed connections lasted; null when none has closed. */
  readonly avgDurationMs: number | null;
  readonly p50DurationMs: number | null;
  readonly p95DurationMs: number | null;
}

export interface InstanceView extends StatsView {
  readonly health: HealthStatus | null;
  readonly inflight: number | null;
  /** open is null, like inflight, when the registry has no count for the instance. */
  readonly websockets: WebSocketsView<number | null>;
  readonly lastSeen: string | null;
  /** The version it declared, or null. */
  readonly version: string | null;
}

/**
 * One version's instances taken together (issue #20): a release's canary and
 * stable sides side by side. Instances deregistered since are in the service's
 * totals but in no version's.
 */
export interface VersionView {
  readonly instances: number;
  readonly totalRequests: number;
  readonly errorRate: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly recent: { readonly minutes: number; readonly requests: number; readonly errorRate: number; readonly p95: number | null };
}

export interface ServiceView extends StatsView {
  readonly status: ServiceStatus | null;
  readonly inflight: number;
  readonly websockets: WebSocketsView;
  readonly instances: Readonly<Record<string, InstanceView>>;
  /** Per declared version, over the instances that have one. */
  readonly versions: Readonly<Record<string, VersionView>>;
}

export interface MetricsView {
  readonly timestamp: string;
  readonly global: StatsView & { readonly inflight: number; readonly websockets: WebSocketsView };
  readonly workers: Readonly<Record<string, ServiceView>>;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function roundOrNull(x: number | null): number | null {
  return x === null ? null : round(x, 2);
}

function percentOf(part: number, whole: number): number {
  return whole > 0 ? round((part / whole) * 100, 2) : 0;
}

function pct(sketch: Sketch, q: number): number | null {
  return roundOrNull(quantile(sketch, q));
}

function stats(totals: Tally, windows: Windows, now: number): StatsView {
  const requests = tallyRequests(totals);
  const t = throughput(windows, now);
  const recent = windowStats(windows, now, RECENT_WINDOW_MINUTES);
  return {
    totalRequests: requests,
    errorRate: percentOf(tallyFailures(totals), requests),
    avgResponseTime: roundOrNull(sketchMean(totals.sketch)),
    p50: pct(totals.sketch, 0.5),
    p90: pct(totals.sketch, 0.9),
    p95: pct(totals.sketch, 0.95),
    p99: pct(totals.sketch, 0.99),
    throughput: { m1: round(t.m1, 3), m5: round(t.m5, 3), m15: round(t.m15, 3) },
    errors: {
      "4xx": totals.counts["4xx"],
      "5xx": totals.counts["5xx"],
      gateway: totals.counts.gateway,
      timeout: gatewayCount(totals.gateway, "timeout"),
      connect: connectFailures(totals.gateway),
      byCause: byCause(totals),
    },
    bytes: totals.bytes,
    recent: {
      minutes: RECENT_WINDOW_MINUTES,
      requests: round(recent.requests, 2),
      errorRate: percentOf(recent.failures, recent.requests),
      p50: pct(recent.sketch, 0.5),
      p95: pct(recent.sketch, 0.95),
      p99: pct(recent.sketch, 0.99),
    },
  };
}

function byCause(totals: Tally): Record<GatewayCause, number> {
  const out = {} as Record<GatewayCause, number>;
  for (const cause of GATEWAY_CAUSES) out[cause] = gatewayCount(totals.gateway, gatewayKindOf(cause));
  return out;
}

function websockets<Open extends number | null>(totals: Tally, open: Open): WebSocketsView<Open> {
  const s = socketsOf(totals);
  return {
    open,
    opened: s.opened,
    closed: tallySocketsClosed(s),
    closedBy: { ...s.closed },
    avgDurationMs: roundOrNull(sketchMean(s.sketch)),
    p50DurationMs: pct(s.sketch, 0.5),
    p95DurationMs: pct(s.sketch, 0.95),
  };
}

/** A registry count (in flight, open connections) when it is one, else null. */
function countOf(v: number | undefined): number | null {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null;
}

function serviceView(s: ServiceMetrics, totals: Tally, windows: Windows, extras: ServiceExtras | undefined, now: number): ServiceView {
  const extraInstances = extras?.instances ?? {};
  const ids = [...new Set([...sortedKeys(s.instances), ...sortedKeys(extraInstances)])].sort();
  const instances: Record<string, InstanceView> = {};
  let inflight = 0;
  let open = 0;
  for (const id of ids) {
    const m = own(s.instances, id);
    const x = own(extraInstances, id);
    const instanceInflight = countOf(x?.inflight);
    const instanceOpen = countOf(x?.websockets);
    inflight += instanceInflight ?? 0;
    open += instanceOpen ?? 0;
    const instanceTotals = m?.totals ?? emptyTally();
    setOwn(instances, id, {
      ...stats(instanceTotals, m?.windows ?? createWindows(), now),
      health: x?.health ?? null,
      inflight: instanceInflight,
      websockets: websockets(instanceTotals, instanceOpen),
      lastSeen: m === undefined ? null : new Date(m.lastSeenAt).toISOString(),
      version: x?.version ?? null,
    });
  }
  return { ...stats(totals, windows, now), status: extras?.status ?? null, inflight, websockets: websockets(totals, open), instances, versions: versionViews(s, extraInstances, ids, now) };
}

function versionViews(s: ServiceMetrics, extraInstances: Readonly<Record<string, InstanceExtras>>, ids: readonly string[], now: number): Record<string, VersionView> {
  const groups = new Map<string, { instances: number; totals: Tally; windows: Windows }>();
  for (const id of ids) {
    const version = own(extraInstances, id)?.version;
    if (version === undefined) continue;
    const m = own(s.instances, id);
    const group = groups.get(version) ?? { instances: 0, totals: emptyTally(), windows: createWindows() };
    groups.set(version, {
      instances: group.instances + 1,
      totals: m === undefined ? group.totals : mergeTally(group.totals, m.totals),
      windows: m === undefined ? group.windows : mergeWindows(group.windows, rollWindows(m.windows, now)),
    });
  }
  const versions: Record<string, VersionView> = {};
  for (const version of [...groups.keys()].sort()) {
    const group = groups.get(version) as { instances: number; totals: Tally; windows: Windows };
    const all = stats(group.totals, group.windows, now);
    setOwn(versions, version, {
      instances: group.instances,
      totalRequests: all.totalRequests,
      errorRate: all.errorRate,
      p50: all.p50,
      p95: all.p95,
      p99: all.p99,
      recent: { minutes: all.recent.minutes, requests: all.recent.requests, errorRate: all.recent.errorRate, p95: all.recent.p95 },
    });
  }
  return versions;
}

const EMPTY_SERVICE: ServiceMetrics = { instances: {}, retired: { totals: emptyTally(), windows: createWindows() } };

/** Builds the /metrics body at `now` from the state and the registry's extras. */
export function metricsView(state: MetricsState, now: number, extras: MetricsExtras = {}): MetricsView {
  const names = [...new Set([...sortedKeys(state.services), ...sortedKeys(extras)])].sort();
  const workers: Record<string, ServiceView> = {};
  let totals = emptyTally();
  let windows = createWindows();
  let inflight = 0;
  let open = 0;
  for (const name of names) {
    const s = own(state.services, name) ?? EMPTY_SERVICE;
    const serviceTally = serviceTotals(s);
    const serviceWindow = serviceWindows(s, now);
    const view = serviceView(s, serviceTally, serviceWindow, own(extras, name), now);
    setOwn(workers, name, view);
    totals = mergeTally(totals, serviceTally);
    windows = mergeWindows(windows, serviceWindow);
    inflight += view.inflight;
    open += view.websockets.open;
  }
  return { timestamp: new Date(now).toISOString(), global: { ...stats(totals, windows, now), inflight, websockets: websockets(totals, open) }, workers };
}
