/**
 * What MetricsDO takes from a registry snapshot: the per-service extras its
 * metrics views show beside the traffic (status, health, in-flight counts),
 * and which instances no longer exist, so their series can be retired.
 */
import type { RegistrySnapshot } from "../../src/contracts/registry";
import { type MetricsState, removeInstance } from "../../src/core/metrics/aggregate";
import { setOwn } from "../../src/core/metrics/own";
import type { MetricsExtras } from "../../src/core/metrics/view";

/** Keyed by service name and instance id: built with setOwn, so every name is an own key like any other. */
export function extrasFrom(snapshot: RegistrySnapshot): MetricsExtras {
  const extras: Record<string, MetricsExtras[string]> = {};
  for (const service of snapshot.services) {
    const instances: Record<string, { health: (typeof service.instances)[number]["health"]; inflight: number }> = {};
    for (const instance of service.instances) setOwn(instances, instance.id, { health: instance.health, inflight: instance.inflight });
    setOwn(extras, service.name, { status: service.status, instances });
  }
  return extras;
}

/**
 * The metrics without the instances the registry no longer has: their counts move
 * into the service's retired totals, so service and global totals never go down and
 * memory does not grow with every instance that ever registered. The same object
 * when there is nothing to retire.
 */
export function withoutDeregistered(metrics: MetricsState, snapshot: RegistrySnapshot, now: number): MetricsState {
  const known = new Map(snapshot.services.map((s) => [s.name, new Set(s.instances.map((i) => i.id))]));
  let result = metrics;
  for (const [service, serviceMetrics] of Object.entries(metrics.services)) {
    for (const instance of Object.keys(serviceMetrics.instances)) {
      if (known.get(service)?.has(instance)) continue;
      result = removeInstance(result, service, instance, now);
    }
  }
  return result;
}
