/**
 * The demo fleet's control endpoint (demo/fleet-control.mjs): one instance of
 * the one-process fleet can be killed, hung, slowed, made to flap and healed,
 * while its neighbour keeps answering; a canary of another version can be
 * started, made to fail (500, its health check still passing) and removed.
 * Against a stand-in registry (a few lines of node:http), so no orchestrator
 * is needed.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleetControl, type FleetControl } from "../../demo/fleet-control.mjs";
import { type FleetInstance, type FleetInstanceState, startFleet } from "../../demo/fleet.mjs";
import { freePort } from "../../scripts/lib/ports.mjs";

type Fleet = Awaited<ReturnType<typeof startFleet>>;

let registry: Server;
const registrations: string[] = [];
/** The version each registration declared, by instance URL (the latest). */
const versions = new Map<string, string | undefined>();
const heartbeats: string[] = [];
const deregistrations: string[] = [];
let fleet: Fleet;
let control: FleetControl;

/** POST /registry/instances → 201 with an id per instance URL; heartbeats and deregistrations → 200. */
function standInRegistry(): Promise<string> {
  registry = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      response.setHeader("content-type", "application/json");
      if (request.method === "POST" && request.url === "/registry/instances") {
        const { url, version } = JSON.parse(body) as { url: string; version?: string };
        registrations.push(url);
        versions.set(url, version);
        response.writeHead(201).end(JSON.stringify({ id: `id-${new URL(url).port}`, ttlSeconds: 3 }));
      } else {
        if (request.method === "PUT") heartbeats.push(request.url ?? "");
        if (request.method === "DELETE") deregistrations.push(request.url ?? "");
        response.writeHead(200).end(JSON.stringify({ ttlSeconds: 3 }));
      }
    });
  });
  return new Promise((resolve) => registry.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(registry.address() as AddressInfo).port}`)));
}

const instance = (name: string) => fleet.instances.find((i) => i.name === name) as FleetInstance;

async function command(path: string, init: RequestInit = { method: "POST" }, base = control.url): Promise<{ status: number; body: FleetInstanceState & { error?: string; instances?: FleetInstanceState[] } }> {
  const response = await fetch(`${base}${path}`, init);
  return { status: response.status, body: (await response.json()) as FleetInstanceState & { error?: string } };
}

/** One request straight at an instance: its status and time, or the error's code. */
async function hit(target: FleetInstance, timeoutMs = 2_000, path = "/hello"): Promise<{ status?: number; error?: string; ms: number; body?: { version?: string | null; instance?: string } }> {
  const startedAt = Date.now();
  try {
    const response = await fetch(`${target.url}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json()) as { version?: string | null; instance?: string };
    return { status: response.status, ms: Date.now() - startedAt, body };
  } catch (error) {
    const e = error as { name?: string; cause?: { code?: string } };
    return { error: e.cause?.code ?? e.name ?? String(error), ms: Date.now() - startedAt };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const orchestratorUrl = await standInRegistry();
  fleet = await startFleet({ orchestratorUrl, token: "t", services: ["api"], instancesPerService: 2, basePort: await freePort(), log: null });
  control = await startFleetControl(fleet.instances, { port: 0, addInstance: fleet.addInstance, removeInstance: fleet.removeInstance });
});

afterAll(async () => {
  await control?.close();
  await fleet?.stop();
  await new Promise((resolve) => registry.close(resolve));
});

