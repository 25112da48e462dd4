/**
 * Active checks as the registry applies them: the interval each instance is
 * checked at, recovery forgetting the failures it recovered from (issue #17),
 * split votes, and the immediate probes a re-registration or a heartbeat asks for.
 */
import { describe, expect, it } from "vitest";
import type { Probe } from "../../src/core/health/index";
import { checkIntervalOf, recordProbeResults, requestImmediateProbe } from "../../src/core/registry/active-checks";
import type { InstanceRecord } from "../../src/core/registry/records";
import { registerInstance } from "../../src/core/registry/registration";
import { routingHealth } from "../../src/core/registry/routing";
import { emptyRegistry, type RegistryState } from "../../src/core/registry/state";
import { ANY_URL, REGISTRY_CONFIG as config } from "./support/registry";

const NOW = 1_700_000_000_000;
const PASS: Probe = { ok: true, kind: "pass", latencyMs: 20 };
const FAIL: Probe = { ok: false, kind: "fail", latencyMs: null, error: "connect ECONNREFUSED" };

function oneInstance(): { state: RegistryState; instance: InstanceRecord } {
  const state = emptyRegistry();
  const registered = registerInstance(state, { service: "api", target: { kind: "url", url: "http://127.0.0.1:9401/" }, weight: 1, metadata: {} }, "api-1", NOW, config, ANY_URL);
  if (!registered.ok) throw new Error("not registered");
  return { state, instance: registered.instance };
}

/** Applies one probe per step, `stepMs` apart; returns the time after the last. */
function probe(state: RegistryState, probes: readonly Probe[], start: number, stepMs = 1_000): number {
  let at = start;
  for (const p of probes) {
    recordProbeResults(state, [{ id: "api-1", at, probe: p }], at, config);
    at += stepMs;
  }
  return at;
}

describe("the interval an instance is checked at", () => {
  it("follows its state: 30 s healthy, 5 s unhealthy and recovering (the defaults)", () => {
    const { state, instance } = oneInstance();
    expect(checkIntervalOf(state, instance, config)).toBe(30_000);
    probe(state, [FAIL, FAIL, FAIL], NOW);
    expect(instance.active.status).toBe("unhealthy");
    expect(checkIntervalOf(state, instance, config)).toBe(5_000);
    probe(state, [PASS], NOW + 10_000);
    expect(checkIntervalOf(state, instance, config)).toBe(5_000);
  });

  it("never longer than the service's own interval", () => {
    const { state, instance } = oneInstance();
    (state.services.get("api") as NonNullable<ReturnType<typeof state.services.get>>).healthSettings = { intervalMs: 1_000 };
    probe(state, [FAIL, FAIL, FAIL], NOW);
    expect(checkIntervalOf(state, instance, config)).toBe(1_000);
  });
});

describe("recovery forgets the failures it recovered from", () => {
  it("a recovered instance is healthy for routing, although traffic failed on it before it went down", () => {
    const { state, instance } = oneInstance();
    // Traffic failed while it was dying: the error average says degraded.
    instance.errorEwma = 0.6;
    instance.latencyEwmaMs = 4_000;
    probe(state, [FAIL, FAIL, FAIL], NOW);
    expect(routingHealth(instance, NOW + 4_000, config)).toBe("unhealthy");
    const after = probe(state, [PASS, PASS], NOW + 10_000);
    expect(instance.active.status).toBe("healthy");
    expect(routingHealth(instance, after, config)).toBe("healthy");
    expect(instance.errorEwma).toBe(0);
    expect(instance.latencyEwmaMs).toBeNull();
    expect(instance.inRotationSince).toBe(NOW + 11_000);
  });

  it("traffic after recovery still counts", () => {
    const { state, instance } = oneInstance();
    probe(state, [FAIL, FAIL, FAIL, PASS, PASS], NOW);
    instance.latencyEwmaMs = 2_500; // slow again on real traffic
    expect(routingHealth(instance, NOW + 10_000, config)).toBe("degraded");
  });

  it("a readmission after ejection forgets the error average too", () => {
    const { state, instance } = oneInstance();
    instance.errorEwma = 0.5;
    instance.outlier = { ...instance.outlier, ejectedUntil: NOW + 1_000, ejectionCount: 1 };
    recordProbeResults(state, [{ id: "api-1", at: NOW + 2_000, probe: PASS }], NOW + 2_000, config);
    expect(instance.errorEwma).toBe(0);
    expect(routingHealth(instance, NOW + 2_000, config)).toBe("healthy");
  });
});

describe("split votes", () => {
  it("move the check time and nothing else", () => {
    const { state, instance } = oneInstance();
    probe(state, [FAIL, FAIL], NOW);
    const before = instance.active;
    const applied = recordProbeResults(state, [{ id: "api-1", at: NOW + 5_000, probe: FAIL, split: true }], NOW + 5_000, config);
    expect(applied.events).toEqual([]);
    expect(instance.active).toEqual({ ...before, lastCheckAt: NOW + 5_000 });
    expect(applied.writes).toEqual([{ kind: "health-checks", instance }]);
  });
});

describe("immediate probes (heartbeats help)", () => {
  it("a registration asks for one; a heartbeat only while the active check has it unhealthy", () => {
    const { state, instance } = oneInstance();
    expect(requestImmediateProbe(state, instance, "heartbeat", NOW)).toBe(false);
    expect(requestImmediateProbe(state, instance, "registered", NOW)).toBe(true);
    // One outstanding request per instance.
    expect(requestImmediateProbe(state, instance, "registered", NOW + 1)).toBe(false);
    probe(state, [FAIL, FAIL, FAIL], NOW + 100);
    expect(state.probeRequests.has("api-1")).toBe(false);
    expect(requestImmediateProbe(state, instance, "heartbeat", NOW + 5_000)).toBe(true);
    expect(state.probeRequests.get("api-1")).toBe(NOW + 5_000);
  });

  it("a probe that ended before the request does not answer it", () => {
    const { state, instance } = oneInstance();
    probe(state, [FAIL, FAIL, FAIL], NOW);
    requestImmediateProbe(state, instance, "heartbeat", NOW + 10_000);
    recordProbeResults(state, [{ id: "api-1", at: NOW + 9_000, probe: FAIL }], NOW + 10_001, config);
    expect(state.probeRequests.has("api-1")).toBe(true);
    recordProbeResults(state, [{ id: "api-1", at: NOW + 10_050, probe: PASS }], NOW + 10_050, config);
    expect(state.probeRequests.has("api-1")).toBe(false);
  });

  it("a stopped instance asks for nothing", () => {
    const { state, instance } = oneInstance();
    instance.adminState = "stopped";
    expect(requestImmediateProbe(state, instance, "registered", NOW)).toBe(false);
  });
});
