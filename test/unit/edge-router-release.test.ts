/**
 * A release at the edge: the canary version gets its weight's share, a sticky
 * client stays on its side, a pin header picks a version (and refuses one
 * that does not exist), a rolled-back release sends nothing to the canary, a
 * side with no instance left falls back to the other, and copies for
 * mirroring are only ever of stable-side requests.
 */
import { describe, expect, it } from "vitest";
import type { RouteRelease } from "../../src/contracts/registry";
import type { Strategy } from "../../src/core/balancer/types";
import type { EdgeRouter } from "../../src/edge/edge-router";
import { lease, ModelRegistry, ok, routerFor } from "./support/edge-model";

function fleet(release: Partial<RouteRelease> = {}, strategy: Strategy = "round-robin") {
  const registry = new ModelRegistry(["s1", "s2", "c1"], strategy);
  registry.versions.set("s1", "v1").set("s2", "v1").set("c1", "v2");
  registry.releases.set("svc", { id: "rel-1", version: "v2", weightPercent: 25, stickiness: { source: "header", name: "x-user" }, pinHeader: "x-version", mirrorPercent: 0, ...release });
  return { registry, router: routerFor(registry, { now: 0 }) };
}

const ask = (headers: Record<string, string> = {}) => ({ request: { headers: new Headers(headers), clientIp: "203.0.113.1" } });

async function instanceFor(router: EdgeRouter, headers: Record<string, string> = {}) {
  const picked = lease(await router.pick("svc", ask(headers)));
  router.release(picked, ok);
  return picked;
}

describe("EdgeRouter: releases", () => {
  it("gives the canary version its weight's share of clients, and each client always the same side", async () => {
    const { router } = fleet();
    let canary = 0;
    for (let i = 0; i < 2_000; i++) {
      const first = await instanceFor(router, { "x-user": `u${i}` });
      const again = await instanceFor(router, { "x-user": `u${i}` });
      expect(again.instanceId === "c1").toBe(first.instanceId === "c1");
      if (first.instanceId === "c1") canary++;
    }
    expect(Math.abs(canary / 20 - 25)).toBeLessThan(3);
  });

  it("splits by weight first, whatever the strategy that then picks within the side", async () => {
    for (const strategy of ["round-robin", "least-connections", "weighted", "health-aware"] as const) {
      const { router } = fleet({ weightPercent: 40, stickiness: null }, strategy);
      const perInstance = new Map<string, number>();
      for (let i = 0; i < 2_000; i++) {
        const id = (await instanceFor(router)).instanceId;
        perInstance.set(id, (perInstance.get(id) ?? 0) + 1);
      }
      // The canary (one instance) gets 40 %; the stable side's 60 % is spread over its two instances.
      expect(Math.abs((perInstance.get("c1") ?? 0) / 20 - 40), strategy).toBeLessThan(4);
      expect(perInstance.get("s1"), strategy).toBeGreaterThan(400);
      expect(perInstance.get("s2"), strategy).toBeGreaterThan(400);
    }
  });

  it("weight 0 (rolled back) sends nothing to the canary and weight 100 (promoted) everything", async () => {
    for (const [weight, expectCanary] of [[0, false], [100, true]] as const) {
      const { router } = fleet({ weightPercent: weight });
      for (let i = 0; i < 200; i++) expect((await instanceFor(router, { "x-user": `u${i}` })).instanceId === "c1").toBe(expectCanary);
    }
  });

  it("a pin header picks a version that exists, and an unknown version is a 400 naming the header", async () => {
    const { router } = fleet({ weightPercent: 0 });
    for (let i = 0; i < 20; i++) expect((await instanceFor(router, { "x-version": "v2" })).instanceId).toBe("c1");
    for (let i = 0; i < 20; i++) expect((await instanceFor(router, { "x-version": "v1" })).instanceId).not.toBe("c1");
    const refused = await router.pick("svc", ask({ "x-version": "v9" }));
    expect("ok" in refused && refused.problem).toMatchObject({ status: 400, field: "x-version" });
    expect(router.localInflight()).toEqual({});
  });

  it("a side with no instance in rotation falls back to the other; a pinned version with none is a 503", async () => {
    const { registry, router } = fleet({ weightPercent: 100 });
    registry.stoppedInstances.add("c1");
    router.invalidate();
    expect((await instanceFor(router, { "x-user": "u1" })).instanceId).not.toBe("c1");
    const pinned = await router.pick("svc", ask({ "x-version": "v2" }));
    // v2 has no instance in rotation any more: the pin is refused as unknown.
    expect("ok" in pinned && pinned.problem.status).toBe(400);
  });

  it("mirrors only requests the stable side serves, in about the mirror share, to the canary version", async () => {
    const { router } = fleet({ weightPercent: 10, mirrorPercent: 50, stickiness: null });
    let stable = 0;
    let mirrored = 0;
    for (let i = 0; i < 2_000; i++) {
      const picked = await instanceFor(router);
      if (picked.instanceId === "c1") expect(picked.mirrorTo).toBeNull();
      else {
        stable++;
        if (picked.mirrorTo !== null) {
          expect(picked.mirrorTo).toBe("v2");
          mirrored++;
        }
      }
    }
    expect(Math.abs((mirrored / stable) * 100 - 50)).toBeLessThan(5);
    // The copy's own pick: only the canary version, never counted as a retry.
    const copy = lease(await router.pick("svc", { version: "v2" }));
    expect(copy.instanceId).toBe("c1");
    expect(copy.mirrorTo).toBeNull();
    router.release(copy, ok);
  });

  it("a rolled-back or aborted release (weight 0, still in the table) mirrors nothing", async () => {
    const { router } = fleet({ weightPercent: 0, mirrorPercent: 100, stickiness: null });
    for (let i = 0; i < 50; i++) {
      const picked = await instanceFor(router);
      expect([picked.instanceId === "c1", picked.mirrorTo]).toEqual([false, null]);
    }
  });

  it("without a release every version serves, and a pin header means nothing", async () => {
    const registry = new ModelRegistry(["s1", "c1"]);
    registry.versions.set("s1", "v1").set("c1", "v2");
    const router = routerFor(registry, { now: 0 });
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add((await instanceFor(router, { "x-version": "v9" })).instanceId);
    expect([...seen].sort()).toEqual(["c1", "s1"]);
  });
});
