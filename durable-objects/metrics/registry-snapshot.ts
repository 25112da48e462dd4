/**
 * What MetricsDO takes from a registry snapshot: which instances no longer
 * exist, so their series can be retired. (The extras its metrics views show
 * beside the traffic come from the registry's metricsExtras, which also
 * carries the open WebSocket counts the snapshot lacks.)
 */
import type { RegistrySnapshot } from "../../src/contracts/registry";
import { type MetricsState, removeInstance } from "../../src/core/metrics/aggregate";

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
