/**
 * The routing table edge isolates route from (RegistryDO.edgeSync; the shape
 * is FleetTable in src/contracts/registry.ts): every service, its strategy,
 * timeout, WebSocket permission and affinity, its release (the version split,
 * core/registry/release-routing.ts), and its instances in rotation with their
 * health, weight after slow start, load as the registry knows it and version,
 * and how many instances an operator stopped one by one.
 */
import type { RegistryConfig } from "../../src/core/registry/config";
import { totalInflight } from "../../src/core/registry/inflight";
import { routedRelease } from "../../src/core/registry/release-routing";
import { routingCandidate, strategyOf, timeoutOf } from "../../src/core/registry/routing";
import { instancesOf, type RegistryState } from "../../src/core/registry/state";
import type { FleetTable, RouteRelease, ServiceRoute } from "../../src/contracts/registry";

/** `previousVersion`: the last table's, so versions only grow. */
export function buildFleetTable(state: RegistryState, previousVersion: number, now: number, config: RegistryConfig): FleetTable {
  const services: ServiceRoute[] = [];
  for (const service of [...state.services.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const stopped = service.adminState === "stopped";
    const instances = instancesOf(state, service.name);
    services.push({
      service: service.name,
      stopped,
      strategy: strategyOf(service, config),
      timeoutMs: timeoutOf(service, config),
      websockets: service.websockets,
      affinity: service.affinity,
      release: routeReleaseOf(state, service.name),
      instances: stopped
        ? []
        : instances
            .filter((i) => i.adminState === "active")
            .map((i) => {
              const candidate = routingCandidate(i, now, config);
              return { id: i.id, target: i.target, weight: candidate.weight, health: candidate.health, score: candidate.score, inflight: totalInflight(i), version: i.version };
            }),
      stoppedInstances: instances.reduce((n, i) => (i.adminState === "stopped" ? n + 1 : n), 0),
    });
  }
  return {
    // Versions grow across restarts too: the clock in ms, then a counter within the same ms.
    version: Math.max(previousVersion + 1, now * 1000),
    generatedAt: now,
    panicThresholdPercent: config.health.panicThresholdPercent,
    retryBudget: config.health.retryBudget,
    services,
  };
}

function routeReleaseOf(state: RegistryState, serviceName: string): RouteRelease | null {
  const routed = routedRelease(state, serviceName);
  if (routed === null) return null;
  const { id, spec } = routed.release;
  return { id, version: spec.version, weightPercent: routed.weightPercent, stickiness: spec.stickiness, pinHeader: spec.pinHeader, mirrorPercent: spec.mirrorPercent };
}
