/**
 * The registry in memory: every service and instance record, indexed the ways
 * the hot paths read them, and each edge isolate's last in-flight report.
 * Decisions (the other modules here) change it in place and say what storage
 * must learn (writes.ts); RegistryDO owns the one copy.
 */
import type { ReleaseWindow } from "../release/analysis";
import type { Release } from "../release/release";
import type { InstanceRecord, ServiceRecord } from "./records";

/** What the controller keeps for a service's active release: its window and when to evaluate it next. Memory only. */
export interface ReleaseWatch {
  readonly releaseId: string;
  /** The canary's version: outcomes of instances with it count on the canary side, all others on the stable side. */
  readonly version: string;
  window: ReleaseWindow;
  nextEvaluationAt: number;
}

/** An edge isolate's last report: its in-flight counts per instance, and when it reported. */
export interface IsolateReport {
  readonly seenAt: number;
  /** A Map, not a plain object: instance ids are keys like any other string (even "__proto__"). */
  readonly inflight: ReadonlyMap<string, number>;
  /** Of those, open WebSocket connections (never more than the instance's count in `inflight`). */
  readonly sockets: ReadonlyMap<string, number>;
}

export interface RegistryState {
  readonly services: Map<string, ServiceRecord>;
  readonly instances: Map<string, InstanceRecord>;
  /** Instances per service in registration order: the hot path reads one service, never the whole registry. */
  readonly instancesByService: Map<string, InstanceRecord[]>;
  /** The next registration's sequence number (registration order survives restarts). */
  nextSeq: number;
  /** Memory only: an isolate that matters reports again within its report interval. */
  readonly isolateReports: Map<string, IsolateReport>;
  /**
   * Instances that asked for a probe before their next sweep (re-registered or heartbeating
   * while unhealthy), with when they asked. Memory only: lost, they wait for their interval.
   */
  readonly probeRequests: Map<string, number>;
  /** Each service's releases, oldest first (persisted; core/registry/releases.ts keeps the newest few). */
  readonly releases: Map<string, Release[]>;
  /** Per service with an active (running or paused) release. Memory only: a restart starts each window afresh. */
  readonly releaseWatches: Map<string, ReleaseWatch>;
}

export function emptyRegistry(): RegistryState {
  return { services: new Map(), instances: new Map(), instancesByService: new Map(), nextSeq: 1, isolateReports: new Map(), probeRequests: new Map(), releases: new Map(), releaseWatches: new Map() };
}

/** The registry as storage left it; instances must come in registration (seq) order. */
export function restoreRegistry(services: Iterable<ServiceRecord>, instancesInSeqOrder: Iterable<InstanceRecord>): RegistryState {
  const state = emptyRegistry();
  for (const service of services) state.services.set(service.name, service);
  for (const instance of instancesInSeqOrder) {
    indexInstance(state, instance);
    state.nextSeq = Math.max(state.nextSeq, instance.seq + 1);
  }
  return state;
}

/** Registration order (seq); callers must not modify the returned array. */
export function instancesOf(state: RegistryState, service: string): readonly InstanceRecord[] {
  return state.instancesByService.get(service) ?? [];
}

/** New instances always have the highest seq, so appending keeps each list in order. */
export function indexInstance(state: RegistryState, instance: InstanceRecord): void {
  state.instances.set(instance.id, instance);
  const list = state.instancesByService.get(instance.service);
  if (list) list.push(instance);
  else state.instancesByService.set(instance.service, [instance]);
}

export function unindexInstance(state: RegistryState, instance: InstanceRecord): void {
  state.instances.delete(instance.id);
  state.probeRequests.delete(instance.id);
  const siblings = instancesOf(state, instance.service).filter((i) => i.id !== instance.id);
  if (siblings.length > 0) state.instancesByService.set(instance.service, siblings);
  else state.instancesByService.delete(instance.service);
}
