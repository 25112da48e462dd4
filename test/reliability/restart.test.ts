/**
 * Restart without loss: the orchestrator on plain workerd with its Durable
 * Objects on disk is killed with SIGKILL in the middle of load and started
 * again on the same storage. Everything an operator or a client told it is
 * still there (instances, weights, admin states, service settings, silences,
 * the audit log), metric totals lose at most the documented batch window, and
 * the background work (TTL expiry, health sweeps, lease reaping) resumes by
 * itself through alarms, before any request reaches the Durable Objects.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Api, type AuditEntry, Connections, durableState, sendRaw, type Snapshot, totalInflight } from "./client";
import { type LoopbackUpstream, startLoopbackUpstream } from "./upstream";
import { Orchestrator, sleep } from "./workerd-harness";

const LEASE_TTL_SECONDS = 10;

interface MetricsTotals {
  readonly global: number;
  readonly shop: number;
}

async function metricsTotals(api: Api): Promise<MetricsTotals> {
  const view = await api.expect<{ global: { totalRequests: number }; workers: Record<string, { totalRequests: number }> }>(200, "GET", "/metrics");
  return { global: view.global.totalRequests, shop: view.workers.shop?.totalRequests ?? 0 };
}

async function silences(api: Api) {
  return (await api.expect<{ silences: Array<{ id: string; comment: string; endsAt: string; matchers: unknown[]; state: string }> }>(200, "GET", "/admin/silences", { auth: "admin" })).silences;
}

/** GETs through the gateway, `concurrency` at a time, until `stop()` is called or the bounds are hit. */
function loadLoop(orchestrator: Orchestrator, path: string, concurrency: number, maxRequests: number, maxMs: number) {
  const connections = new Connections(concurrency);
  let stopped = false;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  const deadline = Date.now() + maxMs;
  const worker = async () => {
    while (!stopped && sent < maxRequests && Date.now() < deadline) {
      sent++;
      try {
        const response = await sendRaw(orchestrator.baseUrl, connections, { method: "GET", path, timeoutMs: 5_000 });
        if (response.status === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).finally(() => connections.destroy());
  return {
    stop: () => {
      stopped = true;
      return done;
    },
    done,
    counts: () => ({ sent, ok, failed }),
  };
}

describe("restart without loss (kill -9 mid-load, same on-disk storage)", () => {
  let orchestrator: Orchestrator;
  let api: Api;
  const upstreams: LoopbackUpstream[] = [];

  beforeAll(async () => {
    orchestrator = new Orchestrator({
      bundle: { dir: inject("reliabilityBundleDir") },
      vars: {
        HEALTH_CHECK_INTERVAL_MS: "500",
        HEALTH_CHECK_TIMEOUT_MS: "1000",
        LEASE_TTL_SECONDS: String(LEASE_TTL_SECONDS),
        // Long, so the expired TTL instance is still listed (critical) when it is checked.
        DEREGISTER_CRITICAL_AFTER_SECONDS: "600",
      },
    });
    await orchestrator.start();
    api = new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken);
    for (const name of ["a", "b", "c"]) upstreams.push(await startLoopbackUpstream(`restart-${name}`));
  });

  afterAll(async () => {
    await orchestrator?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("keeps instances, admin states, weights, silences, audit and metric totals; alarms resume by themselves", async () => {
    const [a, b, c] = upstreams as [LoopbackUpstream, LoopbackUpstream, LoopbackUpstream];
    const register = async (body: Record<string, unknown>) => {
      const result = await api.register(body);
      expect(result.status, result.text).toBe(201);
      return result.json.id;
    };
    // ---- state an operator and clients built up
    const shopA = await register({ service: "shop", url: a.url, weight: 5, metadata: { zone: "a" }, ttlSeconds: 3600 });
    const shopB = await register({ service: "shop", url: b.url, weight: 2, ttlSeconds: 3600 });
    const billing = await register({ service: "billing", url: c.url, ttlSeconds: 3600 });
    // A short TTL: it is heartbeated until the kill, then nothing heartbeats it again.
    const ttlInstance = await register({ service: "ttl-svc", url: a.url, ttlSeconds: 5 });
    await api.expect([200, 201], "PUT", "/admin/services/shop", {
      auth: "admin",
      body: { strategy: "weighted", timeoutMs: 5000, weights: { [shopA]: 7 }, healthCheck: { intervalMs: 500, path: "/healthz" } },
    });
    await api.expect(200, "POST", "/admin/workers/billing/stop", { auth: "admin" });
    await api.expect(200, "POST", `/admin/workers/shop/instances/${shopB}/stop`, { auth: "admin" });
    const silence = await api.expect<{ id: string }>(201, "POST", "/admin/silences", {
      auth: "admin",
      body: { matchers: [{ name: "service", value: "shop" }], durationSeconds: 3600, comment: "restart test", createdBy: "reliability" },
    });
    // ---- proxied traffic, so /metrics has totals
    const warm = loadLoop(orchestrator, "/shop/warm", 8, 400, 20_000);
    await warm.done;
    expect(warm.counts()).toMatchObject({ sent: 400, ok: 400, failed: 0 });
    // Past the edge's flush (METRICS_FLUSH_INTERVAL_MS = 1 s) and MetricsDO's persist interval (2 s).
    await sleep(4_000);
    await api.expect(200, "PUT", `/registry/instances/${ttlInstance}/heartbeat`, { auth: "registration" });

    const before: Snapshot = await api.snapshot();
    const auditBefore: AuditEntry[] = await api.audit();
    const silencesBefore = await silences(api);
    const totalsBefore = await metricsTotals(api);
    expect(totalsBefore.shop).toBeGreaterThanOrEqual(400);
    expect(auditBefore.map((e) => e.action)).toEqual(["service.configure", "service.stop", "instance.stop", "silence.create"]);

    // ---- load, then SIGKILL in the middle of it
    const load = loadLoop(orchestrator, "/shop/load", 16, 20_000, 10_000);
    const heartbeatsUntil = Date.now() + 15_000;
    const heartbeats = (async () => {
      while (orchestrator.pid !== null && Date.now() < heartbeatsUntil) {
        await api.call("PUT", `/registry/instances/${ttlInstance}/heartbeat`, { auth: "registration", timeoutMs: 2_000 }).catch(() => undefined);
        await sleep(200);
      }
    })();
    await sleep(1_500);
    const midLoad = load.counts();
    expect(midLoad.ok, "load was flowing when the process was killed").toBeGreaterThan(50);
    const pid = orchestrator.pid as number;
    await orchestrator.kill();
    const killedAt = Date.now();
    expect(() => process.kill(pid, 0), "workerd is gone").toThrow();
    await load.stop();
    await heartbeats;
    const sentDuringLoad = load.counts().sent;

    // ---- start again on the same storage; nothing but GET /health (no Durable Object) until the checks
    await orchestrator.start();
    const restartedAt = Date.now();
    // The TTL instance's deadline (last heartbeat + 5 s) passes while nothing talks to the registry.
    await sleep(Math.max(0, killedAt + 8_000 - Date.now()));
    const firstLookAt = Date.now();
    const after = await api.snapshot();

    // Alarms resumed by themselves: the registry marked the silent instance critical, and MetricsDO's
    // health sweeps probed the instances, all before this first request reached either object.
    const ttlView = after.services.find((s) => s.name === "ttl-svc")?.instances.find((i) => i.id === ttlInstance);
    expect(ttlView?.checkStatus).toBe("critical");
    expect(Date.parse(ttlView?.criticalSince ?? "")).toBeLessThanOrEqual(firstLookAt);
    const shopAView = after.services.find((s) => s.name === "shop")?.instances.find((i) => i.id === shopA);
    const lastCheck = Date.parse(shopAView?.activeCheck.lastCheckAt ?? "");
    expect(lastCheck).toBeGreaterThan(restartedAt);
    expect(lastCheck).toBeLessThanOrEqual(firstLookAt);

    // Everything that was configured or registered is as it was.
    expect(durableState(after)).toEqual(durableState(before));
    const shop = after.services.find((s) => s.name === "shop");
    expect(shop).toMatchObject({ strategy: "weighted", timeoutMs: 5000, adminState: "active", healthCheck: { intervalMs: 500, path: "/healthz" } });
    expect(shop?.instances.map((i) => [i.id, i.weight, i.adminState])).toEqual([
      [shopA, 7, "active"],
      [shopB, 2, "stopped"],
    ]);
    expect(after.services.find((s) => s.name === "billing")).toMatchObject({ adminState: "stopped", instances: [{ id: billing }] });
    expect(await silences(api)).toEqual(silencesBefore.map((s) => ({ ...s, state: "active" })));
    expect(silencesBefore.map((s) => s.id)).toEqual([silence.id]);
    expect(await api.audit()).toEqual(auditBefore);

    // Metric totals: nothing that was persisted before the load is lost; of the requests sent during
    // the load, at most all are missing (the last flush and persist windows), none is counted twice.
    const totalsAfter = await metricsTotals(api);
    expect(totalsAfter.shop).toBeGreaterThanOrEqual(totalsBefore.shop);
    expect(totalsAfter.shop).toBeLessThanOrEqual(totalsBefore.shop + sentDuringLoad);
    expect(totalsAfter.global).toBeGreaterThanOrEqual(totalsBefore.global);

    // The gateway serves again, and the leases the crash left open are reaped by the registry's alarm.
    const served = await api.call("GET", "/shop/after-restart");
    expect(served.status).toBe(200);
    const reapDeadline = killedAt + (LEASE_TTL_SECONDS + 10) * 1000;
    let inflight = totalInflight(await api.snapshot());
    while (inflight !== 0 && Date.now() < reapDeadline) {
      await sleep(250);
      inflight = totalInflight(await api.snapshot());
    }
    expect(inflight).toBe(0);
    // Health sweeps keep going: lastCheckAt moves on without further requests to the instance.
    let laterCheck = lastCheck;
    for (let i = 0; i < 40 && laterCheck <= lastCheck; i++) {
      await sleep(250);
      const later = (await api.snapshot()).services.find((s) => s.name === "shop")?.instances.find((x) => x.id === shopA);
      laterCheck = Date.parse(later?.activeCheck.lastCheckAt ?? "");
    }
    expect(laterCheck).toBeGreaterThan(lastCheck);
    console.log(
      `[restart] killed pid ${pid} after ${midLoad.sent} load requests in 1.5 s (${sentDuringLoad} sent in all); totals shop ${totalsBefore.shop} -> ${totalsAfter.shop} ` +
        `(lost window allowance ${sentDuringLoad}); ${auditBefore.length} audit entries, ${silencesBefore.length} silence, ${before.services.length} services kept; ` +
        `TTL instance critical at ${ttlView?.criticalSince} (first request at ${new Date(firstLookAt).toISOString()}); in-flight back to 0 ${Date.now() - killedAt} ms after the kill`,
    );
  });
});
