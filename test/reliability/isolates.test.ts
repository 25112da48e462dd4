/**
 * Several isolates sharing the Durable Objects, as production spreads traffic
 * (scripts/workerd-config.mjs isolatesWorkerdConfig: four copies of the bundle
 * on one plain workerd, each its own isolate and module state, each routing
 * from its own table):
 * - a stop made through one isolate reaches every other one within the soft
 *   TTL plus a sync (the documented bound), and a start likewise;
 * - a stop's drain waits for a request in flight in another isolate;
 * - after load across every isolate stops, the registry's in-flight counts
 *   come back to exactly zero (no lost release), every request answered.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { compatibilityDate, isolatesWorkerdConfig } from "../../scripts/workerd-config.mjs";
import { freePort, projectRoot, sleep } from "./workerd-harness";

const ISOLATES = 4;
const SOFT_TTL_MS = 1_000;
const HOST = "127.0.0.1";
const adminKey = "isolates-admin-key-0123456789";
const registrationToken = "isolates-registration-token";

/** Loopback instances: /slow/{ms} answers after that long, anything else at once; counts requests in progress. */
function startUpstream(): Promise<{ server: Server; url: string; active: () => number }> {
  let active = 0;
  const server = createServer((req, res) => {
    active++;
    const slow = /\/slow\/(\d+)/.exec(req.url ?? "");
    req.resume();
    req.on("end", () =>
      setTimeout(
        () => {
          active--;
          res.writeHead(200, { "content-type": "application/json" });
          res.end('{"ok":true}');
        },
        slow ? Number(slow[1]) : 0,
      ),
    );
  });
  return new Promise((resolve) => server.listen(0, HOST, () => resolve({ server, url: `http://${HOST}:${(server.address() as AddressInfo).port}/`, active: () => active })));
}

