/**
 * Operator lifecycle through the real Worker: stop drains in-flight requests
 * before reporting stopped, stopped services answer 503, start and restart
 * bring them back, every action is idempotent and lands in the audit log in order.
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { registryStub } from "../../src/registry-client";

const KEY = "test-admin-key-0123456789";
const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.30.${nextIp++ % 250}`;

function call(method: string, path: string, authorized = true) {
  return SELF.fetch(`https://orchestrator.test${path}`, {
    method,
    headers: { "cf-connecting-ip": ip(), ...(authorized ? { authorization: `Bearer ${KEY}` } : {}) },
  });
}

async function control(name: string, mode: string, delayMs = 0) {
  return (await (await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}&delayMs=${delayMs}`)).json()) as { hits: number };
}

async function serviceOnUpstream(name: string) {
  const service = `lc-${crypto.randomUUID().slice(0, 8)}`;
  await control(name, "ok");
  const result = await registryStub(env).register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${name}` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
  if (!result.ok) throw new Error(JSON.stringify(result.problem));
  return { service, id: result.id };
}

describe("service lifecycle", () => {
  it("stop waits for an in-flight slow request, then new requests get 503; start brings it back; all audited in order", async () => {
    const name = `slow-${crypto.randomUUID().slice(0, 6)}`;
    const { service } = await serviceOnUpstream(name);
    await control(name, "slow", 1200);

    let slowFinishedAt = 0;
    const slow = call("GET", `/${service}/work`, false).then(async (response) => {
      await response.text();
      slowFinishedAt = Date.now();
      return response.status;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stop = await call("POST", `/admin/workers/${service}/stop`);
    const stoppedAt = Date.now();
    expect(stop.status).toBe(200);
    expect(await stop.json()).toMatchObject({ action: "stop", service, adminState: "stopped", inflight: 0, drained: true, changed: true });
    expect(await slow).toBe(200);
    expect(slowFinishedAt).toBeGreaterThan(0);
    expect(slowFinishedAt).toBeLessThanOrEqual(stoppedAt);

    const refused = await call("GET", `/${service}/work`, false);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { type: string }).type).toBe("urn:orchestrator:problem:service-stopped");
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);

    const again = await call("POST", `/admin/workers/${service}/stop`);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ adminState: "stopped", changed: false });

    await control(name, "ok");
    const start = await call("POST", `/admin/workers/${service}/start`);
    expect(await start.json()).toMatchObject({ adminState: "active", changed: true });
    expect((await call("GET", `/${service}/work`, false)).status).toBe(200);

    const audit = (await (await call("GET", "/admin/audit?limit=20")).json()) as { entries: { action: string; target: string; result: string; actor: string; seq: number }[] };
    const mine = audit.entries.filter((e) => e.target === service).reverse();
    expect(mine.map((e) => e.action)).toEqual(["service.stop", "service.stop", "service.start"]);
    expect(mine.every((e) => e.result === "ok" && /^key:[0-9a-f]{12}$/.test(e.actor))).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(KEY);
    const seqs = mine.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it("stops and starts one instance, leaving the other in rotation", async () => {
    const a = `a-${crypto.randomUUID().slice(0, 6)}`;
    const { service, id } = await serviceOnUpstream(a);
    const second = await registryStub(env).register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${a}-b` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
    if (!second.ok) throw new Error("register failed");
    await control(`${a}-b`, "ok");
    const stop = await call("POST", `/admin/workers/${service}/instances/${id}/stop`);
    expect(await stop.json()).toMatchObject({ instance: id, adminState: "stopped" });
    for (let i = 0; i < 4; i++) {
      const response = await call("GET", `/${service}/who`, false);
      expect(((await response.json()) as { name: string }).name).toBe(`${a}-b`);
    }
    expect((await call("POST", `/admin/workers/${service}/instances/${id}/start`)).status).toBe(200);
  });

  it("restart drains, resets health, calls the lifecycle hook, and returns to rotation", async () => {
    const name = `rs-${crypto.randomUUID().slice(0, 6)}`;
    const hook = `hook-${crypto.randomUUID().slice(0, 6)}`;
    const { service } = await serviceOnUpstream(name);
    await control(hook, "ok");
    const configure = await SELF.fetch(`https://orchestrator.test/admin/services/${service}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "cf-connecting-ip": ip() },
      body: JSON.stringify({ lifecycleHook: { url: `http://127.0.0.1:${port}/i/${hook}` } }),
    });
    expect(configure.status).toBe(200);
    const before = (await control(hook, "ok")).hits;
    const restart = await call("POST", `/admin/workers/${service}/restart`);
    expect(restart.status).toBe(200);
    expect(await restart.json()).toMatchObject({ action: "restart", adminState: "active", drained: true, hook: { called: true, ok: true, status: 200 } });
    expect((await control(hook, "ok")).hits).toBe(before + 1);
    expect((await call("GET", `/${service}/x`, false)).status).toBe(200);
  });

  it("answers 404 problems for unknown services, instances and actions", async () => {
    expect((await call("POST", "/admin/workers/no-such-service/stop")).status).toBe(404);
    expect((await call("POST", "/admin/workers/api/instances/nope/stop")).status).toBe(404);
    const badAction = await call("POST", "/admin/workers/api/explode");
    expect(badAction.status).toBe(404);
    expect(((await badAction.json()) as { field: string }).field).toBe("action");
    expect((await call("POST", "/admin/workers/api/stop", false)).status).toBe(401);
    expect((await call("GET", "/admin/audit?limit=abc")).status).toBe(400);
  });
});
