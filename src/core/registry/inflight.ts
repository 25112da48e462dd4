/**
 * In-flight accounting: the only place where an instance's in-flight counts
 * and a service's retries in flight change. Two sources add up:
 *
 * - leases (RegistryDO.acquire / release): one per request routed through the
 *   registry, exact. The leases themselves are rows in SQLite, so a Worker that
 *   dies mid-request cannot leave a count stuck (its lease expires), and a
 *   restart rebuilds the counts from them.
 * - isolate reports (RegistryDO.edgeSync): each edge isolate's own absolute
 *   counts, replacing its previous report, so a lost report cannot make them
 *   drift; an isolate that stops reporting stops counting after a while.
 *
 * Counts never go below zero: a release or an expiry for a lease already gone
 * changes nothing (the store answers that), and subtractions are floored.
 */
import type { RegistryConfig } from "./config";
import type { InstanceRecord } from "./records";
import type { RegistryState } from "./state";

/** A lease as storage holds it: whose it is, and whether it was handed out as a retry. */
export interface LeaseEntry {
  readonly instanceId: string;
  readonly isRetry: boolean;
}

/** The leases storage holds for one instance, for a restart. */
export interface LeaseCount {
  readonly instanceId: string;
  readonly leases: number;
  readonly retries: number;
}

/**
 * An isolate that has not reported for this long (it died, or went quiet) no
 * longer counts in flight: three report intervals, and at least this.
 */
export const MIN_ISOLATE_REPORT_TTL_MS = 15_000;

export function totalInflight(instance: InstanceRecord): number {
  return instance.inflight + instance.edgeInflight;
}

export function isolateReportTtlMs(config: Pick<RegistryConfig, "edge">): number {
  return Math.max(MIN_ISOLATE_REPORT_TTL_MS, 3 * config.edge.reportIntervalMs);
}

export function leaseStarted(state: RegistryState, instance: InstanceRecord, isRetry: boolean): void {
  instance.inflight++;
  if (isRetry) {
    instance.retryInflight++;
    const service = state.services.get(instance.service);
    if (service) service.activeRetries++;
  }
}

/** A lease released or expired. An instance already removed has nothing left to count. */
export function leaseEnded(state: RegistryState, lease: LeaseEntry): InstanceRecord | null {
  const instance = state.instances.get(lease.instanceId);
  if (!instance) return null;
  instance.inflight = Math.max(0, instance.inflight - 1);
  if (!lease.isRetry) return instance;
  instance.retryInflight = Math.max(0, instance.retryInflight - 1);
  const service = state.services.get(instance.service);
  if (service) service.activeRetries = Math.max(0, service.activeRetries - 1);
  return instance;
}

/** After a restart: the leases storage still holds are requests still in flight. */
export function restoreLeaseCounts(state: RegistryState, counts: Iterable<LeaseCount>): void {
  for (const count of counts) {
    const instance = state.instances.get(count.instanceId);
    if (!instance) continue;
    instance.inflight = count.leases;
    instance.retryInflight = count.retries;
    const service = state.services.get(instance.service);
    if (service) service.activeRetries += count.retries;
  }
}

/** An instance leaves with leases still out: its retries stop counting against the service's budget (storage drops the leases). */
export function instanceRemoved(state: RegistryState, instance: InstanceRecord): void {
  const service = state.services.get(instance.service);
  if (service) service.activeRetries = Math.max(0, service.activeRetries - instance.retryInflight);
  instance.inflight = 0;
  instance.retryInflight = 0;
}

const NO_COUNTS: Readonly<Record<string, number>> = Object.freeze({});

/**
 * Replaces an isolate's counts with its new report; counts for unknown instances, and
 * non-positive ones, are dropped. `sockets` (open WebSocket connections) are part of
 * `inflight`, so a socket count above the instance's in-flight count is capped to it.
 */
export function replaceIsolateInflight(
  state: RegistryState,
  isolateId: string,
  inflight: Readonly<Record<string, number>>,
  now: number,
  sockets: Readonly<Record<string, number>> = NO_COUNTS,
): void {
  const previous = state.isolateReports.get(isolateId);
  if (previous !== undefined) {
    for (const [id, count] of previous.inflight) {
      const instance = state.instances.get(id);
      if (instance) instance.edgeInflight = Math.max(0, instance.edgeInflight - count);
    }
    for (const [id, count] of previous.sockets) {
      const instance = state.instances.get(id);
      if (instance) instance.edgeSockets = Math.max(0, instance.edgeSockets - count);
    }
  }
  const accepted = new Map<string, number>();
  for (const [id, count] of Object.entries(inflight)) {
    const instance = state.instances.get(id);
    if (!instance || !Number.isSafeInteger(count) || count <= 0) continue;
    accepted.set(id, count);
    instance.edgeInflight += count;
  }
  const acceptedSockets = new Map<string, number>();
  for (const [id, count] of Object.entries(sockets)) {
    const ceiling = accepted.get(id);
    if (ceiling === undefined || !Number.isSafeInteger(count) || count <= 0) continue;
    const counted = Math.min(count, ceiling);
    acceptedSockets.set(id, counted);
    (state.instances.get(id) as InstanceRecord).edgeSockets += counted;
  }
  if (accepted.size > 0) state.isolateReports.set(isolateId, { seenAt: now, inflight: accepted, sockets: acceptedSockets });
  else state.isolateReports.delete(isolateId);
}

/** An isolate that stopped reporting (it died, or went idle with nothing in flight) no longer counts. */
export function expireIsolateReports(state: RegistryState, now: number, config: Pick<RegistryConfig, "edge">): void {
  const ttlMs = isolateReportTtlMs(config);
  for (const [isolateId, report] of state.isolateReports) {
    if (now - report.seenAt < ttlMs) continue;
    replaceIsolateInflight(state, isolateId, NO_COUNTS, now);
  }
}

/** When the alarm must next look at isolate reports, if any still count. */
export function isolateReportsExpireAt(state: RegistryState, config: Pick<RegistryConfig, "edge">): number | null {
  const ttlMs = isolateReportTtlMs(config);
  let earliest: number | null = null;
  for (const report of state.isolateReports.values()) {
    const expiry = report.seenAt + ttlMs;
    if (earliest === null || expiry < earliest) earliest = expiry;
  }
  return earliest;
}
