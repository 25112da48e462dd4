/**
 * The hot path's consistency bounds, with a model registry and a fake clock:
 * exact at low load, snapshot age never past the TTL, one refresh per TTL
 * however many requests, counts converging to exact after load, no lost
 * outcomes when a report fails, and least-connections drift bounded by one
 * report interval across isolates.
 */
import { describe, expect, it } from "vitest";
import { EdgeRouter, LOCAL_EJECTION_MS, type LocalLease } from "../../src/edge/edge-router";
import type { EdgeReport, RoutingTableResult } from "../../src/registry-contract";

/** Registry model: the sum of every isolate's last reported in-flight counts, and every outcome received. */
class ModelRegistry {
  reports = new Map<string, Record<string, number>>();
  outcomes: Record<string, number> = {};
  fetches = 0;
  failNext = false;
  constructor(readonly instanceIds: string[], readonly strategy: "round-robin" | "least-connections" = "round-robin") {}

  refused: string[] = [];

  apply(report: EdgeReport) {
    this.reports.set(report.isolateId, { ...report.inflight });
    this.refused.push(...(report.refused ?? []));
    for (const [id, list] of Object.entries(report.outcomes)) this.outcomes[id] = (this.outcomes[id] ?? 0) + list.length;
  }

  total(id: string): number {
    let sum = 0;
    for (const r of this.reports.values()) sum += r[id] ?? 0;
    return sum;
  }

  async fetchTable(service: string, report: EdgeReport): Promise<RoutingTableResult> {
    this.fetches++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error("network");
    }
    this.apply(report);
    return {
      ok: true,
      service,
      generatedAt: 0,
      strategy: this.strategy,
      timeoutMs: 1000,
      panicThresholdPercent: 0,
      retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 },
      instances: this.instanceIds.map((id) => ({
        id,
        target: { kind: "url", url: `https://${id}.example.com/` },
        weight: 100,
        health: "healthy",
        score: 100,
        othersInflight: this.total(id) - (report.inflight[id] ?? 0),
      })),
    };
  }
}

function routerFor(registry: ModelRegistry, clock: { now: number }, isolateId = "iso-1") {
  return new EdgeRouter({
    isolateId,
    now: () => clock.now,
    fetchTable: (service, report) => registry.fetchTable(service, report),
    sendReport: async (report) => registry.apply(report),
    snapshotTtlMs: 250,
    lowLoadRps: 20,
  });
}

const ok = { status: 200, durationMs: 5, failure: null } as const;

/** 25 requests inside one second: past the low-load threshold. Returns the picks made locally (the last few). */
async function busy(router: EdgeRouter, clock: { now: number }): Promise<LocalLease[]> {
  const local: LocalLease[] = [];
  for (let i = 0; i < 25; i++) {
    const pick = await router.pick("svc");
    if ("mode" in pick && pick.mode === "local") local.push(pick);
  }
  clock.now += 1;
  return local;
}

