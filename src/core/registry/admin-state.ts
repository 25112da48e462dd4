/**
 * Operator control: taking a service (or one instance) out of rotation and
 * putting it back, and forgetting what health checks concluded on a restart.
 * Stopping is immediate for new requests; requests already in flight finish.
 * (The autoscaler moves standby instances too: autoscale-actuator.ts.)
 */
import { initialActiveState, initialOutlierState } from "../health";
import type { InstanceRecord, ServiceRecord } from "./records";
import { type Refusal, unknownInstance } from "./refusals";
import { instancesOf, type RegistryState } from "./state";
import type { RegistryWrite } from "./writes";

/** What an operator action is about: a whole service, or one of its instances. */
export interface LifecycleTarget {
  readonly ok: true;
  readonly service: ServiceRecord;
  readonly instance: InstanceRecord | null;
}

export function lifecycleTarget(state: RegistryState, serviceName: string, instanceId: string | null): LifecycleTarget | Refusal {
  const service = state.services.get(serviceName);
  if (!service) return { ok: false, reason: "unknown-service", service: serviceName, field: "name" };
  if (instanceId === null) return { ok: true, service, instance: null };
  const instance = state.instances.get(instanceId);
  if (!instance || instance.service !== serviceName) return unknownInstance(instanceId);
  return { ok: true, service, instance };
}

/** The instances an action on the target reaches. */
export function instancesAffected(state: RegistryState, target: LifecycleTarget): readonly InstanceRecord[] {
  return target.instance ? [target.instance] : instancesOf(state, target.service.name);
}

export interface AdminStateChange {
  /** False when the target was already in that state (for a service start: nothing at all was stopped). */
  readonly changed: boolean;
  readonly writes: readonly RegistryWrite[];
  /** What a service start started, for its audit entry; null for the other actions. */
  readonly detail: string | null;
}

/**
 * Starting begins slow start. Starting a service puts all of it back: the
 * service and every instance an operator stopped one by one (standby ones stay
 * the autoscaler's). Otherwise stopping each instance, then starting the
 * service, would answer `changed: false` and leave it down.
 */
export function changeAdminState(state: RegistryState, target: LifecycleTarget, desired: "active" | "stopped", now: number): AdminStateChange {
  if (target.instance) {
    if (target.instance.adminState === desired) return { changed: false, writes: [], detail: null };
    target.instance.adminState = desired;
    if (desired === "active") target.instance.inRotationSince = now;
    return { changed: true, writes: [{ kind: "instance", instance: target.instance }], detail: null };
  }
  const service = target.service;
  if (desired === "stopped") {
    if (service.adminState === "stopped") return { changed: false, writes: [], detail: null };
    service.adminState = "stopped";
    return { changed: true, writes: [{ kind: "service", service }], detail: null };
  }
  const serviceWasStopped = service.adminState === "stopped";
  const instances = instancesOf(state, service.name);
  const startedInstances = instances.filter((i) => i.adminState === "stopped");
  if (!serviceWasStopped && startedInstances.length === 0) return { changed: false, writes: [], detail: "nothing was stopped" };
  service.adminState = "active";
  const writes: RegistryWrite[] = [];
  for (const instance of startedInstances) instance.adminState = "active";
  // A service coming back ramps all of its instances; instances it had in rotation all along keep their ramp.
  for (const instance of serviceWasStopped ? instances : startedInstances) {
    instance.inRotationSince = now;
    writes.push({ kind: "instance", instance });
  }
  writes.push({ kind: "service", service });
  return { changed: true, writes, detail: startDetail(serviceWasStopped, startedInstances) };
}

/** "started the service and 2 instances stopped one by one: <id>, <id>" */
function startDetail(serviceWasStopped: boolean, startedInstances: readonly InstanceRecord[]): string {
  const parts = serviceWasStopped ? ["the service"] : [];
  const n = startedInstances.length;
  if (n > 0) parts.push(`${n === 1 ? "1 instance" : `${n} instances`} stopped one by one: ${startedInstances.map((i) => i.id).join(", ")}`);
  return `started ${parts.join(" and ")}`;
}

/** A restart forgets what health checks and outlier detection had concluded. */
export function forgetHealth(state: RegistryState, target: LifecycleTarget): RegistryWrite[] {
  const writes: RegistryWrite[] = [];
  for (const instance of instancesAffected(state, target)) {
    instance.active = initialActiveState();
    instance.outlier = initialOutlierState;
    instance.latencyEwmaMs = null;
    instance.errorEwma = 0;
    writes.push({ kind: "instance", instance });
  }
  return writes;
}
