/** The one place the Worker finds its singleton Durable Objects, each named "global". */
import type { MetricsDO } from "../durable-objects/metrics";
import type { RegistryDO } from "../durable-objects/registry";
import { PerOwnerCache } from "./core/per-owner-cache";

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

export function registryStub(env: Env): DurableObjectStub<RegistryDO> {
  const namespace = env.REGISTRY as DurableObjectNamespace<RegistryDO>;
  return namespace.get(singletonId(namespace, REGISTRY_NAME));
}

export const METRICS_NAME = "global";

export function metricsStub(env: Env): DurableObjectStub<MetricsDO> {
  const namespace = env.METRICS as DurableObjectNamespace<MetricsDO>;
  return namespace.get(singletonId(namespace, METRICS_NAME));
}
