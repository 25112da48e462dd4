/**
 * The metrics state a Durable Object keeps: per instance lifetime totals and
 * rolling windows; services and the fleet are merges computed on read, so
 * there is one source of truth and nothing to keep consistent.
 *
 * Error rate everywhere is (5xx + gateway) / total × 100. 4xx is reported in
 * the error breakdown but does not count as a failure (see isFailureClass).
 *
 * The state is plain JSON. Updates return a new state and share untouched
 * parts with the old one.
 */
import type { Batch } from "./record";
import { own, sortedKeys, withKey } from "./own";
import { type Tally, emptyTally, mergeTally } from "./tally";
import { type WindowStats, type Windows, addToWindows, createWindows, mergeWindows, rollWindows, windowStats } from "./windows";

export interface InstanceMetrics {
  readonly totals: Tally;
  readonly windows: Windows;
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
}

export interface ServiceMetrics {
  readonly instances: Readonly<Record<string, InstanceMetrics>>;
  /**
   * Instances removed from the registry leave their numbers here, so service and
   * fleet totals never go backwards when an instance is deregistered.
   */
  readonly retired: { readonly totals: Tally; readonly windows: Windows };
}

export interface MetricsState {
  /**
   * Still 1 with WebSocket connections counted: they are an optional part of
   * every Tally (tally.ts), so state persisted before them reads as it is.
   */
  readonly version: 1;
  readonly services: Readonly<Record<string, ServiceMetrics>>;
}

export function createMetricsState(): MetricsState {
  return { version: 1, services: {} };
}

function emptyService(): ServiceMetrics {
  return { instances: {}, retired: { totals: emptyTally(), windows: createWindows() } };
}

/** Folds a batch into the state at `now` (the time the DO applies it). */
export function applyBatch(state: MetricsState, batch: Batch, now: number): MetricsState {
  if (batch.entries.length === 0) return state;
  let services = state.services;
  for (const entry of batch.entries) {
    const service = own(services, entry.service) ?? emptyService();
    const previous = own(service.instances, entry.instance);
    const instance: InstanceMetrics = {
      totals: mergeTally(previous?.totals ?? emptyTally(), entry.tally),
      windows: addToWindows(previous?.windows ?? createWindows(), entry, now),
      firstSeenAt: Math.min(previous?.firstSeenAt ?? entry.firstAt, entry.firstAt),
      // Clamped to now: a skewed edge clock must not make an instance look seen in the future.
      lastSeenAt: Math.max(previous?.lastSeenAt ?? Number.NEGATIVE_INFINITY, Math.min(entry.lastAt, now)),
    };
    services = withKey(services, entry.service, { ...service, instances: withKey(service.instances, entry.instance, instance) });
  }
  return { ...state, services };
}

/**
 * Forgets an instance (deregistered), moving its counts into the service's
 * retired totals and windows. Unknown service or instance: state unchanged.
 */
export function removeInstance(state: MetricsState, service: string, instance: string, now: number): MetricsState {
  const s = own(state.services, service);
  const i = s === undefined ? undefined : own(s.instances, instance);
  if (s === undefined || i === undefined) return state;
  const instances = { ...s.instances };
  delete instances[instance];
  const retired = {
    totals: mergeTally(s.retired.totals, i.totals),
    windows: rollWindows(mergeWindows(rollWindows(s.retired.windows, now), rollWindows(i.windows, now)), now),
  };
  return { ...state, services: withKey(state.services, service, { instances, retired }) };
}

/** Lifetime totals of a service: its instances plus retired ones. */
export function serviceTotals(s: ServiceMetrics): Tally {
  return sortedKeys(s.instances).reduce((acc, id) => {
    const i = own(s.instances, id);
    return i === undefined ? acc : mergeTally(acc, i.totals);
  }, s.retired.totals);
}

export function serviceWindows(s: ServiceMetrics, now: number): Windows {
  return sortedKeys(s.instances).reduce((acc, id) => {
    const i = own(s.instances, id);
    return i === undefined ? acc : mergeWindows(acc, rollWindows(i.windows, now));
  }, rollWindows(s.retired.windows, now));
}

/**
 * Windowed stats of one service over the last `minutes` minutes: what the alert
 * rules need (request volume, error rate, p95 via quantile(stats.sketch, 0.95)).
 * A service with no metrics yet gets the stats of an empty window.
 */
export function serviceWindowStats(state: MetricsState, service: string, now: number, minutes: number): WindowStats {
  const s = own(state.services, service);
  return windowStats(s === undefined ? createWindows() : serviceWindows(s, now), now, minutes);
}
