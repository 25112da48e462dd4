/**
 * Client affinity at the edge: a request carrying the service's key goes to
 * the instance its key hashes to, whatever the strategy; when an instance
 * leaves rotation or turns unhealthy only its keys move, and they come back
 * when it does; requests without the key use the strategy.
 */
import { describe, expect, it } from "vitest";
import type { EdgeRouter } from "../../src/edge/edge-router";
import { lease, ModelRegistry, ok, routerFor, SOFT } from "./support/edge-model";

const IDS = ["a", "b", "c", "d"];

function byUser(user: string | null) {
  const headers = new Headers();
  if (user !== null) headers.set("x-user", user);
  return { headers, clientIp: "203.0.113.9" };
}

async function instanceFor(router: EdgeRouter, user: string | null): Promise<string> {
  const picked = lease(await router.pick("svc", { request: byUser(user) }));
  router.release(picked, ok);
  return picked.instanceId;
}

async function assignments(router: EdgeRouter, users: readonly string[]): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const user of users) map.set(user, await instanceFor(router, user));
  return map;
}

const USERS = Array.from({ length: 400 }, (_, i) => `user-${i}`);

describe("EdgeRouter: client affinity", () => {
  it("keeps each key on one instance across requests, over any strategy, and spreads keys over every instance", async () => {
    for (const strategy of ["round-robin", "least-connections"] as const) {
      const clock = { now: 0 };
      const registry = new ModelRegistry(IDS, strategy);
      registry.affinity.set("svc", { source: "header", name: "x-user" });
      const router = routerFor(registry, clock);
      const first = await assignments(router, USERS);
      const again = await assignments(router, USERS);
      expect(again).toEqual(first);
      const perInstance = new Map<string, number>();
      for (const id of first.values()) perInstance.set(id, (perInstance.get(id) ?? 0) + 1);
      expect([...perInstance.keys()].sort()).toEqual(IDS);
      // 400 keys over 4 equal instances: each gets a fair share (100 ± 40).
      for (const count of perInstance.values()) expect(Math.abs(count - 100)).toBeLessThan(40);
    }
  });

  it("requests without the key use the strategy (round-robin cycles)", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(IDS);
    registry.affinity.set("svc", { source: "header", name: "x-user" });
    const router = routerFor(registry, clock);
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await instanceFor(router, null));
    expect([...seen].sort()).toEqual(IDS);
  });

  it("an instance that leaves rotation or turns unhealthy moves only its own keys, and they come back with it", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(IDS);
    registry.affinity.set("svc", { source: "header", name: "x-user" });
    const router = routerFor(registry, clock);
    const before = await assignments(router, USERS);
    for (const change of ["stop", "unhealthy"] as const) {
      if (change === "stop") registry.stoppedInstances.add("b");
      else registry.unhealthy.add("b");
      router.invalidate();
      const during = await assignments(router, USERS);
      for (const user of USERS) {
        if (before.get(user) === "b") expect(during.get(user)).not.toBe("b");
        else expect(during.get(user)).toBe(before.get(user));
      }
      registry.stoppedInstances.clear();
      registry.unhealthy.clear();
      router.invalidate();
      clock.now += SOFT;
      expect(await assignments(router, USERS)).toEqual(before);
    }
  });

  it("the client IP is a key too, and a retry goes to another instance", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(IDS);
    registry.affinity.set("svc", { source: "ip" });
    const router = routerFor(registry, clock);
    const request = { headers: new Headers(), clientIp: "198.51.100.7" };
    const first = lease(await router.pick("svc", { request }));
    router.release(first, ok);
    const second = lease(await router.pick("svc", { request }));
    expect(second.instanceId).toBe(first.instanceId);
    const retry = lease(await router.pick("svc", { request, exclude: [second.instanceId], retry: true }));
    expect(retry.instanceId).not.toBe(second.instanceId);
    router.release(second, ok);
    router.release(retry, ok);
  });
});