describe("several isolates sharing the Durable Objects", () => {
  let work: string;
  let child: ChildProcess;
  let ports: number[] = [];
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let log = "";
  const base = (i: number) => `http://${HOST}:${ports[i]}`;
  const call = async (i: number, method: string, path: string, body?: unknown, auth: "admin" | "registration" = "admin") => {
    const response = await fetch(base(i) + path, {
      method,
      headers: { authorization: `Bearer ${auth === "admin" ? adminKey : registrationToken}`, "content-type": "application/json", "cf-connecting-ip": `192.0.2.${i + 10}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const proxied = async (i: number, path: string) => {
    const response = await fetch(base(i) + path, { headers: { "cf-connecting-ip": `198.51.100.${i + 1}` }, signal: AbortSignal.timeout(20_000) });
    const text = await response.text();
    return { status: response.status, type: response.headers.get("content-type")?.includes("problem") ? (JSON.parse(text) as { type: string }).type : null };
  };
  const registryInflight = async (service: string) => {
    const services = (await call(0, "GET", "/registry/services", undefined, "registration")).json.services as { name: string; inflight: number }[];
    return services.find((s) => s.name === service)?.inflight ?? null;
  };
  const register = async (service: string) => {
    for (let n = 0; n < 2; n++) {
      const r = await call(0, "POST", "/registry/instances", { service, url: `${upstream.url}${service}-${n}`, ttlSeconds: 3600 }, "registration");
      expect(r.status).toBe(201);
    }
  };

  beforeAll(async () => {
    upstream = await startUpstream();
    work = mkdtempSync(join(tmpdir(), "orchestrator-isolates-"));
    mkdirSync(join(work, "do-storage"));
    copyFileSync(join(inject("reliabilityBundleDir"), "index.js"), join(work, "index.js"));
    for (let i = 0; i < ISOLATES; i++) ports.push(await freePort());
    // Limits raised: these tests poll and load through a few client addresses, and are not about rate limiting.
    const vars = { ENVIRONMENT: "development", DEV_MODE: "true", ACCESS_LOG: "errors", ORCHESTRATOR_API_KEY: adminKey, REGISTRATION_TOKEN: registrationToken, RATE_LIMIT_ADMIN: "100000", AUTH_FAILURE_LIMIT: "100000", RATE_LIMIT_REGISTRY: "100000", RATE_LIMIT_GENERAL: "100000", EDGE_TABLE_SOFT_TTL_MS: String(SOFT_TTL_MS) };
    writeFileSync(join(work, "config.capnp"), isolatesWorkerdConfig({ host: HOST, ports, storageDir: join(work, "do-storage"), vars, uniqueKeyPrefix: "isolates-test", compatibilityDate: compatibilityDate(projectRoot()) }));
    child = spawn(join(projectRoot(), "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd"), ["serve", join(work, "config.capnp"), "--experimental"], { cwd: work, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-6000)));
    child.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-6000)));
    for (let i = 0; i < ISOLATES; i++) {
      for (let attempt = 0; ; attempt++) {
        const up = await fetch(`${base(i)}/health`).then((r) => r.status === 200, () => false);
        if (up) break;
        if (attempt > 150) throw new Error(`isolate ${i} did not start:\n${log}`);
        await sleep(100);
      }
    }
  }, 60_000);

  afterAll(async () => {
    child?.kill("SIGKILL");
    await new Promise<void>((resolve) => (upstream ? upstream.server.close(() => resolve()) : resolve()));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("a stop through one isolate reaches every isolate within the soft TTL plus a sync, and so does a start", async () => {
    const service = "spread";
    await register(service);
    // Every isolate routes the service from its own table.
    for (let i = 0; i < ISOLATES; i++) expect((await proxied(i, `/${service}/x`)).status).toBe(200);

    const stop = await call(0, "POST", `/admin/workers/${service}/stop`);
    expect(stop.status).toBe(200);
    const stoppedAt = Date.now();
    const reached: number[] = [];
    for (let i = 0; i < ISOLATES; i++) {
      for (;;) {
        const answer = await proxied(i, `/${service}/x`);
        if (answer.status === 503 && answer.type === "urn:orchestrator:problem:service-stopped") break;
        expect(answer.status, `isolate ${i} while the stop travels`).toBe(200);
        expect(Date.now() - stoppedAt, `isolate ${i} still routes ${service}`).toBeLessThan(SOFT_TTL_MS + 2_000);
        await sleep(50);
      }
      reached.push(Date.now() - stoppedAt);
    }
    console.log(`[isolates] stop reached the ${ISOLATES} isolates after ${reached.join(", ")} ms (soft TTL ${SOFT_TTL_MS} ms)`);

    expect((await call(0, "POST", `/admin/workers/${service}/start`)).status).toBe(200);
    const startedAt = Date.now();
    for (let i = 0; i < ISOLATES; i++) {
      while ((await proxied(i, `/${service}/x`)).status !== 200) {
        expect(Date.now() - startedAt, `isolate ${i} still refuses ${service}`).toBeLessThan(SOFT_TTL_MS + 2_000);
        await sleep(50);
      }
    }
  });

  it("a stop's drain waits for a request in flight in another isolate", async () => {
    const service = "drained";
    await register(service);
    const slowMs = 4_000;
    const slowStarted = Date.now();
    const slow = proxied(2, `/${service}/slow/${slowMs}`);
    // Once the other isolate has told the registry (within its soft TTL), stop through isolate 0.
    for (;;) {
      if ((await registryInflight(service)) === 1) break;
      expect(Date.now() - slowStarted, "the registry heard of the request in isolate 2").toBeLessThan(SOFT_TTL_MS + 2_000);
      await sleep(50);
    }
    const stop = await call(0, "POST", `/admin/workers/${service}/stop`);
    const stopAnsweredAt = Date.now();
    expect(stop.status).toBe(200);
    expect(stop.json).toMatchObject({ drained: true, inflight: 0 });
    expect((await slow).status).toBe(200);
    // The drain ended only once the slow request had (it ends slowMs after it started).
    expect(stopAnsweredAt - slowStarted).toBeGreaterThanOrEqual(slowMs - 100);
  });

  it("after load across every isolate, the registry's in-flight counts come back to exactly zero, every request answered", async () => {
    const service = "busy";
    await register(service);
    const statuses = await Promise.all(Array.from({ length: 200 }, (_, n) => proxied(n % ISOLATES, `/${service}/${n % 5 === 0 ? "slow/300" : "fast"}`).then((a) => a.status)));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const deadline = Date.now() + 10_000;
    let inflight = await registryInflight(service);
    while (inflight !== 0 && Date.now() < deadline) {
      await sleep(100);
      inflight = await registryInflight(service);
    }
    expect(inflight).toBe(0);
    expect(upstream.active()).toBe(0);
  });
});
