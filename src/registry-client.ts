/** The one place the Worker finds RegistryDO: a singleton named "global". */
import type { RegistryDO } from "../durable-objects/registry";

export const REGISTRY_NAME = "global";

export function registryStub(env: Env): DurableObjectStub<RegistryDO> {
  const namespace = env.REGISTRY as DurableObjectNamespace<RegistryDO>;
  return namespace.get(namespace.idFromName(REGISTRY_NAME));
}
