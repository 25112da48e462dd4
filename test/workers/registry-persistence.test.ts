import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { freshRegistry, registerOk, urlInstance } from "./helpers";

/** The persisted balancer state (cursor and smooth-weighted current weights) of "payments". */
function balancerState(stub: ReturnType<typeof freshRegistry>): Promise<string> {
  return runInDurableObject(stub, (_object, state) => state.storage.sql.exec<{ lb_state: string }>("SELECT lb_state FROM services WHERE name = 'payments'").one().lb_state);
}

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
    const balancerBefore = await balancerState(registry);

    await abortAllDurableObjects();
    // Old stubs die with the object; a new one reaches the same id, rebuilt from storage.
    const registryId = registry.id;
    const revived = env.REGISTRY.get(registryId);
    const after = await revived.snapshot();
    // Slow start's effective weight moves with the clock; everything else must be identical.
    const timeless = (snapshot: typeof before) =>
      snapshot.services.map((service) => ({ ...service, instances: service.instances.map(({ effectiveWeight: _, ...rest }) => rest) }));
    expect(timeless(after)).toEqual(timeless(before));
    expect(await revived.inflightCounts()).toEqual(inflightBefore);
    const payments = after.services.find((s) => s.name === "payments");
    expect(payments?.strategy).toBe("weighted");
    expect(payments?.timeoutMs).toBe(1234);
    expect(payments?.instances.map((i) => [i.id, i.weight, i.metadata])).toEqual([
      [a, 3, { zone: "a" }],
      [b, 2, {}],
    ]);

    // The smooth-weighted balancer state (cursor and current weights) survived too, so
    // the rotation continues where it was instead of restarting.
    expect(await balancerState(revived)).toBe(balancerBefore);
    expect(JSON.parse(balancerBefore)).toMatchObject({ cursor: expect.any(Number), currentWeights: { [a]: expect.any(Number), [b]: expect.any(Number) } });

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
