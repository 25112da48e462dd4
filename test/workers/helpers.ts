import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject } from "vitest";
import { metricsStub, registryStub } from "../../src/platform/stubs";
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

/** Switches one named instance of the controllable upstream (upstream-server.ts) between behaviours. */
export async function controlUpstream(name: string, mode: string, delayMs = 0): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${inject("upstreamPort")}/control/${name}?mode=${mode}&delayMs=${delayMs}`);
  expect(response.status).toBe(200);
}

/**
 * A fresh service (`prefix-…`) with one instance per name on the controllable upstream, each
 * answering "ok", checked every 100 ms with a 300 ms timeout: the health tests' fleet.
 */
export async function fastCheckedService(prefix: string, names: readonly string[]) {
  const service = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  const registry = registryStub(env);
  const ids: string[] = [];
  for (const name of names) {
    await controlUpstream(name, "ok");
    const result = await registry.register({ service, target: { kind: "url", url: `http://127.0.0.1:${inject("upstreamPort")}/i/${name}` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
    if (!result.ok) throw new Error(JSON.stringify(result.problem));
    ids.push(result.id);
  }
  expect((await registry.configureService(service, { healthCheck: { intervalMs: 100, timeoutMs: 300 } })).ok).toBe(true);
  return { service, ids, registry };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One health sweep: wait out a 100 ms interval (plus jitter), then run MetricsDO's alarm now (if its own has not just taken it). */
export async function sweep(): Promise<void> {
  await sleep(130);
  await runDurableObjectAlarm(metricsStub(env));
}

/** Polls a condition while the health loop runs (its own alarm and ours), up to a bound. */
export async function eventuallyWhileSweeping<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not reached in ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await sweep();
  }
}

