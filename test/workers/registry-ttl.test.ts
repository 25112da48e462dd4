import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { freshRegistry, registerOk, sleep, urlInstance } from "./helpers";


// The pool runs with DEREGISTER_CRITICAL_AFTER_SECONDS=3 (test/workers/vitest.config.ts).
describe("RegistryDO TTL expiry", () => {
  it("marks a silent instance critical after its TTL and removes it after the deregistration window, by its own alarm", async () => {
    const registry = freshRegistry();
    const silent = await registerOk(registry, urlInstance("ttl-svc", 9101, { ttlSeconds: 5 }));
    const chatty = await registerOk(registry, urlInstance("ttl-svc", 9102, { ttlSeconds: 5 }));

    // An alarm is armed at the first heartbeat deadline: expiry does not wait for traffic.
    const armedAt = await runInDurableObject(registry, (_instance, state) => state.storage.getAlarm());
    expect(armedAt).not.toBeNull();

    const statusOf = async (id: string) => (await registry.service("ttl-svc"))?.instances.find((i) => i.id === id);
    // t ≈ 6 s: past the TTL (5 s), before removal (5 + 3 s). Nothing but the alarm ran in between.
    for (let i = 0; i < 3; i++) {
      await sleep(2_000);
      const ack = await registry.heartbeat(chatty, { inflight: 1, cpu: 12.5 });
      expect(ack.ok).toBe(true);
    }
    const critical = await statusOf(silent);
    expect(critical?.checkStatus).toBe("critical");
    expect(critical?.health).toBe("unhealthy");
    expect(critical?.criticalSince).not.toBeNull();
    const alive = await statusOf(chatty);
    expect(alive?.checkStatus).toBe("passing");
    expect(alive?.cpu).toBe(12.5);
    expect(alive?.reportedInflight).toBe(1);

    // Critical instances take no traffic while a passing one exists.
    for (let i = 0; i < 5; i++) {
      const lease = await registry.acquire("ttl-svc");
      expect(lease.ok && lease.instanceId).toBe(chatty);
      if (lease.ok) await registry.release(lease.leaseId, { status: 200, durationMs: 1, failure: null });
    }

    // t ≈ 10 s: the deregistration window has passed; the alarm removed it.
    for (let i = 0; i < 2; i++) {
      await sleep(2_000);
      await registry.heartbeat(chatty, {});
    }
    expect(await statusOf(silent)).toBeUndefined();
    expect((await registry.service("ttl-svc"))?.instances.map((i) => i.id)).toEqual([chatty]);
    expect((await registry.heartbeat(silent, {})).ok).toBe(false);
  });

  it("brings a critical instance back to passing when it heartbeats again", async () => {
    const registry = freshRegistry();
    const id = await registerOk(registry, urlInstance("ttl-back", 9103, { ttlSeconds: 5 }));
    await sleep(5_200);
    await runDurableObjectAlarm(registry);
    expect((await registry.service("ttl-back"))?.instances[0]?.checkStatus).toBe("critical");
    const ack = await registry.heartbeat(id, {});
    expect(ack.ok && ack.checkStatus).toBe("passing");
    expect((await registry.service("ttl-back"))?.instances[0]?.health).toBe("healthy");
  });
});
