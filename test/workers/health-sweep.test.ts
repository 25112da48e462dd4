/**
 * Active health checks driven by MetricsDO's alarm (run on demand with
 * runDurableObjectAlarm) against real loopback upstreams that go down, hang,
 * slow down and flap.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { metricsStub, registryStub } from "../../src/registry-client";
import type { InstanceView } from "../../src/registry-contract";

const port = inject("upstreamPort");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function control(name: string, mode: string, delayMs = 0) {
  const response = await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}&delayMs=${delayMs}`);
  expect(response.status).toBe(200);
}

/** A fresh service with one or more instances on the controllable upstream, checked every 100 ms with a 300 ms timeout. */
async function serviceWith(names: string[]) {
  const service = `hc-${crypto.randomUUID().slice(0, 8)}`;
  const registry = registryStub(env);
  const ids: string[] = [];
  for (const name of names) {
    await control(name, "ok");
    const result = await registry.register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${name}` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
    if (!result.ok) throw new Error(JSON.stringify(result.problem));
    ids.push(result.id);
  }
  const configured = await registry.configureService(service, { healthCheck: { intervalMs: 100, timeoutMs: 300 } });
  expect(configured.ok).toBe(true);
  return { service, ids, registry };
}

/** One sweep: wait out the interval (plus jitter), then run the loop's alarm now. */
async function sweep() {
  await sleep(130);
  expect(await runDurableObjectAlarm(metricsStub(env))).toBe(true);
}

async function instance(service: string, id: string): Promise<InstanceView> {
  const view = await registryStub(env).service(service);
  const found = view?.instances.find((i) => i.id === id);
  if (!found) throw new Error(`no instance ${id}`);
  return found;
}

describe("active health checks", () => {
  it("marks an instance unhealthy after exactly `retries` (3) failed probes, alerts at alertThreshold (2), and brings it back after `rise` (2) passes with slow start", async () => {
    const name = `down-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids } = await serviceWith([name]);
    const id = ids[0] as string;
    await sweep();
    expect((await instance(service, id)).activeCheck).toMatchObject({ status: "healthy", lastResult: "pass" });

    await control(name, "down");
    await sweep();
    await sweep();
    let view = await instance(service, id);
    expect(view.activeCheck.consecutiveFailures).toBe(2);
    expect(view.health).not.toBe("unhealthy");
    const status = await metricsStub(env).status();
    expect(status.recentEvents.some((e) => e.instanceId === id && e.type === "failure-threshold")).toBe(true);

    await sweep();
    view = await instance(service, id);
    expect(view.activeCheck.consecutiveFailures).toBe(3);
    expect(view.health).toBe("unhealthy");
    expect(view.activeCheck.lastResult).toBe("fail");

    await control(name, "ok");
    await sweep();
    expect((await instance(service, id)).health).toBe("unhealthy");
    await sweep();
    view = await instance(service, id);
    expect(view.health).not.toBe("unhealthy");
    expect(view.effectiveWeight).toBeLessThan(view.weight);
    expect((await metricsStub(env).status()).recentEvents.some((e) => e.instanceId === id && e.type === "recovered")).toBe(true);
  });

  it("counts a probe that hangs past the timeout as a timeout", async () => {
    const name = `hang-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids } = await serviceWith([name]);
    await control(name, "hang");
    await sweep();
    const view = await instance(service, ids[0] as string);
    expect(view.activeCheck.lastResult).toBe("timeout");
    expect(view.activeCheck.consecutiveFailures).toBe(1);
  });

  it("marks a slow instance degraded (DEGRADED_RESPONSE_TIME_MS=300 in the pool) and health-aware routing prefers the fast one", async () => {
    const slow = `slow-${crypto.randomUUID().slice(0, 6)}`;
    const fast = `fast-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids, registry } = await serviceWith([slow, fast]);
    await registry.configureService(service, { strategy: "health-aware", healthCheck: { timeoutMs: 2000 } });
    await control(slow, "slow", 400);
    for (let i = 0; i < 3; i++) await sweep();
    expect((await instance(service, ids[0] as string)).health).toBe("degraded");
    expect((await instance(service, ids[1] as string)).health).toBe("healthy");
    for (let i = 0; i < 10; i++) {
      const lease = await registry.acquire(service);
      expect(lease.ok && lease.instanceId).toBe(ids[1]);
      if (lease.ok) await registry.release(lease.leaseId, { status: 200, durationMs: 5, failure: null });
    }
  });

  it("keeps a flapping instance out of rotation until it passes `rise` probes in a row", async () => {
    const name = `flap-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids } = await serviceWith([name]);
    const id = ids[0] as string;
    await control(name, "error");
    for (let i = 0; i < 3; i++) await sweep();
    expect((await instance(service, id)).health).toBe("unhealthy");
    for (const mode of ["ok", "error", "ok", "error", "ok", "error"]) {
      await control(name, mode);
      await sweep();
      expect((await instance(service, id)).health).toBe("unhealthy");
    }
  });

  it("re-arms the alarm even when a sweep throws, and recovers on the next one", async () => {
    const metrics = metricsStub(env);
    await runInDurableObject(metrics, (object) => {
      const broken = {
        ...env,
        REGISTRY: {
          idFromName: () => {
            throw new Error("injected registry failure");
          },
        },
      };
      Object.defineProperty(object, "env", { value: broken, configurable: true, writable: true });
    });
    expect(await runDurableObjectAlarm(metrics)).toBe(true);
    expect((await metrics.status()).consecutiveSweepFailures).toBeGreaterThanOrEqual(1);
    expect(await runInDurableObject(metrics, (_object, state) => state.storage.getAlarm())).not.toBeNull();
    expect(await runDurableObjectAlarm(metrics)).toBe(true);
    expect((await metrics.status()).consecutiveSweepFailures).toBeGreaterThanOrEqual(2);

    await runInDurableObject(metrics, (object) => {
      Object.defineProperty(object, "env", { value: env, configurable: true, writable: true });
    });
    await sleep(50);
    expect(await runDurableObjectAlarm(metrics)).toBe(true);
    expect((await metrics.status()).consecutiveSweepFailures).toBe(0);
    expect(await runInDurableObject(metrics, (_object, state) => state.storage.getAlarm())).not.toBeNull();
  });
});
