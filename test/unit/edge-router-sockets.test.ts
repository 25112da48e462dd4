/**
 * Open WebSocket connections in the edge router: counted in flight from the
 * upgrade to the close, reported as sockets, their lease (the isolate's
 * report) renewed every report interval while they are open and nothing else
 * happens, the routing table kept fresh for drains without a registry call
 * per tick, and counts that never go negative and always come back to 0.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LocalLease } from "../../src/edge/edge-router";
import { Background, lease, ModelCache, ModelRegistry, ok, REPORT, routerFor, SOFT } from "./support/edge-model";

const handshake = { status: 101, durationMs: 3, failure: null } as const;

describe("EdgeRouter: open WebSocket connections", () => {
  it("an open connection stays in flight after its handshake and is reported as a socket until it closes", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = routerFor(registry, clock);
    const connection = lease(await router.pick("svc", { websocket: true }));
    router.openSocket(connection, handshake);
    expect(router.localInflight()).toEqual({ a: 1 });
    expect(router.localSockets()).toEqual({ a: 1 });
    clock.now += REPORT;
    await router.flush();
    expect(registry.total("a")).toBe(1);
    expect(registry.sockets("a")).toBe(1);
    // The handshake is an outcome like any request's (health scoring learns from it); the connection's end is not.
    expect(registry.outcomes.a).toBe(1);
    router.closeSocket(connection);
    expect(router.localInflight()).toEqual({});
    expect(router.localSockets()).toEqual({});
    clock.now += SOFT;
    await router.flush();
    expect(registry.total("a")).toBe(0);
    expect(registry.sockets("a")).toBe(0);
    expect(registry.outcomes.a).toBe(1);
    // A second close of the same connection changes nothing.
    expect(router.closeSocket(connection)).toBeNull();
    expect(router.localInflight()).toEqual({});
  });

  it("renews the isolate's lease every report interval while a connection is open and nothing else happens, and stops once it closes", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = routerFor(registry, clock);
    const bg = new Background();
    const connection = lease(await router.pick("svc", { websocket: true }));
    router.openSocket(connection, handshake);
    await router.reportNow();
    const before = registry.syncs;
    // One tick a second for 30 s: a registry call per report interval, not per tick.
    for (let t = 0; t < 30; t++) {
      clock.now += SOFT;
      router.maintain(bg.keepAlive);
      await bg.settle();
    }
    expect(registry.syncs - before).toBeGreaterThanOrEqual(30_000 / REPORT - 1);
    expect(registry.syncs - before).toBeLessThanOrEqual(30_000 / REPORT + 1);
    expect(registry.total("a")).toBe(1);
    router.closeSocket(connection);
    clock.now += SOFT;
    await router.flush();
    const afterClose = registry.syncs;
    for (let t = 0; t < 30; t++) {
      clock.now += SOFT;
      router.maintain(bg.keepAlive);
      await bg.settle();
      await router.flush();
    }
    expect(registry.total("a")).toBe(0);
    // Nothing open, nothing owed: no lease to renew. (maintain still refreshes a stale table at report cadence.)
    expect(registry.syncs - afterClose).toBeLessThanOrEqual(30_000 / REPORT + 1);
  });

  it("between reports, a tick takes the location's shared table (no registry call) and sees an instance leave rotation", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const cache = new ModelCache();
    const router = routerFor(registry, clock, { shared: cache });
    const bg = new Background();
    const connection = lease(await router.pick("svc", { websocket: true }));
    router.openSocket(connection, handshake);
    await router.reportNow();
    expect(router.inRotation(connection.instanceId)).toBe(true);
    // Another isolate of the location fetched a table in which the instance was stopped.
    registry.stoppedInstances.add(connection.instanceId);
    clock.now += SOFT;
    cache.entry = registry.table(clock.now);
    const syncs = registry.syncs;
    router.maintain(bg.keepAlive);
    await bg.settle();
    expect(registry.syncs).toBe(syncs);
    expect(router.inRotation(connection.instanceId)).toBe(false);
    expect(router.inRotation(connection.instanceId === "a" ? "b" : "a")).toBe(true);
  });

  it("without a shared table, a quiet isolate learns of a stop from the registry within a report interval", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = routerFor(registry, clock);
    const bg = new Background();
    const connection = lease(await router.pick("svc", { websocket: true }));
    router.openSocket(connection, handshake);
    await router.reportNow();
    registry.stoppedInstances.add("a");
    let seenAfter: number | null = null;
    for (let t = 1; t <= 10 && seenAfter === null; t++) {
      clock.now += SOFT;
      router.maintain(bg.keepAlive);
      await bg.settle();
      if (!router.inRotation("a")) seenAfter = t * SOFT;
    }
    expect(seenAfter).not.toBeNull();
    expect(seenAfter as number).toBeLessThanOrEqual(REPORT);
  });

  it("a service whose websockets setting is off refuses upgrades with 403 and still serves requests", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    registry.noWebsockets.add("svc");
    const router = routerFor(registry, clock);
    const refused = await router.pick("svc", { websocket: true });
    expect("ok" in refused && refused.problem.status).toBe(403);
    expect("ok" in refused && refused.problem.field).toBe("upgrade");
    expect(router.localInflight()).toEqual({});
    router.release(lease(await router.pick("svc")), ok);
  });

  it("a retried upgrade gives its retry back when the connection opens, not when it closes", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b", "c", "d"]);
    const router = routerFor(registry, clock);
    const open: LocalLease[] = [];
    // Enough connections open that the retry budget allows one retry at a time (budget 20 %, min 3).
    for (let i = 0; i < 4; i++) {
      const connection = lease(await router.pick("svc", { websocket: true }));
      router.openSocket(connection, handshake);
      open.push(connection);
    }
    for (let i = 0; i < 5; i++) {
      const retried = lease(await router.pick("svc", { websocket: true, retry: true }));
      router.openSocket(retried, handshake);
      open.push(retried);
    }
    // Had each retry stayed counted until its connection closed, the budget (3 at once) would have refused the fourth.
    expect(open).toHaveLength(9);
    for (const connection of open) router.closeSocket(connection);
    expect(router.localInflight()).toEqual({});
  });

  it("property: with connections and requests opening and ending in any order, counts never go negative and return to 0 everywhere", async () => {
    type Step = { kind: "request" } | { kind: "upgrade" } | { kind: "end"; index: number } | { kind: "tick"; ms: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.constant<Step>({ kind: "request" }),
      fc.constant<Step>({ kind: "upgrade" }),
      fc.nat(50).map<Step>((index) => ({ kind: "end", index })),
      fc.integer({ min: 1, max: 3 * SOFT }).map<Step>((ms) => ({ kind: "tick", ms })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 80 }), fc.subarray(["a", "b", "c"]), async (steps, stopped) => {
        const clock = { now: 0 };
        const registry = new ModelRegistry(["a", "b", "c"], "least-connections");
        const router = routerFor(registry, clock);
        const bg = new Background();
        const live: { lease: LocalLease; socket: boolean }[] = [];
        for (const s of steps) {
          if (s.kind === "request" || s.kind === "upgrade") {
            const picked = await router.pick("svc", s.kind === "upgrade" ? { websocket: true } : {}, bg.keepAlive);
            if ("ok" in picked) continue;
            if (s.kind === "upgrade") router.openSocket(picked, handshake);
            live.push({ lease: picked, socket: s.kind === "upgrade" });
          } else if (s.kind === "end") {
            if (live.length === 0) continue;
            const [ended] = live.splice(s.index % live.length, 1);
            if (!ended) continue;
            if (ended.socket) router.closeSocket(ended.lease);
            else router.release(ended.lease, ok);
          } else {
            clock.now += s.ms;
            if (clock.now > 10 * SOFT) for (const id of stopped) registry.stoppedInstances.add(id);
            router.maintain(bg.keepAlive);
            await bg.settle();
            await router.flush();
          }
          for (const count of Object.values(router.localInflight())) expect(count).toBeGreaterThan(0);
          const sockets = router.localSockets();
          for (const [id, count] of Object.entries(sockets)) expect(count).toBeLessThanOrEqual(router.localInflight()[id] ?? 0);
          for (const id of ["a", "b", "c"]) expect(registry.sockets(id)).toBeLessThanOrEqual(registry.total(id));
        }
        for (const ended of live.splice(0)) {
          if (ended.socket) router.closeSocket(ended.lease);
          else router.release(ended.lease, ok);
        }
        clock.now += REPORT;
        await bg.settle();
        await router.flush();
        expect(router.localInflight()).toEqual({});
        expect(router.localSockets()).toEqual({});
        for (const id of ["a", "b", "c"]) {
          expect(registry.total(id)).toBe(0);
          expect(registry.sockets(id)).toBe(0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
