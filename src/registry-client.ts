/** The one place the Worker finds its singleton Durable Objects, each named "global". */
import type { MetricsDO } from "../durable-objects/metrics";
import type { RegistryDO } from "../durable-objects/registry";

export const REGISTRY_NAME = "global";

export function registryStub(env: Env): DurableObjectStub<RegistryDO> {
  const namespace = env.REGISTRY as DurableObjectNamespace<RegistryDO>;
  return namespace.get(namespace.idFromName(REGISTRY_NAME));
}

export const METRICS_NAME = "global";

export function metricsStub(env: Env): DurableObjectStub<MetricsDO> {
  const namespace = env.METRICS as DurableObjectNamespace<MetricsDO>;
  return namespace.get(namespace.idFromName(METRICS_NAME));
}
