/**
 * Autoscaling against real loopback instances, some standby: a slow upstream
 * drives p95 up and a standby instance enters rotation; queue depth that goes
 * away lets it return to standby after the scale-down window; dry-run only logs.
 */
import { runDurableObjectAlarm, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { metricsStub, registryStub } from "../../src/platform/stubs";
import { sleep } from "./helpers";

const KEY = "test-admin-key-0123456789";
const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.80.${nextIp++ % 250}`;

async function control(name: string, mode: string, delayMs = 0) {
  await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}&delayMs=${delayMs}`);
}

function admin(method: string, path: string, body?: unknown) {
  return SELF.fetch(`https://orchestrator.test${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "cf-connecting-ip": ip() },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function poolService(prefix: string) {
  const service = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  const active = `${service}-a`;
  const spare = `${service}-s`;
  await control(active, "ok");
  await control(spare, "ok");
  const registry = registryStub(env);
  const a = await registry.register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${active}` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
  const s = await registry.register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${spare}` }, weight: 1, metadata: {}, ttlSeconds: 3600, standby: true });
  if (!a.ok || !s.ok) throw new Error("register failed");
  return { service, activeName: active, activeId: a.id, spareId: s.id };
}

async function adminStateOf(service: string, id: string) {
  return (await registryStub(env).service(service))?.instances.find((i) => i.id === id)?.adminState;
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await sleep(150);
    await runDurableObjectAlarm(metricsStub(env));
  }
}

describe("autoscaling", () => {
  it("brings a standby instance into rotation when a slow upstream drives p95 over target", async () => {
    const { service, activeName, spareId } = await poolService("as-p95");
    expect(await adminStateOf(service, spareId)).toBe("standby");
    const put = await admin("PUT", `/admin/services/${service}/autoscaling`, { minInstances: 1, maxInstances: 2, targets: { p95Ms: 100 }, evaluationPeriodMs: 1000 });
    expect(put.status).toBe(200);
    await control(activeName, "slow", 300);
    for (let i = 0; i < 6; i++) await (await SELF.fetch(`https://orchestrator.test/${service}/work`, { headers: { "cf-connecting-ip": ip() } })).arrayBuffer();
    await until(async () => (await adminStateOf(service, spareId)) === "active");

    const log = (await (await admin("GET", "/admin/autoscaling")).json()) as { services: { service: string; log: { entries: { decision: { action: string; perMetric: { metric: string; observed: number | null }[] } }[] } }[] };
    const entry = log.services.find((s) => s.service === service)?.log.entries.find((e) => e.decision.action === "scale-up");
    expect(entry).toBeDefined();
    expect(entry?.decision.perMetric.find((m) => m.metric === "p95Ms")?.observed).toBeGreaterThan(100);
  });

  it("returns the instance to standby once queue depth is gone and the scale-down window has passed", async () => {
    const { service, activeName, spareId } = await poolService("as-queue");
    await admin("PUT", `/admin/services/${service}/autoscaling`, {
      minInstances: 1,
      maxInstances: 2,
      targets: { inflightPerInstance: 2 },
      evaluationPeriodMs: 1000,
      scaleDown: { stabilizationMs: 2000 },
    });
    await control(activeName, "slow", 2500);
    const held = Array.from({ length: 6 }, () => SELF.fetch(`https://orchestrator.test/${service}/hold`, { headers: { "cf-connecting-ip": ip() } }).then((r) => r.arrayBuffer()));
    await until(async () => (await adminStateOf(service, spareId)) === "active");
    await Promise.all(held);
    await control(activeName, "ok");
    await until(async () => (await adminStateOf(service, spareId)) === "standby", 20_000);
  });

  it("in dry-run decides and logs but moves nothing", async () => {
    const { service, activeName, spareId } = await poolService("as-dry");
    await admin("PUT", `/admin/services/${service}/autoscaling`, { minInstances: 1, maxInstances: 2, targets: { inflightPerInstance: 1 }, evaluationPeriodMs: 1000, mode: "dry-run" });
    await control(activeName, "slow", 2000);
    const held = Array.from({ length: 4 }, () => SELF.fetch(`https://orchestrator.test/${service}/hold`, { headers: { "cf-connecting-ip": ip() } }).then((r) => r.arrayBuffer()));
    await until(async () => {
      const views = (await (await admin("GET", "/admin/autoscaling")).json()) as { services: { service: string; log: { entries: { decision: { action: string; mode: string } }[] } }[] };
      return views.services.find((s) => s.service === service)?.log.entries.some((e) => e.decision.action === "scale-up" && e.decision.mode === "dry-run") ?? false;
    });
    expect(await adminStateOf(service, spareId)).toBe("standby");
    await Promise.all(held);
  });

  it("rejects an invalid policy with the field that is wrong", async () => {
    const { service } = await poolService("as-bad");
    const cases: [unknown, string][] = [
      [{ minInstances: 3, maxInstances: 2, targets: { p95Ms: 100 } }, "maxInstances"],
      [{ minInstances: 1, maxInstances: 2, targets: {} }, "targets"],
      [{ minInstances: 1, maxInstances: 2, targets: { p95Ms: 100 }, mode: "yolo" }, "mode"],
      [{ minInstances: 1, maxInstances: 2, targets: { p95Ms: 100 }, surprise: 1 }, "surprise"],
    ];
    for (const [body, field] of cases) {
      const response = await admin("PUT", `/admin/services/${service}/autoscaling`, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { field: string }).field).toBe(field);
    }
    expect((await admin("PUT", "/admin/services/no-such-svc/autoscaling", { minInstances: 1, maxInstances: 2, targets: { p95Ms: 1 } })).status).toBe(404);
  });
});
