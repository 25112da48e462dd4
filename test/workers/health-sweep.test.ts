/**
 * Active health checks driven by MetricsDO's alarm (run on demand with
 * runDurableObjectAlarm) against real loopback upstreams that go down, hang,
 * slow down and flap.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { controlUpstream, eventuallyWhileSweeping, fastCheckedService, sweep } from "./helpers";
import { metricsStub, registryStub } from "../../src/platform/stubs";
import type { InstanceView } from "../../src/contracts/registry";


const control = controlUpstream;

/** A fresh service with one instance per name on the controllable upstream, checked every 100 ms with a 300 ms timeout. */
const serviceWith = (names: string[]) => fastCheckedService("hc", names);


async function instance(service: string, id: string): Promise<InstanceView> {
  const view = await registryStub(env).service(service);
  const found = view?.instances.find((i) => i.id === id);
  if (!found) throw new Error(`no instance ${id}`);
  return found;
}


// The loop's own alarm keeps running while these tests drive it, so they wait
// for outcomes rather than count sweeps; exact counting is the unit tests' job
// (test/unit/health-active.test.ts).
describe("active health checks", () => {
  it("marks a failing instance unhealthy only after `retries` (3) consecutive failures, alerts at alertThreshold (2), and brings it back with slow start", async () => {
    const name = `down-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids } = await serviceWith([name]);
    const id = ids[0] as string;
    await eventuallyWhileSweeping(() => instance(service, id), (v) => v.activeCheck.lastResult === "pass");

    await control(name, "down");
    const unhealthy = await eventuallyWhileSweeping(() => instance(service, id), (v) => v.health === "unhealthy");
    expect(unhealthy.activeCheck.consecutiveFailures).toBeGreaterThanOrEqual(3);
    expect(unhealthy.activeCheck.lastResult).toBe("fail");
    const events = (await metricsStub(env).status()).recentEvents.filter((e) => e.instanceId === id).reverse();
    const threshold = events.find((e) => e.type === "failure-threshold");
    expect(threshold && "consecutiveFailures" in threshold ? threshold.consecutiveFailures : null).toBe(2);
    expect(events.findIndex((e) => e.type === "failure-threshold")).toBeLessThan(events.findIndex((e) => e.type === "status-changed" && e.to === "unhealthy"));

    await control(name, "ok");
    const back = await eventuallyWhileSweeping(() => instance(service, id), (v) => v.health !== "unhealthy");
    expect(back.activeCheck.consecutiveSuccesses).toBeGreaterThanOrEqual(2);
    expect(back.effectiveWeight).toBeLessThan(back.weight);
    expect((await metricsStub(env).status()).recentEvents.some((e) => e.instanceId === id && e.type === "recovered")).toBe(true);
  });

  it("counts a probe that hangs past the timeout as a timeout", async () => {
    const name = `hang-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids } = await serviceWith([name]);
    await control(name, "hang");
    const view = await eventuallyWhileSweeping(() => instance(service, ids[0] as string), (v) => v.activeCheck.lastResult === "timeout");
    expect(view.activeCheck.lastError).toContain("300 ms");
  });

  it("marks a slow instance degraded (DEGRADED_RESPONSE_TIME_MS=300 in the pool) and health-aware routing prefers the fast one", async () => {
    const slow = `slow-${crypto.randomUUID().slice(0, 6)}`;
    const fast = `fast-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids, registry } = await serviceWith([slow, fast]);
    await registry.configureService(service, { strategy: "health-aware", healthCheck: { timeoutMs: 2000 } });
    await control(slow, "slow", 400);
    await eventuallyWhileSweeping(() => instance(service, ids[0] as string), (v) => v.health === "degraded");
    expect((await instance(service, ids[1] as string)).health).toBe("healthy");
    for (let i = 0; i < 10; i++) {
      const lease = await registry.acquire(service);
      expect(lease.ok && lease.instanceId).toBe(ids[1]);
      if (lease.ok) await registry.release(lease.leaseId, { status: 200, durationMs: 5, failure: null });
    }
  });

  it("keeps a flapping instance out of rotation: alternating results never make `rise` passes in a row", async () => {
    const name = `flap-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids } = await serviceWith([name]);
    const id = ids[0] as string;
    await control(name, "error");
    await eventuallyWhileSweeping(() => instance(service, id), (v) => v.health === "unhealthy");
    await control(name, "flap");
    for (let i = 0; i < 8; i++) {
      await sweep();
      const view = await instance(service, id);
      expect(view.health).toBe("unhealthy");
      expect(view.activeCheck.consecutiveSuccesses).toBeLessThan(2);
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
    try {
      await eventuallyWhileSweeping(() => metrics.status(), (s) => s.consecutiveSweepFailures >= 2);
      expect(await runInDurableObject(metrics, (_object, state) => state.storage.getAlarm())).not.toBeNull();
    } finally {
      await runInDurableObject(metrics, (object) => {
        Object.defineProperty(object, "env", { value: env, configurable: true, writable: true });
      });
    }
    await eventuallyWhileSweeping(() => metrics.status(), (s) => s.consecutiveSweepFailures === 0);
    expect(await runInDurableObject(metrics, (_object, state) => state.storage.getAlarm())).not.toBeNull();
  });
});
