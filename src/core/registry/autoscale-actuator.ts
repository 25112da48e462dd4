/**
 * The autoscaler's hands: one evaluation for a service, when its period is
 * due. The engine (core/autoscale) decides from CPU and queue depth (known
 * here) and latency and error rate (measured by MetricsDO, passed in); in
 * enforce mode standby instances move into rotation (with slow start) or,
 * scaling down, pool members leave rotation for standby (new requests stop at
 * once, those in flight finish). Instances registered without `standby` are
 * never scaled down.
 */
import { appendDecision, type Decision, evaluate, evaluationDue, type Observation } from "../autoscale";
import type { RegistryConfig } from "./config";
import { totalInflight } from "./inflight";
import type { InstanceRecord } from "./records";
import type { Refusal } from "./refusals";
import { routingHealth } from "./routing";
import { instancesOf, type RegistryState } from "./state";
import type { RegistryWrite } from "./writes";

/** What MetricsDO measured over the service's recent traffic. */
export type TrafficObservation = Pick<Observation, "p95Ms" | "errorRatePercent">;

export type AutoscaleActuation =
  | { readonly ok: true; readonly decision: null }
  | {
      readonly ok: true;
      readonly decision: Decision;
      /** Instances that changed places, in the order they moved. */
      readonly moved: readonly string[];
      /** Instances wanted but not available in the standby pool (for external provisioning). */
      readonly shortBy: number;
      readonly writes: readonly RegistryWrite[];
    };

const HEALTH_RANK = { healthy: 0, degraded: 1, unhealthy: 2 } as const;

export function actuateAutoscale(
  state: RegistryState,
  serviceName: string,
  traffic: TrafficObservation,
  now: number,
  config: Pick<RegistryConfig, "degradedResponseTimeMs">,
): AutoscaleActuation | Refusal {
  const service = state.services.get(serviceName);
  if (!service) return { ok: false, reason: "unknown-service", service: serviceName, field: "name" };
  const policy = service.autoscalePolicy;
  if (policy === null || service.adminState === "stopped" || !evaluationDue(service.autoscaleState, policy, now)) return { ok: true, decision: null };
  const instances = instancesOf(state, serviceName);
  const active = instances.filter((i) => i.adminState === "active");
  const { state: engineState, decision } = evaluate(service.autoscaleState, policy, active.length, observe(active, traffic), now);
  service.autoscaleState = engineState;
  service.autoscaleLog = appendDecision(service.autoscaleLog, decision);
  const writes: RegistryWrite[] = [];
  const moved: string[] = [];
  let shortBy = 0;
  if (decision.mode === "enforce" && decision.desired > active.length) {
    // Healthiest first, then the longest waiting; an unhealthy standby never comes in.
    const health = (i: InstanceRecord) => routingHealth(i, now, config);
    const ready = instances
      .filter((i) => i.adminState === "standby" && health(i) !== "unhealthy")
      .sort((a, b) => HEALTH_RANK[health(a)] - HEALTH_RANK[health(b)] || a.seq - b.seq);
    for (const instance of ready.slice(0, decision.desired - active.length)) {
      instance.adminState = "active";
      instance.inRotationSince = now;
      writes.push({ kind: "instance", instance });
      moved.push(instance.id);
    }
    shortBy = decision.desired - active.length - moved.length;
  } else if (decision.mode === "enforce" && decision.desired < active.length) {
    // The pool members that came in last leave first.
    const removable = active
      .filter((i) => i.pool)
      .sort((a, b) => (b.inRotationSince ?? b.registeredAt) - (a.inRotationSince ?? a.registeredAt) || b.seq - a.seq);
    for (const instance of removable.slice(0, active.length - decision.desired)) {
      instance.adminState = "standby";
      writes.push({ kind: "instance", instance });
      moved.push(instance.id);
    }
  }
  writes.push({ kind: "service", service });
  return { ok: true, decision, moved, shortBy, writes };
}

/** CPU and queue depth over the instances in rotation (null when nothing reports them). */
function observe(active: readonly InstanceRecord[], traffic: TrafficObservation): Observation {
  const cpus = active.map((i) => i.reportedCpu).filter((c): c is number => c !== null);
  const inflight = active.reduce((sum, i) => sum + totalInflight(i), 0);
  return {
    cpuPercent: cpus.length === 0 ? null : cpus.reduce((a, b) => a + b, 0) / cpus.length,
    inflightPerInstance: active.length === 0 ? (inflight > 0 ? inflight : null) : inflight / active.length,
    p95Ms: traffic.p95Ms ?? null,
    errorRatePercent: traffic.errorRatePercent ?? null,
  };
}
