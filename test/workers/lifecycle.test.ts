/**
 * Operator lifecycle through the real Worker: stop drains in-flight requests
 * before reporting stopped, stopped services answer 503, start and restart
 * bring them back, every action is idempotent and lands in the audit log in order.
 * Restart's hook call is signed; without LIFECYCLE_HOOK_SECRET no hook is set or called.
 */
import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import worker from "../../src/index";
import { registryStub } from "../../src/platform/stubs";

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

interface ReceivedPost {
  path: string;
  body: string;
  status: number;
  timestamp: string | null;
  signature: string | null;
  hookSignature: { ok: boolean; reason?: string };
}

async function control(name: string, mode: string, delayMs = 0) {
  return (await (await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}&delayMs=${delayMs}`)).json()) as { hits: number; received: ReceivedPost[] };
}

function configureHook(service: string, lifecycleHook: unknown) {
  return SELF.fetch(`https://orchestrator.test/admin/services/${service}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "cf-connecting-ip": ip() },
    body: JSON.stringify({ lifecycleHook }),
  });
}

/**
 * The real Worker, with this pool's bindings minus LIFECYCLE_HOOK_SECRET: a
 * deployment that never set it. (The registry is the same object as SELF's.)
 */
async function callWithoutHookSecret(method: string, path: string, body?: unknown) {
  const { LIFECYCLE_HOOK_SECRET: _omitted, ...withoutSecret } = env as Env & { LIFECYCLE_HOOK_SECRET?: string };
  const ctx = createExecutionContext();
  const request = new Request<unknown, IncomingRequestCfProperties>(`https://orchestrator.test${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, "cf-connecting-ip": ip(), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const response = await worker.fetch(request, withoutSecret as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
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

  it("restart drains, resets health, calls the lifecycle hook signed, and returns to rotation", async () => {
    const name = `rs-${crypto.randomUUID().slice(0, 6)}`;
    const hook = `hook-${crypto.randomUUID().slice(0, 6)}`;
    const { service } = await serviceOnUpstream(name);
    await control(hook, "ok");
    // A hook URL with a base path (/i/<hook>): the call goes to, and is signed over, /i/<hook>/__lifecycle/restart.
    expect((await configureHook(service, { url: `http://127.0.0.1:${port}/i/${hook}` })).status).toBe(200);
    const before = (await control(hook, "ok")).hits;
    const restart = await call("POST", `/admin/workers/${service}/restart`);
    expect(restart.status).toBe(200);
    expect(await restart.json()).toMatchObject({ action: "restart", adminState: "active", drained: true, hook: { called: true, ok: true, status: 200 } });
    const after = await control(hook, "ok");
    expect(after.hits).toBe(before + 1);
    const received = after.received.at(-1);
    expect(received).toMatchObject({ path: `/i/${hook}/__lifecycle/restart`, hookSignature: { ok: true } });
    expect(received?.timestamp).toMatch(/^\d+$/);
    expect(received?.signature).toMatch(/^v1=[0-9a-f]{64}$/);
    const body = JSON.parse(received?.body ?? "null") as Record<string, unknown>;
    expect(body).toEqual({ action: "restart", service, instance: null, id: restart.headers.get("x-request-id"), at: expect.any(String) });
    expect(Math.abs(Date.parse(body.at as string) - Number(received?.timestamp) * 1000)).toBeLessThan(1000);
    expect((await call("GET", `/${service}/x`, false)).status).toBe(200);
  });

  it("without LIFECYCLE_HOOK_SECRET: setting a hook is refused, removing one works, and restart does not call one already set", async () => {
    const name = `ns-${crypto.randomUUID().slice(0, 6)}`;
    const hook = `hook-${crypto.randomUUID().slice(0, 6)}`;
    const { service } = await serviceOnUpstream(name);
    for (const lifecycleHook of [{ url: `http://127.0.0.1:${port}/i/${hook}` }, { binding: "API" }]) {
      const refused = await callWithoutHookSecret("PUT", `/admin/services/${service}`, { lifecycleHook });
      expect(refused.status).toBe(400);
      expect(refused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      const problem = (await refused.json()) as { field: string; detail: string };
      expect(problem.field).toBe("lifecycleHook");
      expect(problem.detail).toContain("LIFECYCLE_HOOK_SECRET");
    }
    expect((await registryStub(env).service(service))?.lifecycleHook).toBeNull();

    // A hook set while the secret was there (SELF has it) is skipped once it is gone, and the restart still happens.
    expect((await configureHook(service, { url: `http://127.0.0.1:${port}/i/${hook}` })).status).toBe(200);
    await control(hook, "ok");
    const before = (await control(hook, "ok")).hits;
    const restart = await callWithoutHookSecret("POST", `/admin/workers/${service}/restart`);
    expect(restart.status).toBe(200);
    expect(await restart.json()).toMatchObject({
      action: "restart",
      adminState: "active",
      hook: { called: false, ok: false, error: "LIFECYCLE_HOOK_SECRET is not set: lifecycle hooks are always signed" },
    });
    expect((await control(hook, "ok")).hits).toBe(before);

    const removed = await callWithoutHookSecret("PUT", `/admin/services/${service}`, { lifecycleHook: null });
    expect(removed.status).toBe(200);
    expect(((await removed.json()) as { lifecycleHook: unknown }).lifecycleHook).toBeNull();
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
