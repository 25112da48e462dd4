/**
 * Load balancing across real instances: round-robin, weighted and
 * least-connections as observed by the upstreams themselves, and the admin
 * endpoint that switches between them.
 *
 * Every pick is the isolate's own, from its routing table with its own
 * balancer state (src/edge/edge-router.ts); wrangler dev runs one isolate, so
 * sequential requests see exact rotations. Under concurrent load only an
 * approximately even spread holds (see "at load" below). Some tests pace
 * their requests (PACE_MS) so that counts reported to the registry settle.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  adminAuth,
  type Echo,
  eventually,
  Fleet,
  gateway,
  putServiceSettings,
  readProblem,
  registryAuth,
  serviceView,
  uniqueService,
} from "./upstreams";

let fleet = new Fleet();
afterEach(async () => {
  await fleet.cleanup();
  fleet = new Fleet();
});

/** ~12 requests/s at most: under the edge's 20/s threshold, so every pick goes through the registry. */
const PACE_MS = 80;

/** Sends `count` requests one after another, starting one at most every `paceMs`, and counts which upstream answered each. */
async function distribution(service: string, count: number, paceMs = PACE_MS): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const wait = previous + paceMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    previous = Date.now();
    const response = await fetch(gateway(`/${service}/who?i=${i}`));
    expect(response.status).toBe(200);
    const { name } = (await response.json()) as Echo;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

describe("strategies", () => {
  it("round-robin (the default) spreads 30 requests over 3 instances exactly 10 each", async () => {
    const service = uniqueService();
    const { upstreams } = await fleet.service(service, 3);
    expect((await serviceView(service))?.strategy).toBe("round-robin");
    const counts = await distribution(service, 30);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(upstreams.map((u) => [u.name, 10])));
  });

  it("weighted 3:1:1 over 50 requests gives 30/10/10", async () => {
    const service = uniqueService();
    const { upstreams, ids } = await fleet.service(service, 3);
    const [id1, id2, id3] = ids as [string, string, string];
    const response = await putServiceSettings(service, { strategy: "weighted", weights: { [id1]: 3, [id2]: 1, [id3]: 1 } });
    expect(response.status).toBe(200);
    const view = (await response.json()) as { strategy: string; instances: Array<{ id: string; weight: number }> };
    expect(view.strategy).toBe("weighted");
    expect(Object.fromEntries(view.instances.map((i) => [i.id, i.weight]))).toEqual({ [id1]: 3, [id2]: 1, [id3]: 1 });

    const counts = await distribution(service, 50);
    const [u1, u2, u3] = upstreams as [(typeof upstreams)[0], (typeof upstreams)[0], (typeof upstreams)[0]];
    expect(Object.fromEntries(counts)).toEqual({ [u1.name]: 30, [u2.name]: 10, [u3.name]: 10 });
  });

  it("weights given at registration are used by the weighted strategy", async () => {
    const service = uniqueService();
    const heavy = await fleet.upstream(`${service}-heavy`);
    const light = await fleet.upstream(`${service}-light`);
    await fleet.register(service, heavy.url, { weight: 4 });
    await fleet.register(service, light.url, { weight: 1 });
    const response = await putServiceSettings(service, { strategy: "weighted" });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const counts = await distribution(service, 25);
    expect(Object.fromEntries(counts)).toEqual({ [heavy.name]: 20, [light.name]: 5 });
  });

  it("least-connections keeps new requests off an instance held busy by a slow request (/delay/3000)", async () => {
    const service = uniqueService();
    const { upstreams, ids } = await fleet.service(service, 3);
    const response = await putServiceSettings(service, { strategy: "least-connections" });
    expect(response.status).toBe(200);
    await response.arrayBuffer();

    const slow = fetch(gateway(`/${service}/delay/3000`)).then(async (r) => ({ status: r.status, echo: (await r.json()) as Echo }));
    // Wait until the slow request is at an upstream. The isolate counts it at once (least-connections
    // picks by that); the registry hears of it with the isolate's next report (EDGE_REPORT_INTERVAL_MS, 5 s).
    const busy = await eventually(async () => upstreams.find((u) => u.active() > 0), 5_000, 20);
    const busyId = ids[upstreams.indexOf(busy)];
    // The registry may not have heard yet (the report can be due later); what matters here is the
    // isolate's own count, which the picks below show.
    const inflight = (await serviceView(service))?.instances.find((i) => i.id === busyId)?.inflight;
    expect([0, 1]).toContain(inflight);

    // Releases land asynchronously (after the body is delivered), so each request
    // waits until the idle instances are back at 0 in flight: the busy one then
    // has strictly more connections than any other.
    const idleIds = ids.filter((id) => id !== busyId);
    const counts = new Map<string, number>();
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, PACE_MS));
      await eventually(async () => {
        const instances = (await serviceView(service))?.instances ?? [];
        return instances.filter((x) => idleIds.includes(x.id)).every((x) => x.inflight === 0) ? true : undefined;
      }, 5_000, 25);
      const answer = await fetch(gateway(`/${service}/who?i=${i}`));
      expect(answer.status).toBe(200);
      const { name } = (await answer.json()) as Echo;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    expect(counts.get(busy.name) ?? 0).toBe(0);
    const others = upstreams.filter((u) => u !== busy);
    expect(others.reduce((sum, u) => sum + (counts.get(u.name) ?? 0), 0)).toBe(8);
    // Ties between the idle instances rotate, so both take traffic.
    for (const other of others) expect(counts.get(other.name) ?? 0).toBeGreaterThan(0);

    const slowResult = await slow;
    expect(slowResult.status).toBe(200);
    expect(slowResult.echo.name).toBe(busy.name);
  });

  it("switching strategy is visible in the registry and to traffic", async () => {
    const service = uniqueService();
    await fleet.service(service, 2);
    const response = await putServiceSettings(service, { strategy: "health-aware" });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { strategy: string }).strategy).toBe("health-aware");
    const listed = await fetch(gateway("/admin/services"), { headers: adminAuth() });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { services: Array<{ name: string; strategy: string; strategyIsDefault: boolean }> };
    expect(body.services.find((s) => s.name === service)).toMatchObject({ strategy: "health-aware", strategyIsDefault: false });
    const counts = await distribution(service, 6);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(6);
  });
});

