import { env } from "cloudflare:workers";
import type { RegistryDO } from "../../src/index";
import type { RegisterInput } from "../../src/contracts/registry";

/** A fresh RegistryDO per test (the production one is the singleton "global"). */
export function freshRegistry(): DurableObjectStub<RegistryDO> {
  const namespace = env.REGISTRY;
  return namespace.get(namespace.idFromName(`test-${crypto.randomUUID()}`));
}

export function urlInstance(service: string, port: number, extra: Partial<RegisterInput> = {}): RegisterInput {
  return { service, target: { kind: "url", url: `http://127.0.0.1:${port}/` }, weight: 1, metadata: {}, ...extra };
}

export async function registerOk(registry: DurableObjectStub<RegistryDO>, input: RegisterInput): Promise<string> {
  const result = await registry.register(input);
  if (!result.ok) throw new Error(`register failed: ${JSON.stringify(result.problem)}`);
  return result.id;
}
