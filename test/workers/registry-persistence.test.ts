import { abortAllDurableObjects } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { freshRegistry, registerOk, urlInstance } from "./helpers";

describe("RegistryDO persistence", () => {
  it("keeps services, instances, settings, cursors and in-flight leases across eviction", async () => {
    const registry = freshRegistry();
    const a = await registerOk(registry, urlInstance("payments", 9001, { weight: 3, metadata: { zone: "a" } }));
    const b = await registerOk(registry, urlInstance("payments", 9002));
    const configured = await registry.configureService("payments", { strategy: "weighted", timeoutMs: 1234, weights: { [b]: 2 } });
    expect(configured.ok).toBe(true);
    const lease1 = await registry.acquire("payments");
    const lease2 = await registry.acquire("payments");
    expect(lease1.ok && lease2.ok).toBe(true);
    const before = await registry.snapshot();
    const inflightBefore = await registry.inflightCounts();

    await abortAllDurableObjects();
    // Old stubs die with the object; a new one reaches the same id, rebuilt from storage.
    const registryId = registry.id;
    const revived = env.REGISTRY.get(registryId);
    const after = await revived.snapshot();
    expect(after.services).toEqual(before.services);
    expect(await revived.inflightCounts()).toEqual(inflightBefore);
    const payments = after.services.find((s) => s.name === "payments");
    expect(payments?.strategy).toBe("weighted");
    expect(payments?.timeoutMs).toBe(1234);
    expect(payments?.instances.map((i) => [i.id, i.weight, i.metadata])).toEqual([
      [a, 3, { zone: "a" }],
      [b, 2, {}],
    ]);

    // The smooth-weighted cursor state survived too: the sequence continues
    // exactly as if the object had never been evicted.
    const control = freshRegistry();
    const ca = await registerOk(control, urlInstance("payments", 9001, { weight: 3 }));
    const cb = await registerOk(control, urlInstance("payments", 9002));
    await control.configureService("payments", { strategy: "weighted", weights: { [cb]: 2 } });
    await control.acquire("payments");
    await control.acquire("payments");
    const rename = (id: string) => (id === ca ? a : id === cb ? b : id);
    for (let i = 0; i < 10; i++) {
      const [x, y] = await Promise.all([revived.acquire("payments"), control.acquire("payments")]);
      if (!x.ok || !y.ok) throw new Error("acquire failed");
      expect(x.instanceId).toBe(rename(y.instanceId));
      await revived.release(x.leaseId, { status: 200, durationMs: 1, failure: null });
    }

    // Releases after the eviction bring the counts back to zero.
    if (lease1.ok) expect(await revived.release(lease1.leaseId, { status: 200, durationMs: 5, failure: null })).toBe(true);
    if (lease2.ok) expect(await revived.release(lease2.leaseId, { status: 200, durationMs: 5, failure: null })).toBe(true);
    expect(Object.values(await revived.inflightCounts())).toEqual([0, 0]);
    // A second release of the same lease changes nothing: counts never go negative.
    if (lease1.ok) expect(await revived.release(lease1.leaseId, { status: 200, durationMs: 5, failure: null })).toBe(false);
    expect(Object.values(await revived.inflightCounts())).toEqual([0, 0]);
  });

  it("always has the six seed services", async () => {
    const registry = freshRegistry();
    const snapshot = await registry.snapshot();
    expect(snapshot.services.filter((s) => s.seed).map((s) => s.name).sort()).toEqual(
      ["analytics", "api", "banking", "frontend", "main-bot", "security"],
    );
  });
});
