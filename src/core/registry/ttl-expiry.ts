/**
 * TTL checks (Consul's TTL check plus deregister_critical_service_after, the
 * maths in core/instance-health.ts): a registered instance that misses its
 * heartbeat deadline turns critical, and one critical for longer than the
 * deregistration window is removed. Static instances have no TTL.
 */
import { sweepTtl, type TtlSweep, type TtlTracked } from "../instance-health";
import type { RegistryConfig } from "./config";
import { removeInstance } from "./registration";
import type { RegistryState } from "./state";
import type { RegistryWrite } from "./writes";

export function ttlPlan(state: RegistryState, now: number, config: Pick<RegistryConfig, "deregisterCriticalAfterSeconds">): TtlSweep {
  const tracked: TtlTracked[] = [];
  for (const i of state.instances.values()) {
    if (i.isStatic || i.lastHeartbeat === null || i.ttlSeconds === null) continue;
    tracked.push({ id: i.id, checkStatus: i.checkStatus, lastHeartbeatMs: i.lastHeartbeat, ttlSeconds: i.ttlSeconds, criticalSinceMs: i.criticalSince });
  }
  return sweepTtl(tracked, now, config.deregisterCriticalAfterSeconds);
}

/** Marks the silent instances critical and removes those critical for too long. */
export function expireSilentInstances(state: RegistryState, now: number, config: Pick<RegistryConfig, "deregisterCriticalAfterSeconds">): RegistryWrite[] {
  const plan = ttlPlan(state, now, config);
  const writes: RegistryWrite[] = [];
  for (const id of plan.markCritical) {
    const instance = state.instances.get(id);
    if (!instance) continue;
    instance.checkStatus = "critical";
    instance.criticalSince = now;
    writes.push({ kind: "critical", instance });
  }
  for (const id of plan.remove) removeInstance(state, id, writes);
  return writes;
}
