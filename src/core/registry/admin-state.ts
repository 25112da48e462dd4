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

/** Starting begins slow start. `changed` is false when the target was already in that state. */
export function changeAdminState(
  state: RegistryState,
  target: LifecycleTarget,
  desired: "active" | "stopped",
  now: number,
): { readonly changed: boolean; readonly writes: readonly RegistryWrite[] } {
  const record = target.instance ?? target.service;
  if (record.adminState === desired) return { changed: false, writes: [] };
  record.adminState = desired;
  const writes: RegistryWrite[] = [];
  if (target.instance) {
    if (desired === "active") target.instance.inRotationSince = now;
    writes.push({ kind: "instance", instance: target.instance });
  } else {
    if (desired === "active") {
      for (const instance of instancesOf(state, target.service.name)) {
        instance.inRotationSince = now;
        writes.push({ kind: "instance", instance });
      }
    }
    writes.push({ kind: "service", service: target.service });
  }
  return { changed: true, writes };
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
