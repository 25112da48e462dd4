/**
 * Several vantage points with quorum (issue #17 part 2). The pool runs three
 * vantage points (HEALTH_CHECK_VANTAGE_POINTS=wnam,enam,weur in
 * vitest.config.ts), all in this one workerd: location hints are not enforced
 * locally. Cutting one off replaces its probers' probe with one that fails,
 * as a partition between that location and every instance would.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { controlUpstream, eventuallyWhileSweeping, fastCheckedService, sweep } from "./helpers";
import { MAX_PROBE_SHARDS } from "../../src/core/health";
import type { HealthTarget, InstanceView, ProbeReport } from "../../src/contracts/registry";
import { metricsStub, proberStub, registryStub } from "../../src/platform/stubs";


const control = controlUpstream;

type ProbeFn = (target: HealthTarget) => Promise<ProbeReport>;
type Prober = { probeTarget: ProbeFn };

/** The probes of every prober at this vantage point fail from now on (until `reconnect`). */
const originals = new Map<number, ProbeFn>();
async function cutOff(vantagePoint: string) {
  for (let shard = 0; shard < MAX_PROBE_SHARDS; shard++) {
    await runInDurableObject(proberStub(env, vantagePoint, shard), (object) => {
      const prober = object as unknown as Prober;
      if (!originals.has(shard)) originals.set(shard, prober.probeTarget);
      const cut: ProbeFn = async (target) => ({ id: target.id, at: Date.now(), probe: { ok: false, kind: "fail", latencyMs: null, error: `${vantagePoint} is cut off` } });
      Object.defineProperty(prober, "probeTarget", { value: cut, configurable: true, writable: true });
    });
  }
}

async function reconnect(vantagePoint: string) {
  for (const [shard, original] of originals) {
    await runInDurableObject(proberStub(env, vantagePoint, shard), (object) => {
      Object.defineProperty(object, "probeTarget", { value: original, configurable: true, writable: true });
    });
  }
  originals.clear();
}

afterEach(async () => {
  if (originals.size > 0) await reconnect("weur");
});

/** A fresh service with one instance per name on the controllable upstream, checked every 100 ms with a 300 ms timeout. */
const serviceWith = (names: string[]) => fastCheckedService("vq", names);

async function instances(service: string): Promise<InstanceView[]> {
  return [...((await registryStub(env).service(service))?.instances ?? [])];
}


describe("vantage points and quorum", () => {
  it("reports its vantage points, shards and registry calls per sweep in LoopStatus", async () => {
    await serviceWith([`vq-s-${crypto.randomUUID().slice(0, 6)}`]);
    const status = await eventuallyWhileSweeping(() => metricsStub(env).status(), (s) => s.lastCompletedSweep !== null && s.lastCompletedSweep.rounds > 0);
    expect(status.vantagePoints).toEqual(["wnam", "enam", "weur"]);
    expect(status.lastSweepShards).toBeGreaterThanOrEqual(1);
    const sweep = status.lastCompletedSweep;
    if (sweep === null) return;
    // One healthTargets call, then one applyProbeResults per round (shard), not per probe or per vantage point
    // (a round no vantage point answered in time costs none).
    expect(sweep.registryCalls).toBeGreaterThan(1);
    expect(sweep.registryCalls).toBeLessThanOrEqual(1 + sweep.rounds);
    expect(sweep.decided).toBeLessThanOrEqual(sweep.probed);
    expect(sweep.vantagePoints.map((v) => v.name).sort()).toEqual(["enam", "weur", "wnam"]);
  });

  it("a vantage point cut off from everything changes no instance's state while the others see them healthy", async () => {
    const names = [`vq-a-${crypto.randomUUID().slice(0, 6)}`, `vq-b-${crypto.randomUUID().slice(0, 6)}`];
    const { service, ids } = await serviceWith(names);
    await eventuallyWhileSweeping(() => instances(service), (list) => list.length === 2 && list.every((i) => i.activeCheck.lastResult === "pass"));

    await cutOff("weur");
    const cutAt = Date.now();
    // weur's rounds are discounted: every probe it makes fails while wnam and enam get through.
    await eventuallyWhileSweeping(
      () => metricsStub(env).status(),
      (s) => (s.lastCompletedSweep?.at ?? 0) > cutAt && (s.lastCompletedSweep?.vantagePoints.find((v) => v.name === "weur")?.discounted ?? 0) > 0,
    );
    // Keep sweeping for a while (many rounds at a 100 ms interval): nothing changes.
    const checkedAt = new Map<string, string | null>((await instances(service)).map((i) => [i.id, i.activeCheck.lastCheckAt]));
    for (let i = 0; i < 8; i++) {
      await sweep();
      for (const view of await instances(service)) {
        expect(view.health).toBe("healthy");
        expect(view.activeCheck.status).toBe("healthy");
        expect(view.activeCheck.consecutiveFailures).toBe(0);
        expect(view.activeCheck.lastResult).toBe("pass");
      }
    }
    // Still being checked (it is not that nothing ran).
    for (const view of await instances(service)) expect(view.activeCheck.lastCheckAt).not.toBe(checkedAt.get(view.id));
    const events = (await metricsStub(env).status()).recentEvents.filter((e) => ids.includes(e.instanceId) && e.at >= cutAt);
    expect(events).toEqual([]);
  });

  it("with one vantage point cut off, an instance that is really down is still failed by the others", async () => {
    const down = `vq-d-${crypto.randomUUID().slice(0, 6)}`;
    const up = `vq-u-${crypto.randomUUID().slice(0, 6)}`;
    const { service, ids } = await serviceWith([down, up]);
    await eventuallyWhileSweeping(() => instances(service), (list) => list.length === 2 && list.every((i) => i.activeCheck.lastResult === "pass"));
    await cutOff("weur");
    await control(down, "down");
    const list = await eventuallyWhileSweeping(() => instances(service), (l) => l.find((i) => i.id === ids[0])?.health === "unhealthy");
    expect(list.find((i) => i.id === ids[1])?.health).toBe("healthy");
    // Its class first (a dropped connection is a reset; the cut-off prober's own words have none: other), the vantage point last.
    expect(list.find((i) => i.id === ids[0])?.activeCheck.lastError).toMatch(/^(reset|other): .* \(from (wnam|enam|weur)\)$/);
  });
});
