/** The one place the Worker finds its singleton Durable Objects, each named "global". */
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
