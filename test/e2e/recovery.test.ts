/**
 * Quick, clean recovery (issue #17): a demo instance that is killed is marked
 * unhealthy by its probes; restarted on the same port, it re-registers, is
 * probed at once and then at the unhealthy interval, and is back in rotation
 * within rise × the unhealthy interval plus one interval, healthy rather than
 * degraded, since the failures it recovered from are not held against it.
 *
 * The service checks every 10 s with one failure enough to mark it down; the
 * unhealthy intervals are the defaults (5 s) and rise is 2. Before this, the
 * restarted instance waited two full intervals (two passing probes 30 s
 * apart) and then showed `degraded` for minutes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FleetInstance, startFleet } from "../../demo/fleet.mjs";
import { freePort } from "../../scripts/lib/ports.mjs";
import { baseUrl, eventually, gateway, putServiceSettings, registrationToken, uniqueService } from "./upstreams";

const INTERVAL_MS = 10_000;
const UNHEALTHY_INTERVAL_MS = 5_000; // HEALTH_CHECK_UNHEALTHY_INTERVAL_MS's default
const RISE = 2; // HEALTH_CHECK_RISE's default

interface InstanceState {
  readonly id: string;
  readonly health: "healthy" | "degraded" | "unhealthy";
  readonly activeCheck: { readonly lastCheckAt: string | null };
}

const service = uniqueService("recover");
let fleet: Awaited<ReturnType<typeof startFleet>>;
let victim: FleetInstance;

async function instanceState(id: string): Promise<InstanceState | undefined> {
  const response = await fetch(gateway("/registry/services"), { headers: { authorization: `Bearer ${registrationToken()}` } });
  const snapshot = (await response.json()) as { services: Array<{ name: string; instances: InstanceState[] }> };
  return snapshot.services.find((s) => s.name === service)?.instances.find((i) => i.id === id);
}

/** Whether a few proxied requests reach the instance (round-robin over two). */
async function servesTraffic(instance: FleetInstance): Promise<boolean> {
  for (let i = 0; i < 4; i++) {
    const response = await fetch(gateway(`/${service}/who`));
    const text = await response.text();
    if (response.ok && (JSON.parse(text) as { instance?: string }).instance === instance.name) return true;
  }
  return false;
}

beforeAll(async () => {
  fleet = await startFleet({ orchestratorUrl: baseUrl(), token: registrationToken(), services: [service], instancesPerService: 2, log: null, basePort: await freePort() });
  victim = fleet.instances[0] as FleetInstance;
  const configured = await putServiceSettings(service, { healthCheck: { intervalMs: INTERVAL_MS, timeoutMs: 500, retries: 1 } });
  expect(configured.status).toBe(200);
  await configured.arrayBuffer();
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
});

describe("a killed and restarted instance", () => {
  it("is back in rotation within rise × the unhealthy interval plus one interval, and healthy, not degraded", async () => {
    const id = victim.id as string;
    await eventually(async () => {
      const state = await instanceState(id);
      return state?.activeCheck.lastCheckAt && state.health === "healthy" ? state : undefined;
    }, 3 * INTERVAL_MS);

    await victim.kill();
    await eventually(async () => ((await instanceState(id))?.health === "unhealthy" ? true : undefined), 3 * INTERVAL_MS);

    const restartedAt = Date.now();
    await victim.restart();
    const backAt = await eventually(async () => {
      const state = await instanceState(id);
      return state && state.health !== "unhealthy" && (await servesTraffic(victim)) ? Date.now() : undefined;
    }, 3 * INTERVAL_MS);
    const tookMs = backAt - restartedAt;
    console.log(`[recovery] back in rotation ${tookMs} ms after the restart (bound ${RISE} × ${UNHEALTHY_INTERVAL_MS} + ${INTERVAL_MS} ms)`);
    expect(tookMs).toBeLessThanOrEqual(RISE * UNHEALTHY_INTERVAL_MS + INTERVAL_MS);
    // Its probes pass and it takes traffic: nothing it recovered from keeps it degraded.
    expect((await instanceState(id))?.health).toBe("healthy");
  }, 120_000);
});
