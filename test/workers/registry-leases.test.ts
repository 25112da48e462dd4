/**
 * RegistryDO's wiring of in-flight accounting: lease ids and releases in
 * SQLite, an instance's leases deleted with it, isolate reports through
 * edgeSync, all seen through RPC. The accounting itself is checked against a
 * reference model, over random sequences, in the unit project
 * (test/unit/registry-inflight.property.test.ts).
 */
import { describe, expect, it } from "vitest";
import { STRATEGIES } from "../../src/core/balancer/types";
import type { AcquireResult } from "../../src/contracts/registry";
import { freshRegistry, registerOk, urlInstance } from "./helpers";

const OK = { status: 200, durationMs: 3, failure: null } as const;

function leaseOf(result: AcquireResult) {
  if (!result.ok) throw new Error(`acquire failed: ${JSON.stringify(result.problem)}`);
  return result;
}

describe("RegistryDO in-flight accounting", () => {
  for (const strategy of STRATEGIES) {
    it(`counts leases until released, once each (${strategy})`, async () => {
      const registry = freshRegistry();
      expect((await registry.configureService("leases", { strategy })).ok).toBe(true);
      const a = await registerOk(registry, urlInstance("leases", 9201));
      const b = await registerOk(registry, urlInstance("leases", 9202));
      expect((await registry.register(urlInstance("leases", 9201))).ok).toBe(false); // the same target again

      const leases = [leaseOf(await registry.acquire("leases")), leaseOf(await registry.acquire("leases")), leaseOf(await registry.acquire("leases"))];
      expect(new Set(leases.map((l) => l.leaseId)).size).toBe(3);
      for (const lease of leases) expect([a, b]).toContain(lease.instanceId);
      const held = (id: string) => leases.filter((l) => l.instanceId === id).length;
      expect(await registry.inflightCounts()).toEqual({ [a]: held(a), [b]: held(b) });

      const [first, ...rest] = leases as [(typeof leases)[number], ...typeof leases];
      expect(await registry.release(first.leaseId, OK)).toBe(true);
      expect(await registry.release(first.leaseId, OK)).toBe(false);
      const counts = await registry.inflightCounts();
      expect((counts[a] ?? 0) + (counts[b] ?? 0)).toBe(2);

      for (const lease of rest) expect(await registry.release(lease.leaseId, { status: 503, durationMs: 3, failure: null })).toBe(true);
      expect(await registry.inflightCounts()).toEqual({ [a]: 0, [b]: 0 });
    });
  }

  it("deletes an instance's leases with it: releasing one later changes nothing", async () => {
    const registry = freshRegistry();
    const only = await registerOk(registry, urlInstance("gone", 9211));
    const lease = leaseOf(await registry.acquire("gone"));
    expect((await registry.deregister(only)).ok).toBe(true);
    expect((await registry.deregister(only)).ok).toBe(false);
    expect(await registry.inflightCounts()).toEqual({});
    expect(await registry.release(lease.leaseId, OK)).toBe(false);
    expect((await registry.acquire("gone")).ok).toBe(false);
  });

  it("adds each isolate's last report to the leases, and forgets an isolate that reports nothing", async () => {
    const registry = freshRegistry();
    const a = await registerOk(registry, urlInstance("edge-counted", 9221));
    leaseOf(await registry.acquire("edge-counted"));
    await registry.edgeSync({ isolateId: "one", inflight: { [a]: 2, "no-such-instance": 5 }, outcomes: {} });
    await registry.edgeSync({ isolateId: "two", inflight: { [a]: 3 }, outcomes: {} });
    expect(await registry.inflightCounts()).toEqual({ [a]: 6 });
    // Absolute counts: a new report replaces the isolate's last one.
    await registry.edgeSync({ isolateId: "one", inflight: { [a]: 1 }, outcomes: {} });
    await registry.edgeSync({ isolateId: "two", inflight: {}, outcomes: {} });
    expect(await registry.inflightCounts()).toEqual({ [a]: 2 });
  });
});
