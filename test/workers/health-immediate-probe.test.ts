/**
 * Heartbeats help (issue #17 part 4): an unhealthy instance that heartbeats,
 * or re-registers (the 409 that hands it its old id), is probed at once rather
 * than at its next interval, and is back in rotation within rise × the healthy
 * edge interval (2 × 5 s by default), not rise × the interval.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { metricsStub, registryStub } from "../../src/platform/stubs";
import type { InstanceView } from "../../src/contracts/registry";
import { runDurableObjectAlarm } from "cloudflare:test";
import { sleep } from "./helpers";

const port = inject("upstreamPort");

async function control(name: string, mode: string) {
  expect((await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}`)).status).toBe(200);
}

async function view(service: string, id: string): Promise<InstanceView> {
  const found = (await registryStub(env).service(service))?.instances.find((i) => i.id === id);
  if (!found) throw new Error(`no instance ${id}`);
  return found;
}

/** Polls without driving the loop: whatever happens, the loop's own alarm does. */
async function waitFor<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not reached in ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await sleep(50);
  }
}

/**
 * An instance made unhealthy with 100 ms checks, then its service moved to a 60 s interval:
 * unhealthy, it is checked every 5 s (HEALTH_CHECK_UNHEALTHY_INTERVAL_MS), recovering every 5 s.
 */
async function unhealthyInstance() {
  const name = `hb-${crypto.randomUUID().slice(0, 6)}`;
  const service = `hb-${crypto.randomUUID().slice(0, 8)}`;
  const url = `http://127.0.0.1:${port}/i/${name}`;
  const registry = registryStub(env);
  await control(name, "down");
  const registered = await registry.register({ service, target: { kind: "url", url }, weight: 1, metadata: {}, ttlSeconds: 3600 });
  if (!registered.ok) throw new Error(JSON.stringify(registered.problem));
  await registry.configureService(service, { healthCheck: { intervalMs: 100, timeoutMs: 300 } });
  await waitFor(
    async () => {
      await runDurableObjectAlarm(metricsStub(env));
      return view(service, registered.id);
    },
    (v) => v.health === "unhealthy",
    8_000,
  );
  await registry.configureService(service, { healthCheck: { intervalMs: 60_000 } });
  // Let a round already handed out land.
  await sleep(600);
  const before = await view(service, registered.id);
  return { name, service, url, id: registered.id, lastCheckAt: Date.parse(before.activeCheck.lastCheckAt ?? "0") };
}

describe("immediate probes", () => {
  it("a heartbeat while unhealthy gets a probe at once, and the instance is back within rise × the edge interval", async () => {
    const { name, service, id, lastCheckAt } = await unhealthyInstance();
    await control(name, "ok");
    const beatAt = Date.now();
    const beat = await registryStub(env).heartbeat(id, {});
    expect(beat.ok).toBe(true);
    const probed = await waitFor(() => view(service, id), (v) => v.activeCheck.lastResult === "pass", 3_000);
    const probedAt = Date.parse(probed.activeCheck.lastCheckAt ?? "0");
    // Well before the 5 s unhealthy interval would have brought the next probe.
    expect(probedAt - beatAt).toBeLessThan(2_000);
    expect(probedAt - lastCheckAt).toBeLessThan(4_000);
    expect(probed.health).toBe("unhealthy"); // one pass of rise = 2

    const back = await waitFor(() => view(service, id), (v) => v.health !== "unhealthy", 8_000);
    expect(back.health).toBe("healthy");
    // Two passes, the second one healthy edge interval (5 s) after the first: not 2 × 60 s.
    expect(Date.now() - beatAt).toBeLessThan(2 * 5_000 + 1_500);
    expect(back.effectiveWeight).toBeLessThan(back.weight);
  });

  it("re-registering (409 with the existing id) gets a probe at once", async () => {
    const { name, service, url, id } = await unhealthyInstance();
    await control(name, "ok");
    const at = Date.now();
    const again = await registryStub(env).register({ service, target: { kind: "url", url }, weight: 1, metadata: {}, ttlSeconds: 3600 });
    expect(again.ok).toBe(false);
    const probed = await waitFor(() => view(service, id), (v) => v.activeCheck.lastResult === "pass", 3_000);
    expect(Date.parse(probed.activeCheck.lastCheckAt ?? "0") - at).toBeLessThan(2_000);
  });
});
