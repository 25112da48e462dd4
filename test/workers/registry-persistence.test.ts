import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RegistryDO } from "../../src/index";
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

    // An eviction is a new object over the same storage. Build exactly that inside the
    // object (abortAllDurableObjects would also reset every other test file's objects),
    // and ask it everything from there: its I/O belongs to this object's context.
    const revivedView = await runInDurableObject(registry, async (_object, state) => {
      const revived = new RegistryDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined); // the constructor's schema load has run
      const release = (lease: typeof lease1) => (lease.ok ? revived.release(lease.leaseId, { status: 200, durationMs: 5, failure: null }) : null);
      const snapshot = revived.snapshot();
      const inflightAfterRestart = revived.inflightCounts();
      const releasedOnce = [release(lease1), release(lease2)];
      const inflightAfterRelease = revived.inflightCounts();
      const releasedTwice = release(lease1);
      return { snapshot, inflightAfterRestart, releasedOnce, inflightAfterRelease, releasedTwice, inflightAtEnd: revived.inflightCounts() };
    });
    const after = revivedView.snapshot;
    // Slow start's effective weight moves with the clock; everything else must be identical.
    const timeless = (snapshot: typeof after) =>
      snapshot.services.map((service) => ({ ...service, instances: service.instances.map(({ effectiveWeight: _, ...rest }) => rest) }));
    expect(timeless(after)).toEqual(timeless(before));
    expect(revivedView.inflightAfterRestart).toEqual(inflightBefore);
    const payments = after.services.find((s) => s.name === "payments");
    expect(payments?.strategy).toBe("weighted");
    expect(payments?.timeoutMs).toBe(1234);
    expect(payments?.instances.map((i) => [i.id, i.weight, i.metadata])).toEqual([
      [a, 3, { zone: "a" }],
      [b, 2, {}],
    ]);

    // The smooth-weighted balancer state (cursor and current weights) survived too, so
    // the rotation continues where it was instead of restarting.
    expect(await balancerState(registry)).toBe(balancerBefore);
    expect(JSON.parse(balancerBefore)).toMatchObject({ cursor: expect.any(Number), currentWeights: { [a]: expect.any(Number), [b]: expect.any(Number) } });

    // Releases after the restart bring the counts back to zero; a second release of the
    // same lease changes nothing, so counts never go negative.
    expect(revivedView.releasedOnce).toEqual([true, true]);
    expect(Object.values(revivedView.inflightAfterRelease)).toEqual([0, 0]);
    expect(revivedView.releasedTwice).toBe(false);
    expect(Object.values(revivedView.inflightAtEnd)).toEqual([0, 0]);
  });

  it("always has the six seed services", async () => {
    const registry = freshRegistry();
    const snapshot = await registry.snapshot();
    expect(snapshot.services.filter((s) => s.seed).map((s) => s.name).sort()).toEqual(
      ["analytics", "api", "banking", "frontend", "main-bot", "security"],
    );
  });
});

describe("RegistryDO.metricsExtras", () => {
  it("says what a full snapshot says about each service's status and each instance's health and in-flight count", async () => {
    const registry = freshRegistry();
    const a = await registerOk(registry, urlInstance("payments", 9101));
    await registerOk(registry, urlInstance("payments", 9102));
    const c = await registerOk(registry, urlInstance("ledger", 9103));
    await registerOk(registry, urlInstance("ledger", 9104));
    const lease = await registry.acquire("payments");
    expect(lease.ok).toBe(true);
    expect((await registry.setAdminState("ledger", c, "stopped")).ok).toBe(true);
    expect((await registry.setAdminState("payments", null, "stopped")).ok).toBe(true);

    const [extras, snapshot] = await Promise.all([registry.metricsExtras(), registry.snapshot()]);
    const fromSnapshot = Object.fromEntries(
      snapshot.services.map((s) => [s.name, { status: s.status, instances: Object.fromEntries(s.instances.map((i) => [i.id, { health: i.health, inflight: i.inflight, websockets: i.websockets }])) }]),
    );
    expect(extras).toEqual(fromSnapshot);
    expect(extras.payments?.instances?.[a]).toBeDefined();
    expect(Object.values(extras.payments?.instances ?? {}).reduce((sum, i) => sum + (i.inflight ?? 0), 0)).toBe(1);
    expect(extras.payments?.status).toBe("stopped");
  });
});