describe("EdgeRouter", () => {
  it("stays on the exact path at low load", async () => {
    const registry = new ModelRegistry(["a", "b"]);
    const clock = { now: 1_000 };
    const router = routerFor(registry, clock);
    for (let i = 0; i < 20; i++) {
      expect(await router.pick("svc")).toEqual({ mode: "exact" });
      clock.now += 50;
    }
    expect(registry.fetches).toBe(0);
  });

  it("at load refreshes at most once per TTL, shares one refresh among concurrent picks, and never picks from a table older than the TTL", async () => {
    const registry = new ModelRegistry(["a", "b", "c"]);
    const clock = { now: 1_000 };
    const router = routerFor(registry, clock);
    await busy(router, clock);
    const leases: LocalLease[] = [];
    const fetchesBefore = registry.fetches;
    for (let step = 0; step < 400; step++) {
      const picks = await Promise.all(Array.from({ length: 5 }, () => router.pick("svc")));
      for (const pick of picks) {
        expect("mode" in pick && pick.mode).toBe("local");
        leases.push(pick as LocalLease);
      }
      expect(router.tableAge("svc")).toBeLessThan(250);
      clock.now += 10;
    }
    // 4 s of picks at 10 ms steps with a 250 ms TTL: about 16 refreshes, never one per request.
    expect(registry.fetches - fetchesBefore).toBeLessThanOrEqual(Math.ceil(4000 / 250) + 1);
    for (const lease of leases) router.release(lease, ok);
  });

  it("skips an instance it could not connect to for LOCAL_EJECTION_MS, then tries it again; with every instance skipped it still picks", async () => {
    const registry = new ModelRegistry(["a", "b", "c"]);
    const clock = { now: 1_000 };
    const router = routerFor(registry, clock);
    for (const lease of await busy(router, clock)) router.release(lease, ok);
    const first = (await router.pick("svc")) as LocalLease;
    router.release(first, { status: null, durationMs: 1, failure: "connect" });

    const during: string[] = [];
    for (let i = 0; i < 30; i++) {
      const lease = (await router.pick("svc")) as LocalLease;
      during.push(lease.instanceId);
      router.release(lease, ok);
      clock.now += 10; // 300 ms in all: still inside the ejection
    }
    expect(during).not.toContain(first.instanceId);
    expect(new Set(during).size).toBe(2);
    // The registry heard of the refusal once, with the next report (it ejects the instance for every isolate).
    expect(registry.refused).toEqual([first.instanceId]);

    clock.now += LOCAL_EJECTION_MS;
    const after: string[] = [];
    for (let i = 0; i < 30; i++) {
      const lease = (await router.pick("svc")) as LocalLease;
      after.push(lease.instanceId);
      router.release(lease, ok);
    }
    expect(after).toContain(first.instanceId);

    // Every instance refuses connections: picks go on (a likely failure beats certain refusal).
    for (const id of ["a", "b", "c"]) {
      let lease: LocalLease;
      do {
        lease = (await router.pick("svc")) as LocalLease;
        router.release(lease, lease.instanceId === id ? { status: null, durationMs: 1, failure: "connect" } : ok);
      } while (lease.instanceId !== id);
    }
    const stillPicked = await router.pick("svc");
    expect("mode" in stillPicked && stillPicked.mode).toBe("local");
  });

  it("converges to exact counts after load: every release is reported once, nothing stays in flight", async () => {
    const registry = new ModelRegistry(["a", "b"]);
    const clock = { now: 1_000 };
    const router = routerFor(registry, clock);
    const leases: LocalLease[] = await busy(router, clock);
    const warmup = leases.length;
    for (let i = 0; i < 300; i++) {
      const pick = await router.pick("svc");
      if ("mode" in pick && pick.mode === "local") leases.push(pick);
      if (i % 3 === 0 && leases.length > 0) router.release(leases.shift() as LocalLease, ok);
      clock.now += 7;
    }
    expect(registry.total("a") + registry.total("b")).toBeGreaterThan(0);
    for (const lease of leases) router.release(lease, ok);
    await router.flush();
    expect(router.localInflight()).toEqual({});
    expect(registry.total("a")).toBe(0);
    expect(registry.total("b")).toBe(0);
    expect((registry.outcomes.a ?? 0) + (registry.outcomes.b ?? 0)).toBe(300 + warmup);
  });

  it("loses no outcome when a report fails: it goes out with the next one", async () => {
    const registry = new ModelRegistry(["a"]);
    const clock = { now: 1_000 };
    const router = routerFor(registry, clock);
    await busy(router, clock);
    const first = (await router.pick("svc")) as LocalLease;
    router.release(first, ok);
    clock.now += 300;
    registry.failNext = true;
    await expect(router.pick("svc")).rejects.toThrow("network");
    clock.now += 1;
    const next = (await router.pick("svc")) as LocalLease;
    router.release(next, ok);
    await router.flush();
    // The busy() picks are still in flight; the two released ones are both counted.
    expect(registry.outcomes.a).toBe(2);
  });

  it("least-connections across isolates: each sees the others' load as of their last report", async () => {
    const registry = new ModelRegistry(["a", "b"], "least-connections");
    const clock = { now: 1_000 };
    const one = routerFor(registry, clock, "iso-1");
    const two = routerFor(registry, clock, "iso-2");
    await busy(one, clock);
    await busy(two, clock);
    // Isolate one holds 10 requests on whichever instance it picked; after its next report
    // isolate two sees them and avoids that instance.
    const held: LocalLease[] = [];
    for (let i = 0; i < 10; i++) held.push((await one.pick("svc")) as LocalLease);
    clock.now += 300;
    await one.pick("svc").then((l) => held.push(l as LocalLease));
    clock.now += 300;
    const fromTwo = (await two.pick("svc")) as LocalLease;
    const oneLoad = { a: registry.total("a") - (registry.reports.get("iso-2")?.a ?? 0), b: registry.total("b") - (registry.reports.get("iso-2")?.b ?? 0) };
    const lighter = oneLoad.a <= oneLoad.b ? "a" : "b";
    expect(fromTwo.instanceId).toBe(lighter);
  });
});
