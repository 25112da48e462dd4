/** The one place the Worker finds its singleton Durable Objects, each named "global". */
import { LOCATION_HINTS } from "../config";
import { PerOwnerCache } from "../core/per-owner-cache";

export const REGISTRY_NAME = "global";

/**
 * Ids are kept per namespace: deriving one hashes the name every time, and an
 * id (unlike a stub, which belongs to the request that made it) may be shared
 * by every request an isolate serves.
 */
const ids = new PerOwnerCache((namespace: IdSource, name: string) => namespace.idFromName(name));

interface IdSource {
  idFromName(name: string): DurableObjectId;
}

export function singletonId(namespace: IdSource, name: string): DurableObjectId {
  return ids.get(namespace, name);
}

// The stubs' types come from the generated Env (worker-configuration.d.ts), which names the classes
// src/index.ts exports: nothing here imports the objects.
export function registryStub(env: Env) {
  return env.REGISTRY.get(singletonId(env.REGISTRY, REGISTRY_NAME));
}

export const METRICS_NAME = "global";

export function metricsStub(env: Env) {
  return env.METRICS.get(singletonId(env.METRICS, METRICS_NAME));
}

/**
 * The prober of one shard at one vantage point (MetricsDO's health sweep hands it work).
 * Named `<vantage point>/<shard>`; created at the vantage point's location hint. A hint
 * counts only when an object is first created, so each location keeps its own names.
 */
export function proberName(vantagePoint: string, shard: number): string {
  return `${vantagePoint}/${shard}`;
}

export function proberStub(env: Env, vantagePoint: string, shard: number) {
  const id = singletonId(env.PROBER, proberName(vantagePoint, shard));
  return isLocationHint(vantagePoint) ? env.PROBER.get(id, { locationHint: vantagePoint }) : env.PROBER.get(id);
}

const HINTS: ReadonlySet<string> = new Set(LOCATION_HINTS);

function isLocationHint(name: string): name is DurableObjectLocationHint {
  return HINTS.has(name);
}
