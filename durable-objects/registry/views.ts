/**
 * The registry's records as its RPC methods answer with them (the shapes are
 * src/contracts/registry.ts): the snapshot, one service, the extras MetricsDO
 * adds to /metrics, autoscaling and lifecycle views, the health sweeper's
 * targets. Built from memory; nothing here changes state.
 */
import type { HealthStatus } from "../../src/core/balancer/types";
import { isEjected } from "../../src/core/health";
import { serviceStatus } from "../../src/core/instance-health";
import { setOwn } from "../../src/core/metrics/own";
import type { MetricsExtras } from "../../src/core/metrics/view";
import { checkIntervalOf, healthSettingsOf } from "../../src/core/registry/active-checks";
import { instancesAffected, type LifecycleTarget } from "../../src/core/registry/admin-state";
import type { RegistryConfig } from "../../src/core/registry/config";
import { totalInflight } from "../../src/core/registry/inflight";
import type { InstanceRecord, ServiceRecord } from "../../src/core/registry/records";
import { routingHealth, slowStartWeight, strategyOf, timeoutOf } from "../../src/core/registry/routing";
import { instancesOf, type RegistryState } from "../../src/core/registry/state";
import { errorClassOf, withClassPrefix } from "../../src/core/upstream-errors";
import type { AutoscaleView, HealthTarget, InstanceView, LifecycleState, RegistrySnapshot, ServiceView } from "../../src/contracts/registry";

export function registrySnapshot(state: RegistryState, now: number, config: RegistryConfig): RegistrySnapshot {
  return {
    generatedAt: new Date(now).toISOString(),
    services: [...state.services.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => serviceView(state, s, now, config)),
  };
}

export function serviceView(state: RegistryState, service: ServiceRecord, now: number, config: RegistryConfig): ServiceView {
  const views = instancesOf(state, service.name).map((i) => instanceView(i, now, config));
  const active = views.filter((i) => i.adminState === "active");
  const usable = active.filter((i) => i.health !== "unhealthy").length;
  return {
    name: service.name,
    seed: service.seed,
    strategy: strategyOf(service, config),
    strategyIsDefault: service.strategy === null,
    timeoutMs: timeoutOf(service, config),
    websockets: service.websockets,
    affinity: service.affinity,
    adminState: service.adminState,
    status: statusOf(service, active.map((i) => i.health), views.some((i) => i.adminState === "stopped")),
    panic: active.length > 0 && (usable === 0 || (usable / active.length) * 100 < config.health.panicThresholdPercent),
    healthCheck: healthSettingsOf(state, service.name, config),
    lifecycleHook: service.lifecycleHook,
    autoscale: service.autoscalePolicy,
    inflight: views.reduce((sum, i) => sum + i.inflight, 0),
    instances: views,
  };
}

function instanceView(instance: InstanceRecord, now: number, config: RegistryConfig): InstanceView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: instance.id,
    service: instance.service,
    target: instance.target,
    weight: instance.weight,
    static: instance.isStatic,
    adminState: instance.adminState,
    pool: instance.pool,
    checkStatus: instance.checkStatus,
    health: routingHealth(instance, now, config),
    registeredAt: new Date(instance.registeredAt).toISOString(),
    lastHeartbeatAt: iso(instance.lastHeartbeat),
    ttlSeconds: instance.ttlSeconds,
    criticalSince: iso(instance.criticalSince),
    inflight: totalInflight(instance),
    websockets: instance.edgeSockets,
    reportedInflight: instance.reportedInflight,
    cpu: instance.reportedCpu,
    responseTimeMs: instance.latencyEwmaMs === null ? null : Math.round(instance.latencyEwmaMs),
    errorRate: Math.round(instance.errorEwma * 10_000) / 100,
    metadata: instance.metadata,
    version: instance.version,
    activeCheck: {
      status: instance.active.status,
      lastCheckAt: iso(instance.active.lastCheckAt),
      lastResult: instance.active.lastResult,
      lastLatencyMs: instance.active.lastLatencyMs,
      lastError: withClassPrefix(instance.active.lastError),
      lastErrorClass: errorClassOf(instance.active.lastError),
      consecutiveFailures: instance.active.consecutiveFailures,
      consecutiveSuccesses: instance.active.consecutiveSuccesses,
    },
    ejectedUntil: isEjected(instance.outlier, now) ? iso(instance.outlier.ejectedUntil) : null,
    ejectionCount: instance.outlier.ejectionCount,
    effectiveWeight: Math.round(slowStartWeight(instance, now, config) * 100) / 100,
  };
}

