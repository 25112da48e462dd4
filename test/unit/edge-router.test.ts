/**
 * The hot path's consistency bounds, with a model registry, a model location
 * cache and a fake clock: picks answered from the table at any load, a
 * background refresh per soft TTL (one at a time), a wait only without a
 * table or past the hard TTL, a refresh that fails or stalls, table versions,
 * reports (their cadence, urgency and loss), least-connections across
 * isolates, and local ejection.
 */
import { describe, expect, it } from "vitest";
import { AWAITED_SYNC_TIMEOUT_MS, type EdgePick, EdgeRouter, LOCAL_EJECTION_MS, MIN_FLUSH_DELAY_MS } from "../../src/edge/edge-router";
import type { FleetTable } from "../../src/contracts/registry";
import { Background, HARD, lease, ModelCache, ModelRegistry, ok, REPORT, routerFor, SOFT } from "./support/edge-model";

describe("EdgeRouter", () => {
  it("waits for the registry only for its first table, then answers every pick synchronously at any rate", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const router = routerFor(registry, clock);
    const bg = new Background();
    const first = router.pick("svc", {}, bg.keepAlive);
    expect(first).toBeInstanceOf(Promise);
    router.release(lease(await first), ok);
    let waited = 0;
    // 2 requests a second for a minute: a low rate, the case that used to await the registry.
    for (let i = 0; i < 120; i++) {
      clock.now += 500;
      const pick = router.pick("svc", {}, bg.keepAlive);
      if (pick instanceof Promise) waited++;
      router.release(lease(await pick), ok);
      await bg.settle();
    }
    expect(waited).toBe(0);
    // One background sync per soft TTL at most: 60 s → about 60, never one per request.
    expect(registry.syncs).toBeLessThanOrEqual(61);
    expect(registry.syncs).toBeGreaterThanOrEqual(30);
  });

  it("refreshes in the background once the soft TTL passes, one sync at a time, while picks keep using the table", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const router = routerFor(registry, clock);
    const bg = new Background();
    router.release(lease(await router.pick("svc", {}, bg.keepAlive)), ok);
    expect(registry.syncs).toBe(1);
    clock.now += SOFT;
    registry.plan.push("hang");
    for (let i = 0; i < 50; i++) {
      const pick = router.pick("svc", {}, bg.keepAlive);
      expect(pick).not.toBeInstanceOf(Promise);
      router.release(lease(pick as EdgePick), ok);
    }
    expect(registry.syncs).toBe(2);
    expect(router.tableAge()).toBe(SOFT);
    registry.hung.splice(0).forEach((resume) => resume());
    await bg.settle();
    expect(router.tableAge()).toBe(0);
  });

  it("a stalled refresh does not block the next one past SYNC_STALL_MS, and a hard-TTL table makes the request wait", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = routerFor(registry, clock);
    const bg = new Background();
    router.release(lease(await router.pick("svc", {}, bg.keepAlive)), ok);
    registry.plan.push("hang");
    clock.now += SOFT;
    router.pick("svc", {}, bg.keepAlive);
    expect(registry.syncs).toBe(2);
    clock.now += 2_500;
    router.pick("svc", {}, bg.keepAlive);
    expect(registry.syncs).toBe(3);
    await Promise.race([bg.settle(), new Promise((r) => setTimeout(r, 10))]);
    clock.now += HARD;
    const pick = router.pick("svc", {}, bg.keepAlive);
    expect(pick).toBeInstanceOf(Promise);
    lease(await pick);
    expect(router.tableAge()).toBe(0);
  });

  it("when the registry fails, keeps routing from the table it has (even past the hard TTL) and does not ask again per request", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const router = routerFor(registry, clock);
    const bg = new Background();
    router.release(lease(await router.pick("svc", {}, bg.keepAlive)), ok);
    clock.now += HARD + 1;
    registry.plan.push("fail", "fail", "fail");
    const waited = router.pick("svc", {}, bg.keepAlive);
    expect(waited).toBeInstanceOf(Promise);
    router.release(lease(await waited), ok);
    const syncsAfterFailure = registry.syncs;
    for (let i = 0; i < 20; i++) {
      const pick = router.pick("svc", {}, bg.keepAlive);
      expect(pick).not.toBeInstanceOf(Promise);
      router.release(lease(pick as EdgePick), ok);
    }
    await bg.settle();
    expect(registry.syncs).toBe(syncsAfterFailure);
    // Once the back-off has passed it asks again, and a good answer brings a fresh table.
    clock.now += 1_000;
    registry.plan.length = 0;
    lease(await router.pick("svc", {}, bg.keepAlive));
    expect(router.tableAge()).toBe(0);
  });

  it("without any table and without the registry: 503 after the first sync's timeout, never a hang", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    registry.plan.push("fail");
    const router = routerFor(registry, clock);
    const pick = await router.pick("svc");
    expect("ok" in pick && pick.problem.status).toBe(503);
  });

  it("a request waiting on a slow registry with a table to fall back on gives up after AWAITED_SYNC_TIMEOUT_MS", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = routerFor(registry, clock);
    router.release(lease(await router.pick("svc")), ok);
    router.invalidate();
    registry.plan.push("hang");
    const started = Date.now();
    const pick = await router.pick("svc");
    expect(lease(pick).instanceId).toBe("a");
    expect(Date.now() - started).toBeGreaterThanOrEqual(AWAITED_SYNC_TIMEOUT_MS - 50);
    registry.hung.splice(0).forEach((resume) => resume());
  });

  it("never swaps its table for an older version, and takes a newer fresh one from the location cache without a registry call", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const cache = new ModelCache();
    const one = routerFor(registry, clock, { isolateId: "one", shared: cache });
    const two = routerFor(registry, clock, { isolateId: "two", shared: cache });
    const bg = new Background();
    lease(await one.pick("svc", {}, bg.keepAlive));
    expect(registry.syncs).toBe(1);
    // A cold isolate of the same location starts from the cached copy.
    lease(await two.pick("svc", {}, bg.keepAlive));
    expect(registry.syncs).toBe(1);
    expect(two.tableVersion()).toBe(one.tableVersion());
    // An older entry in the cache is never taken over a newer table.
    const old = cache.entry as FleetTable;
    clock.now += SOFT;
    await one.reportNow();
    one.invalidate();
    lease(await one.pick("svc", {}, bg.keepAlive));
    const newer = one.tableVersion() as number;
    cache.entry = { ...old, generatedAt: clock.now };
    clock.now += SOFT;
    one.pick("svc", {}, bg.keepAlive);
    await bg.settle();
    expect(one.tableVersion()).toBeGreaterThan(newer - 1);
    expect(one.tableVersion()).not.toBe(old.version);
  });

  it("a stopped service answers 503 service-stopped and an unknown one 404, from the table", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    registry.stopped.add("svc");
    const router = routerFor(registry, clock);
    const stopped = await router.pick("svc");
    expect("ok" in stopped && stopped.problem.type).toBe("urn:orchestrator:problem:service-stopped");
    const unknown = await router.pick("nope");
    expect("ok" in unknown && unknown.problem.status).toBe(404);
    // Names that are properties of every plain object are names like any other.
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const pick = await router.pick(name);
      expect("ok" in pick && pick.problem.status, name).toBe(404);
    }
  });

  it("a service registered elsewhere is routable at once: an unknown name waits for one sync, at most once per soft TTL", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = routerFor(registry, clock);
    router.release(lease(await router.pick("svc")), ok);
    registry.services.fresh = ["f1"];
    clock.now += 10;
    const first = router.pick("fresh");
    expect(first).toBeInstanceOf(Promise);
    expect(lease(await first).instanceId).toBe("f1");
    const syncs = registry.syncs;
    // Made-up names cost no registry call within the soft TTL: 404 from the table.
    for (let i = 0; i < 100; i++) {
      const pick = router.pick(`made-up-${i}`);
      expect(pick).not.toBeInstanceOf(Promise);
      expect("ok" in (pick as EdgePick) && (pick as { problem: { status: number } }).problem.status).toBe(404);
    }
    expect(registry.syncs).toBe(syncs);
  });

  it("requests for a just-registered service arriving together all wait for the one sync and are routed", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = new EdgeRouter({ isolateId: "iso", now: () => clock.now, sync: (report) => registry.sync(report, clock), softTtlMs: SOFT, wait: () => new Promise((r) => setTimeout(r, 1)) });
    router.release(lease(await router.pick("svc")), ok);
    registry.services.fresh = ["f1", "f2"];
    registry.plan.push("hang");
    clock.now += 10;
    const picks = Array.from({ length: 6 }, () => router.pick("fresh"));
    expect(registry.syncs).toBe(2);
    await new Promise((r) => setTimeout(r, 5));
    registry.hung.splice(0).forEach((resume) => resume());
    const settled = await Promise.all(picks);
    expect(settled.map((p) => lease(p).service)).toEqual(Array(6).fill("fresh"));
    expect(registry.syncs).toBe(2);
  });

  it("an operator's change through this isolate applies at its next request (it waits for the registry once)", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a"]);
    const router = routerFor(registry, clock);
    router.release(lease(await router.pick("svc")), ok);
    registry.stopped.add("svc");
    router.invalidate();
    const pick = router.pick("svc");
    expect(pick).toBeInstanceOf(Promise);
    const answered = await pick;
    expect("ok" in answered && answered.problem.type).toBe("urn:orchestrator:problem:service-stopped");
    expect(router.pick("svc")).not.toBeInstanceOf(Promise);
  });

  it("reports at the report interval when nothing is urgent, within a soft TTL of the last call when it is", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const router = routerFor(registry, clock);
    // A request on an instance the registry believes idle is urgent news (a drain would wait for it).
    const held = lease(await router.pick("svc", { exclude: ["b"] }));
    expect(router.urgentReportDelay()).toBe(SOFT);
    clock.now += SOFT;
    expect(await router.flush()).toBeNull();
    expect(registry.total("a")).toBe(1);
    // The registry knows of one on a: another one there, ending, is routine: due a report interval after the last.
    clock.now += 100;
    const second = lease(router.pick("svc", { exclude: ["b"] }) as EdgePick);
    expect(router.urgentReportDelay()).toBeNull();
    expect(router.release(second, ok)).toBe(REPORT - 100);
    const syncs = registry.syncs;
    expect(await router.flush()).toBe(REPORT - 100);
    expect(registry.syncs).toBe(syncs);
    // A failure is urgent: due a soft TTL after the last registry call, and one sync carries everything.
    clock.now += 100;
    expect(router.release(lease(router.pick("svc", { exclude: ["b"] }) as EdgePick), { status: 503, durationMs: 5, failure: null })).toBe(SOFT - 200);
    clock.now = 2 * SOFT;
    expect(await router.flush()).toBeNull();
    expect(registry.syncs).toBe(syncs + 1);
    expect(registry.outcomes).toEqual({ a: 2 });
    // The last request in flight ending, long after the last call: as soon as a flush can run.
    clock.now += 2 * SOFT;
    expect(router.release(held, ok)).toBe(MIN_FLUSH_DELAY_MS);
    clock.now += MIN_FLUSH_DELAY_MS;
    expect(await router.flush()).toBeNull();
    expect(registry.total("a")).toBe(0);
    // An instance the table no longer has in rotation: the drain waiting on it hears within a
    // soft TTL of the last registry call (never more than one call per soft TTL).
    const draining = lease(router.pick("svc") as EdgePick);
    registry.stopped.add("svc");
    router.invalidate();
    await router.pick("svc");
    clock.now += 10;
    expect(router.release(draining, ok)).toBe(SOFT - 10);
  });

  it("loses no outcome and no refusal when a report fails: they go out with the next one", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const router = routerFor(registry, clock);
    for (let i = 0; i < 4; i++) router.release(lease(await router.pick("svc")), i === 0 ? { status: null, durationMs: 1, failure: "connect" } : ok);
    clock.now += SOFT;
    registry.plan.push("fail");
    await expect(router.flush()).rejects.toThrow("registry unreachable");
    clock.now += SOFT;
    expect(await router.flush()).toBeNull();
    expect((registry.outcomes.a ?? 0) + (registry.outcomes.b ?? 0)).toBe(4);
    expect(registry.refused).toHaveLength(1);
  });

  it("converges to exact counts after load: every release reported, nothing left in flight", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b", "c"]);
    const routers = ["x", "y", "z"].map((isolateId) => routerFor(registry, clock, { isolateId }));
    const bg = new Background();
    const open: { router: EdgeRouter; lease: LocalLease }[] = [];
    for (let i = 0; i < 300; i++) {
      const router = routers[i % 3] as EdgeRouter;
      open.push({ router, lease: lease(await router.pick("svc", {}, bg.keepAlive)) });
      if (i % 4 === 3) {
        const done = open.splice(0, 3);
        for (const o of done) o.router.release(o.lease, ok);
      }
      clock.now += 7;
      await bg.settle();
    }
    for (const o of open.splice(0)) o.router.release(o.lease, ok);
    clock.now += REPORT;
    for (const router of routers) while ((await router.flush()) !== null) clock.now += REPORT;
    for (const id of ["a", "b", "c"]) expect(registry.total(id), id).toBe(0);
    expect(Object.values(registry.outcomes).reduce((a, b) => a + b, 0)).toBe(300);
    for (const router of routers) expect(router.localInflight()).toEqual({});
  });

  it("least-connections: its own counts exactly, the other isolates' as of their last report", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"], "least-connections");
    const one = routerFor(registry, clock, { isolateId: "one" });
    const two = routerFor(registry, clock, { isolateId: "two" });
    // Isolate one holds 4 requests, spread 2/2 over a and b by its own exact counts.
    const held = [];
    for (let i = 0; i < 4; i++) held.push(lease(await one.pick("svc")));
    expect(held.filter((l) => l.instanceId === "a")).toHaveLength(2);
    // Then 3 more on a alone, by excluding b: one has 5 on a, 2 on b.
    for (let i = 0; i < 3; i++) held.push(lease(await one.pick("svc", { exclude: ["b"] })));
    await one.reportNow();
    // Isolate two, whose table counts one's report, sends its requests to b.
    const picks = [];
    for (let i = 0; i < 3; i++) picks.push(lease(await two.pick("svc")).instanceId);
    expect(picks).toEqual(["b", "b", "b"]);
    // Isolate one's next table counts its own report too; it does not count itself twice.
    one.invalidate();
    expect(lease(await one.pick("svc")).instanceId).toBe("b");
  });

  it("skips an instance it could not connect to for LOCAL_EJECTION_MS and reports it; with every instance skipped it still picks", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const router = routerFor(registry, clock);
    const first = lease(await router.pick("svc"));
    router.release(first, { status: null, durationMs: 1, failure: "connect" });
    for (let i = 0; i < 10; i++) {
      const pick = lease(router.pick("svc") as EdgePick);
      expect(pick.instanceId).not.toBe(first.instanceId);
      router.release(pick, ok);
    }
    const other = first.instanceId === "a" ? "b" : "a";
    router.release(lease(router.pick("svc", { exclude: [] }) as EdgePick), ok);
    const both = lease(router.pick("svc", { exclude: [other] }) as EdgePick);
    expect(both.instanceId).toBe(first.instanceId);
    router.release(both, ok);
    clock.now += LOCAL_EJECTION_MS;
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const pick = lease(router.pick("svc") as EdgePick);
      seen.add(pick.instanceId);
      router.release(pick, ok);
    }
    expect(seen).toEqual(new Set(["a", "b"]));
    await router.reportNow();
    expect(registry.refused).toEqual([first.instanceId]);
  });

  it("keeps to the retry budget with its own counts", async () => {
    const clock = { now: 0 };
    const registry = new ModelRegistry(["a", "b"]);
    const router = routerFor(registry, clock);
    const held = [];
    for (let i = 0; i < 3; i++) held.push(lease(await router.pick("svc", { retry: true })));
    // minRetryConcurrency 3: a fourth concurrent retry is refused.
    const fourth = await router.pick("svc", { retry: true });
    expect("ok" in fourth && fourth.problem.title).toBe("Retry budget exhausted");
    router.release(held[0] as LocalLease, ok);
    lease(await router.pick("svc", { retry: true }));
  });
});
