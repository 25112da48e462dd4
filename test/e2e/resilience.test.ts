/**
 * Health monitoring end to end: one of three instances goes away under steady
 * GET traffic. It leaves rotation within interval × retries, clients see no
 * errors (idempotent requests are retried on another instance), and when it
 * comes back it re-enters rotation with slow start.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Fleet, gateway, putServiceSettings, serviceView, uniqueService } from "./upstreams";

const INTERVAL_MS = 500;
const RETRIES = 3; // the default HEALTH_CHECK_RETRIES

function listen(name: string, port = 0): Promise<Server> {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name, path: req.url }));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

const fleet = new Fleet();
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : Promise.resolve())));
  await fleet.cleanup();
});

describe("resilience", () => {
  it("takes a dead instance out of rotation, hides the failure from idempotent clients, and slow-starts it on return", async () => {
    const service = uniqueService("res");
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const server = await listen(`${service}-${i}`);
      servers.push(server);
      ports.push((server.address() as AddressInfo).port);
      await fleet.register(service, `http://127.0.0.1:${ports[i]}`);
    }
    expect((await putServiceSettings(service, { healthCheck: { intervalMs: INTERVAL_MS, timeoutMs: 300 } })).status).toBe(200);
    const victim = (await serviceView(service))?.instances[0];
    expect(victim).toBeDefined();

    const statuses: number[] = [];
    let stopTraffic = false;
    const traffic = (async () => {
      // Steady, bounded: at most 400 requests or until told to stop.
      for (let i = 0; i < 400 && !stopTraffic; i++) {
        const response = await fetch(gateway(`/${service}/steady?i=${i}`));
        statuses.push(response.status);
        await response.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();

    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const downAt = Date.now();
    await close(servers[0] as Server);

    let leftAfterMs = -1;
    for (let waited = 0; waited < 15_000; waited += 100) {
      const view = (await serviceView(service))?.instances.find((i) => i.id === victim?.id);
      if (view?.health === "unhealthy") {
        leftAfterMs = Date.now() - downAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.log(`[resilience] left rotation after ${leftAfterMs} ms`);
    expect(leftAfterMs).toBeGreaterThanOrEqual(0);
    // interval × retries, plus one interval of jitter/phase and the sweep's own time.
    expect(leftAfterMs).toBeLessThan(INTERVAL_MS * (RETRIES + 2) + 1_500);

    servers[0] = await listen(`${service}-0-back`, ports[0]);
    let back: { health: string; effectiveWeight?: number; weight: number } | undefined;
    for (let waited = 0; waited < 15_000 && !back; waited += 100) {
      const view = (await serviceView(service))?.instances.find((i) => i.id === victim?.id) as { health: string; effectiveWeight?: number; weight: number } | undefined;
      if (view && view.health !== "unhealthy") back = view;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(back).toBeDefined();
    expect(back?.effectiveWeight).toBeLessThan(back?.weight ?? 0);

    stopTraffic = true;
    await traffic;
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });
});