/** A service's status from its active instances' health (a stopped service is stopped whatever they say). */
/**
 * A service's status from its active instances' health. A stopped service is stopped whatever they
 * say, and so is one with nothing in rotation because an operator stopped its instances one by one
 * (as its 503 says: "All instances stopped"), rather than one that has no instances.
 */
function statusOf(service: ServiceRecord, activeHealth: readonly HealthStatus[], anyStopped: boolean): ServiceView["status"] {
  return serviceStatus(service.adminState === "stopped" || (activeHealth.length === 0 && anyStopped), activeHealth);
}

/**
 * What MetricsDO adds to /metrics and the Prometheus text: each service's
 * status and each instance's health, in-flight count and version. Built from the
 * records directly: a full snapshot of 500 instances is about 370 KB to
 * build and copy across the call, this about a tenth of it.
 */
export function metricsExtras(state: RegistryState, now: number, config: RegistryConfig): MetricsExtras {
  const extras: Record<string, MetricsExtras[string]> = {};
  for (const service of state.services.values()) {
    const instances: Record<string, { health: HealthStatus; inflight: number; websockets: number; version?: string }> = {};
    const activeHealth: HealthStatus[] = [];
    let anyStopped = false;
    for (const instance of instancesOf(state, service.name)) {
      if (instance.adminState === "stopped") anyStopped = true;
      const health = routingHealth(instance, now, config);
      setOwn(instances, instance.id, { health, inflight: totalInflight(instance), websockets: instance.edgeSockets, ...(instance.version === null ? {} : { version: instance.version }) });
      if (instance.adminState === "active") activeHealth.push(health);
    }
    setOwn(extras, service.name, { status: statusOf(service, activeHealth, anyStopped), instances });
  }
  return extras;
}

/** In-flight count per instance id, for tests and the dashboard. */
export function inflightCounts(state: RegistryState): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const instance of state.instances.values()) setOwn(counts, instance.id, totalInflight(instance));
  return counts;
}

export function lifecycleState(state: RegistryState, target: LifecycleTarget, changed: boolean): LifecycleState {
  return {
    ok: true,
    service: target.service.name,
    instance: target.instance?.id ?? null,
    adminState: (target.instance ?? target.service).adminState,
    inflight: instancesAffected(state, target).reduce((sum, i) => sum + totalInflight(i), 0),
    websockets: instancesAffected(state, target).reduce((sum, i) => sum + i.edgeSockets, 0),
    changed,
  };
}

/** Services with an autoscaling policy, for MetricsDO's loop. */
export function autoscaledServices(state: RegistryState): string[] {
  const names: string[] = [];
  for (const service of state.services.values()) if (service.autoscalePolicy !== null) names.push(service.name);
  return names;
}

/** Services with a policy, or a decision log left from one. */
export function autoscaleViews(state: RegistryState): AutoscaleView[] {
  const views: AutoscaleView[] = [];
  for (const service of state.services.values()) {
    if (service.autoscalePolicy === null && service.autoscaleLog.entries.length === 0) continue;
    const instances = instancesOf(state, service.name);
    views.push({
      service: service.name,
      policy: service.autoscalePolicy,
      current: instances.filter((i) => i.adminState === "active").length,
      standby: instances.filter((i) => i.adminState === "standby").length,
      log: service.autoscaleLog,
    });
  }
  return views;
}

/**
 * What the health sweeper should probe: every instance not stopped, with its service's check
 * settings, the interval its state calls for, and whether it asked for a probe now.
 */
export function healthTargets(state: RegistryState, config: RegistryConfig): HealthTarget[] {
  const targets: HealthTarget[] = [];
  for (const instance of state.instances.values()) {
    // Standby instances are checked too, so the autoscaler only brings in healthy ones.
    if (instance.adminState === "stopped") continue;
    const settings = healthSettingsOf(state, instance.service, config);
    targets.push({
      id: instance.id,
      service: instance.service,
      target: instance.target,
      lastCheckAt: instance.active.lastCheckAt,
      path: settings.path,
      timeoutMs: settings.timeoutMs,
      intervalMs: checkIntervalOf(state, instance, config),
      probeNow: state.probeRequests.has(instance.id),
    });
  }
  return targets;
}
