/**
 * TTL health checks (Consul-style): an instance that stops heartbeating turns
 * critical when its TTL runs out and is removed DEREGISTER_CRITICAL_AFTER_SECONDS
 * (3 s in this suite) later; one that heartbeats stays passing. Bounds are
 * loose on purpose: alarms and polling each add their own slack.
 */
import { afterAll, describe, expect, it } from "vitest";
import { type Echo, eventually, Fleet, gateway, heartbeat, type InstanceView, serviceView, uniqueService } from "./upstreams";

const fleet = new Fleet();
afterAll(() => fleet.cleanup());

const POLL_MS = 200;

async function instanceOf(service: string, id: string): Promise<InstanceView | undefined> {
  return (await serviceView(service))?.instances.find((i) => i.id === id);
}

/** Polls until `predicate` holds for the instance (or its absence), returning the time it took. */
async function waitFor(
  service: string,
  id: string,
  predicate: (instance: InstanceView | undefined) => boolean,
  timeoutMs: number,
  onPoll: () => Promise<void> = async () => undefined,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    await onPoll();
    if (predicate(await instanceOf(service, id))) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`instance ${id} did not reach the expected state within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

describe.concurrent("TTL expiry", () => {
  it("without heartbeats an instance turns critical after its TTL, then is removed; a heartbeating one stays passing", async () => {
    const service = uniqueService();
    const silent = await fleet.upstream(`${service}-silent`);
    const alive = await fleet.upstream(`${service}-alive`);
    const registeredAt = Date.now();
    const silentReg = await fleet.register(service, silent.url, { ttlSeconds: 5 });
    const aliveReg = await fleet.register(service, alive.url, { ttlSeconds: 5 });
    expect(silentReg.ttlSeconds).toBe(5);

    let lastBeat = 0;
    const keepAlive = async () => {
      if (Date.now() - lastBeat < 1_000) return;
      lastBeat = Date.now();
      const response = await heartbeat(aliveReg.id);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { checkStatus: string }).checkStatus).toBe("passing");
      const aliveView = await instanceOf(service, aliveReg.id);
      expect(aliveView?.checkStatus).toBe("passing");
    };

    // Critical within ~5–9 s of registering (never well before the TTL).
    await waitFor(service, silentReg.id, (i) => i?.checkStatus === "critical", 14_000, keepAlive);
    const criticalAfter = Date.now() - registeredAt;
    expect(criticalAfter).toBeGreaterThanOrEqual(4_500);
    expect(criticalAfter).toBeLessThan(14_000);
    const critical = await instanceOf(service, silentReg.id);
    expect(critical).toMatchObject({ checkStatus: "critical", health: "unhealthy" });

    // While critical it is out of rotation: traffic goes to the passing instance only, once the
    // isolate's table has caught up (within the soft TTL, 1 s, plus one sync).
    const tableCaughtUpBy = Date.now() + 1_500;
    while (Date.now() < tableCaughtUpBy) {
      const response = await fetch(gateway(`/${service}/which`));
      const name = response.status === 200 ? ((await response.json()) as Echo).name : (await response.arrayBuffer(), null);
      if (name === alive.name && (await instanceOf(service, silentReg.id))?.checkStatus === "critical") {
        // Two in a row to the passing one (round-robin over both would alternate).
        const next = await fetch(gateway(`/${service}/which`));
        if (next.status === 200 && ((await next.json()) as Echo).name === alive.name) break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 4; i++) {
      const response = await fetch(gateway(`/${service}/which`));
      expect(response.status).toBe(200);
      expect(((await response.json()) as Echo).name).toBe(alive.name);
    }

    // Removed DEREGISTER_CRITICAL_AFTER_SECONDS (3 s) after turning critical.
    const removedAfter = await waitFor(service, silentReg.id, (i) => i === undefined, 10_000, keepAlive);
    expect(removedAfter).toBeGreaterThanOrEqual(1_000);
    const heartbeatAfterRemoval = await heartbeat(silentReg.id);
    expect(heartbeatAfterRemoval.status).toBe(404);
    await heartbeatAfterRemoval.arrayBuffer();

    // The heartbeating instance outlived several of its TTLs and is still passing.
    await keepAlive();
    expect(Date.now() - registeredAt).toBeGreaterThan(5_000);
    expect(await instanceOf(service, aliveReg.id)).toMatchObject({ checkStatus: "passing", health: "healthy" });
  });

  it("a service whose only instance expires disappears with it", async () => {
    const service = uniqueService();
    const upstream = await fleet.upstream();
    const { id } = await fleet.register(service, upstream.url, { ttlSeconds: 5 });
    await waitFor(service, id, (i) => i === undefined, 20_000);
    expect(await serviceView(service)).toBeUndefined();
    // The isolate routes from its table until the next refresh: within the soft TTL (1 s) plus one sync.
    const status = await eventually(async () => {
      const response = await fetch(gateway(`/${service}/x`));
      await response.arrayBuffer();
      return response.status === 404 ? response.status : undefined;
    }, 2_000, 100);
    expect(status).toBe(404);
  });

  it("a heartbeat brings a critical instance back to passing before it is removed", async () => {
    const service = uniqueService();
    const upstream = await fleet.upstream();
    const { id } = await fleet.register(service, upstream.url, { ttlSeconds: 5 });
    await waitFor(service, id, (i) => i?.checkStatus === "critical", 14_000);
    const response = await heartbeat(id);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, checkStatus: "passing" });
    expect(await instanceOf(service, id)).toMatchObject({ checkStatus: "passing", health: "healthy" });
    // Past the 3 s removal window it is still registered (and passing: its new TTL has not run out).
    await new Promise((r) => setTimeout(r, 3_500));
    expect(await instanceOf(service, id)).toMatchObject({ checkStatus: "passing" });
  });
});