describe("demo fleet control", () => {
  it("lists the instances, and names one by its name or its registry id", async () => {
    const list = await command("/fleet", { method: "GET" });
    expect(list.status).toBe(200);
    expect(list.body.instances?.map((i) => [i.name, i.mode])).toEqual([
      ["api-1", "up"],
      ["api-2", "up"],
    ]);
    const byId = await command(`/fleet/${instance("api-2").id}`, { method: "GET" });
    expect(byId.body.name).toBe("api-2");
  });

  it("kill → connection refused (the neighbour still answers); heal → back, registered again", async () => {
    expect((await command("/fleet/api-1/kill")).body.mode).toBe("killed");
    expect((await hit(instance("api-1"))).error).toBe("ECONNREFUSED");
    expect((await hit(instance("api-2"))).status).toBe(200);
    const before = registrations.length;
    expect((await command("/fleet/api-1/heal")).body.mode).toBe("up");
    expect((await hit(instance("api-1"))).status).toBe(200);
    // The registration is adopted again (here: registered anew), and heartbeats resume.
    expect(registrations.length).toBe(before + 1);
  });

  it("hang → no answer (health checks included) until heal, which answers what was held", async () => {
    expect((await command("/fleet/api-1/hang")).body.mode).toBe("hang");
    const gaveUp = await hit(instance("api-1"), 300);
    expect(gaveUp.error).toBe("TimeoutError");
    const health = await fetch(`${instance("api-1").url}/health`, { signal: AbortSignal.timeout(300) }).then(
      (r) => r.status,
      (e: Error) => e.name,
    );
    expect(health).toBe("TimeoutError");
    expect((await hit(instance("api-2"))).status).toBe(200);
    const held = hit(instance("api-1"), 5_000);
    await sleep(200);
    expect((await command("/fleet/api-1/heal")).body.mode).toBe("up");
    const answered = await held;
    expect(answered.status).toBe(200);
    expect(answered.ms).toBeGreaterThanOrEqual(150);
  });

  it("slow?ms= → every answer waits that long; heal → fast again", async () => {
    expect((await command("/fleet/api-2/slow?ms=400")).body).toMatchObject({ mode: "slow", ms: 400 });
    const slow = await hit(instance("api-2"));
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(380);
    await command("/fleet/api-2/heal");
    const fast = await hit(instance("api-2"));
    expect(fast.status).toBe(200);
    expect(fast.ms).toBeLessThan(300);
  });

  it("flap?ms= → 503 and 200 alternate, half-period by half-period, starting down; heal → steady", async () => {
    const flapping = await command("/fleet/api-2/flap?ms=600");
    expect(flapping.body).toMatchObject({ mode: "flap-down", ms: 600 });
    // Sampled in the middle of each half: 0–600 down, 600–1200 up, 1200–1800 down.
    const startedAt = Date.now();
    const at = async (ms: number) => {
      await sleep(Math.max(0, startedAt + ms - Date.now()));
      return (await hit(instance("api-2"))).status;
    };
    expect([await at(150), await at(900), await at(1_500)]).toEqual([503, 200, 503]);
    await command("/fleet/api-2/heal");
    expect([(await hit(instance("api-2"))).status, (await hit(instance("api-2"))).status]).toEqual([200, 200]);
  });

  it("restart → killed and started again on the same port", async () => {
    const port = instance("api-1").port;
    const before = registrations.length;
    const restarted = await command("/fleet/api-1/restart");
    expect(restarted.body.mode).toBe("up");
    expect(instance("api-1").port).toBe(port);
    expect(registrations.length).toBe(before + 1);
    expect((await hit(instance("api-1"))).status).toBe(200);
  });

  it("canary?version= starts one more instance of the service with that version, registered with it", async () => {
    expect([...versions.values()]).toEqual(["v1", "v1"]);
    const started = await command("/fleet/api/canary?version=v2");
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ name: "api-v2", service: "api", version: "v2", mode: "up", id: expect.stringMatching(/^id-/) });
    const canary = instance("api-v2");
    expect(versions.get(canary.url)).toBe("v2");
    expect((await hit(canary)).body).toMatchObject({ instance: "api-v2", version: "v2" });
    expect((await hit(instance("api-1"))).body).toMatchObject({ instance: "api-1", version: "v1" });
    expect((await command("/fleet", { method: "GET" })).body.instances?.map((i) => [i.name, i.version])).toEqual([
      ["api-1", "v1"],
      ["api-2", "v1"],
      ["api-v2", "v2"],
    ]);
    // A second one of the same version gets a name of its own.
    expect((await command("/fleet/api/canary?version=v2")).body.name).toBe("api-v2-2");
    expect((await command("/fleet/api-v2-2", { method: "DELETE" })).status).toBe(200);
  });

  it("fail → 500 to every request while GET /health still passes; heal → 200", async () => {
    expect((await command("/fleet/api-v2/fail")).body.mode).toBe("fail");
    expect((await hit(instance("api-v2"))).status).toBe(500);
    expect((await hit(instance("api-v2"), 2_000, "/health")).status).toBe(200);
    expect((await hit(instance("api-1"))).status).toBe(200);
    expect((await command("/fleet/api-v2/heal")).body.mode).toBe("up");
    expect((await hit(instance("api-v2"))).status).toBe(200);
  });

  it("DELETE /fleet/<instance> deregisters and stops it, and it leaves the list", async () => {
    const canary = instance("api-v2");
    const removed = await command("/fleet/api-v2", { method: "DELETE" });
    expect(removed).toMatchObject({ status: 200, body: { name: "api-v2", mode: "stopped" } });
    expect(deregistrations).toContain(`/registry/instances/id-${canary.port}`);
    expect((await hit(canary)).error).toBe("ECONNREFUSED");
    expect((await command("/fleet", { method: "GET" })).body.instances?.map((i) => i.name)).toEqual(["api-1", "api-2"]);
    expect((await command("/fleet/api-v2", { method: "DELETE" })).status).toBe(404);
  });

  it("refuses a canary of an unknown service, a bad version, a GET; a control without a fleet to grow answers 501", async () => {
    expect((await command("/fleet/nope/canary?version=v2")).status).toBe(404);
    expect((await command("/fleet/api/canary?version=v%202")).status).toBe(400);
    expect((await command("/fleet/api/canary?version=")).status).toBe(400);
    expect((await command("/fleet/api/canary", { method: "GET" })).status).toBe(405);
    const fixed = await startFleetControl(fleet.instances, { port: 0 });
    try {
      expect((await command("/fleet/api/canary?version=v2", { method: "POST" }, fixed.url)).status).toBe(501);
      expect((await command("/fleet/api-1", { method: "DELETE" }, fixed.url)).status).toBe(501);
    } finally {
      await fixed.close();
    }
    expect(fleet.instances.map((i) => i.name)).toEqual(["api-1", "api-2"]);
  });

  it("refuses what a command line would not send: unknown names and actions, bad ms, GET for an action, web pages", async () => {
    expect((await command("/fleet/nope/kill")).status).toBe(404);
    expect((await command("/fleet/api-1/explode")).status).toBe(404);
    expect((await command("/fleet/api-1/slow?ms=-5")).status).toBe(400);
    expect((await command("/fleet/api-1/slow?ms=soon")).status).toBe(400);
    expect((await command("/fleet/api-1/kill", { method: "GET" })).status).toBe(405);
    // A page in a browser could otherwise POST here: an Origin header means a page sent it.
    expect((await command("/fleet/api-1/kill", { method: "POST", headers: { origin: "https://evil.example" } })).status).toBe(403);
    expect(instance("api-1").state().mode).toBe("up");
  });

  it("a control port already taken falls back to a free one", async () => {
    const busy = await startFleetControl(fleet.instances, { port: new URL(control.url).port ? Number(new URL(control.url).port) : 0 });
    try {
      expect(busy.url).not.toBe(control.url);
      expect((await fetch(`${busy.url}/fleet`)).status).toBe(200);
    } finally {
      await busy.close();
    }
  });
});

describe("demo fleet ports", () => {
  it("skips many busy ports without a MaxListenersExceededWarning", async () => {
    const base = await freePort();
    const hogs: net.Server[] = [];
    for (let i = 0; i < 14; i++) {
      const hog = net.createServer();
      const taken = await new Promise<boolean>((resolve) => {
        hog.once("error", () => resolve(false));
        hog.listen(base + i, "127.0.0.1", () => resolve(true));
      });
      if (taken) hogs.push(hog);
    }
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    const orchestratorUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
    const crowded = await startFleet({ orchestratorUrl, token: "t", services: ["busy"], instancesPerService: 2, basePort: base, log: null });
    try {
      expect(crowded.instances.every((i) => i.port >= base + 14)).toBe(true);
      await sleep(50);
      expect(warnings.filter((w) => w === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      await crowded.stop();
      await Promise.all(hogs.map((hog) => new Promise((resolve) => hog.close(resolve))));
    }
  });
});
