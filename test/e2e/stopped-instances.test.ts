/**
 * Stopping every instance of a service one by one, then starting the service
 * (issue #19): before, the service-level start answered `changed: false` and
 * the service stayed down, and neither its 503 nor /health/workers said that
 * an operator had stopped it. Now the 503 says "All instances stopped",
 * /health/workers shows the service and its instances as stopped, and the
 * service-level start brings both instances back, its audit entry naming them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminAuth, eventually, gateway, readProblem, register, startUpstream, uniqueService, type Upstream } from "./upstreams";

const service = uniqueService("allstop");
const upstreams: Upstream[] = [];
const ids: string[] = [];

async function lifecycle(path: string) {
  const response = await fetch(gateway(`/admin/workers/${service}${path}`), { method: "POST", headers: adminAuth() });
  expect(response.status, path).toBe(200);
  return (await response.json()) as { action: string; adminState: string; changed: boolean };
}

interface WorkerHealth {
  status: string;
  instances: { id: string; status: string }[];
}

async function workerHealth(): Promise<WorkerHealth | undefined> {
  const response = await fetch(gateway("/health/workers"));
  return ((await response.json()) as { workers: Record<string, WorkerHealth> }).workers[service];
}

beforeAll(async () => {
  for (const name of ["a", "b"]) {
    const upstream = await startUpstream(`${service}-${name}`);
    upstreams.push(upstream);
    ids.push((await register(service, upstream.url, { ttlSeconds: 300 })).id);
  }
});

afterAll(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
});

describe("a service whose instances were all stopped one by one", () => {
  it("answers 503 'All instances stopped' naming the operator action, and /health/workers shows it stopped", async () => {
    expect((await fetch(gateway(`/${service}/before`))).status).toBe(200);
    for (const id of ids) expect((await lifecycle(`/instances/${id}/stop`)).adminState).toBe("stopped");

    const refused = await fetch(gateway(`/${service}/after`));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("30");
    const problem = await readProblem(refused);
    expect(problem).toMatchObject({
      type: "urn:orchestrator:problem:service-stopped",
      title: "All instances stopped",
      service,
    });
    expect(problem.detail).toBe(`No instance of ${service} is in rotation: an operator stopped its 2 instances one by one. POST /admin/workers/${service}/start starts them all again.`);

    const health = await workerHealth();
    expect(health?.status).toBe("stopped");
    expect(health?.instances.map((i) => i.status)).toEqual(["stopped", "stopped"]);
  });

  it("a service-level start brings both back (changed: true), and its audit entry says what it started", async () => {
    const started = await lifecycle("/start");
    expect(started).toMatchObject({ action: "start", adminState: "active", changed: true });

    // Both instances take traffic again (round-robin over the two).
    const seen = await eventually(
      async () => {
        const names = new Set<string>();
        for (let i = 0; i < 4; i++) {
          const response = await fetch(gateway(`/${service}/again`));
          if (response.status === 200) names.add(((await response.json()) as { name: string }).name);
          else await response.arrayBuffer();
        }
        return names.size === 2 ? names : undefined;
      },
      10_000,
    );
    expect([...seen].sort()).toEqual(upstreams.map((u) => u.name).sort());
    const health = await workerHealth();
    expect(health?.instances.map((i) => i.status)).not.toContain("stopped");
    expect(health?.status).not.toBe("stopped");

    const audit = await fetch(gateway("/admin/audit?limit=20"), { headers: adminAuth() });
    const entries = ((await audit.json()) as { entries: { action: string; target: string; detail: string | null }[] }).entries;
    const entry = entries.find((e) => e.action === "service.start" && e.target === service);
    expect(entry?.detail).toBe(`started 2 instances stopped one by one: ${ids.join(", ")}`);

    // Starting it again changes nothing, and says so.
    expect((await lifecycle("/start")).changed).toBe(false);
  });
});