describe("at load (above the edge's 20 requests/s: snapshot routing in the isolate)", () => {
  // Exact counts do not hold here: the isolate's rotation starts at its own
  // cursor when it switches from the registry's exact path to its snapshot
  // (30 back-to-back requests gave 11/10/9; see the e2e report). What holds
  // is an even spread within a few requests.
  it("round-robin over 60 back-to-back requests stays even within ±3 per instance", async () => {
    const service = uniqueService();
    const { upstreams } = await fleet.service(service, 3);
    const counts = await distribution(service, 60, 0);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(60);
    for (const u of upstreams) {
      expect(counts.get(u.name) ?? 0, u.name).toBeGreaterThanOrEqual(17);
      expect(counts.get(u.name) ?? 0, u.name).toBeLessThanOrEqual(23);
    }
  });
});

describe("PUT /admin/services/{name}", () => {
  it("rejects bad settings with 400 naming the field", async () => {
    const service = uniqueService();
    await fleet.service(service, 1);
    const cases: Array<[unknown, string]> = [
      [{ strategy: "random" }, "strategy"],
      [{ strategy: 3 }, "strategy"],
      [{ timeoutMs: 50 }, "timeoutMs"],
      [{ timeoutMs: 1.5 }, "timeoutMs"],
      [{ weights: { "no-such-instance": 2 } }, "weights.no-such-instance"],
      [{ colour: "red" }, "colour"],
      // Security review finding 8: an array is not an object of weights; a health path may not climb out of the base path.
      [{ weights: [] }, "weights"],
      [{ weights: [2] }, "weights"],
      [{ healthCheck: { path: "/../../up" } }, "healthCheck.path"],
      [{ healthCheck: { path: "/health/./x" } }, "healthCheck.path"],
    ];
    for (const [body, field] of cases) {
      const response = await putServiceSettings(service, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await readProblem(response)).field, JSON.stringify(body)).toBe(field);
    }
    const empty = await putServiceSettings(service, {});
    expect(empty.status).toBe(400);
    await readProblem(empty);
    expect((await serviceView(service))?.strategy).toBe("round-robin");
  });

  it("admin endpoints need the admin key: none, a wrong one or the registration token → 401", async () => {
    const service = uniqueService();
    await fleet.service(service, 1);
    for (const headers of [{}, { authorization: "Bearer wrong-key" }, registryAuth(), { authorization: `bearer ${adminAuth().authorization.slice(7)}` }]) {
      const put = await putServiceSettings(service, { strategy: "weighted" }, headers);
      expect(put.status).toBe(401);
      expect(put.headers.get("www-authenticate")).toMatch(/^Bearer /);
      await readProblem(put);
      const list = await fetch(gateway("/admin/services"), { headers });
      expect(list.status).toBe(401);
      expect(list.headers.get("www-authenticate")).toMatch(/^Bearer /);
      await readProblem(list);
    }
    expect((await serviceView(service))?.strategy).toBe("round-robin");
  });
});
