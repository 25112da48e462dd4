/**
 * Random sequences of register / deregister / acquire / release, edge isolate
 * reports, and the alarm's expiries, through the registry's decisions
 * (src/core/registry) exactly as RegistryDO calls them, with the store's lease
 * table stood in for (support/registry.ts). Checked after every step against
 * a reference model of in-flight counts: equal to the model and never
 * negative. (test/workers/registry-leases.test.ts checks the object's
 * wiring of the same calls: lease ids, releases and deletions in SQLite.)
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { STRATEGIES, type Strategy } from "../../src/core/balancer/types";
import { applyEdgeReport } from "../../src/core/registry/edge-reports";
import { expireIsolateReports, isolateReportTtlMs, totalInflight } from "../../src/core/registry/inflight";
import { acquireLease, expireLeases, releaseLease } from "../../src/core/registry/leases";
import { deregisterInstance, registerInstance } from "../../src/core/registry/registration";
import { applyServiceSettings } from "../../src/core/registry/service-settings";
import { emptyRegistry, type RegistryState } from "../../src/core/registry/state";
import { ANY_URL, LeaseBook, REGISTRY_CONFIG as config } from "./support/registry";

type Outcome = "ok" | "5xx" | "timeout" | "aborted";

type Op =
  | { kind: "register"; slot: number }
  | { kind: "deregister"; slot: number }
  | { kind: "acquire"; service: number; retry: boolean }
  | { kind: "release"; pick: number; outcome: Outcome }
  | { kind: "release-twice"; pick: number }
  | { kind: "edge-report"; isolate: number; counts: number[]; sockets: number[] }
  | { kind: "tick"; ms: number }
  | { kind: "alarm" };

const SERVICES = ["prop-a", "prop-b"];
const SLOTS = 6; // slot s belongs to service s % 2
const ISOLATES = 3;

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("register" as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant("deregister" as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant("acquire" as const), service: fc.nat(1), retry: fc.constant(false) }),
  fc.record({ kind: fc.constant("acquire" as const), service: fc.nat(1), retry: fc.boolean() }),
  fc.record({ kind: fc.constant("release" as const), pick: fc.nat(), outcome: fc.constantFrom<Outcome>("ok", "5xx", "timeout", "aborted") }),
  fc.record({ kind: fc.constant("release-twice" as const), pick: fc.nat() }),
  // Per slot: a count the isolate has in flight there (0 or less is "none"; the registry drops those).
  // Of those, open WebSocket connections (the registry caps them at the count in flight).
  fc.record({
    kind: fc.constant("edge-report" as const),
    isolate: fc.nat(ISOLATES - 1),
    counts: fc.array(fc.integer({ min: -1, max: 3 }), { minLength: SLOTS, maxLength: SLOTS }),
    sockets: fc.array(fc.integer({ min: -1, max: 4 }), { minLength: SLOTS, maxLength: SLOTS }),
  }),
  fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
  fc.record({ kind: fc.constant("alarm" as const) }),
);

/** The outcomes a release may report, as the edge sends them. */
function outcomeOf(outcome: Outcome) {
  if (outcome === "ok") return { status: 200, durationMs: 3, failure: null };
  if (outcome === "5xx") return { status: 503, durationMs: 3, failure: null };
  return { status: null, durationMs: 3, failure: outcome };
}

function run(ops: readonly Op[], strategy: Strategy): void {
  let now = 1_700_000_000_000;
  const state: RegistryState = emptyRegistry();
  const leaseBook = new LeaseBook();
  for (const service of SERVICES) applyServiceSettings(state, service, { strategy }, now, ANY_URL);

  // The reference model.
  const idsBySlot = new Map<number, string>();
  const serviceOf = new Map<string, string>();
  const modelLeases = new Map<number, { instanceId: string; expiresAt: number; isRetry: boolean }>();
  const modelReports = new Map<number, { seenAt: number; counts: Map<string, number>; sockets: Map<string, number> }>();
  let nextId = 1;

  for (const op of ops) {
    switch (op.kind) {
      case "register": {
        const service = SERVICES[op.slot % 2] as string;
        const result = registerInstance(state, { service, target: { kind: "url", url: `http://127.0.0.1:${9200 + op.slot}/` }, weight: 1, metadata: {} }, `instance-${nextId++}`, now, config, ANY_URL);
        if (idsBySlot.has(op.slot)) {
          expect(result.ok).toBe(false); // duplicate target: 409, nothing changes
        } else {
          expect(result.ok).toBe(true);
          if (result.ok) {
            leaseBook.apply(result.writes);
            idsBySlot.set(op.slot, result.instance.id);
            serviceOf.set(result.instance.id, service);
          }
        }
        break;
      }
      case "deregister": {
        const id = idsBySlot.get(op.slot);
        const result = deregisterInstance(state, id ?? "no-such-id", null);
        expect(result.ok).toBe(id !== undefined);
        if (result.ok) leaseBook.apply(result.writes);
        if (id !== undefined) {
          idsBySlot.delete(op.slot);
          for (const [lease, held] of modelLeases) if (held.instanceId === id) modelLeases.delete(lease);
        }
        break;
      }
      case "acquire": {
        const service = SERVICES[op.service] as string;
        const result = acquireLease(state, service, { retry: op.retry }, now, config);
        const live = [...idsBySlot.values()].filter((id) => serviceOf.get(id) === service);
        if (live.length === 0) {
          expect(result.ok).toBe(false);
        } else if (!result.ok) {
          // Only a retry may be refused while instances are in rotation: the retry budget.
          expect(op.retry && result.reason).toBe("retry-budget-exhausted");
        } else {
          expect(live).toContain(result.instance.id);
          const leaseId = leaseBook.insert(result.instance.id, result.expiresAt, result.isRetry);
          modelLeases.set(leaseId, { instanceId: result.instance.id, expiresAt: result.expiresAt, isRetry: result.isRetry });
        }
        break;
      }
      case "release":
      case "release-twice": {
        const leases = [...modelLeases.keys()];
        if (leases.length === 0) break;
        const leaseId = leases[op.pick % leases.length] as number;
        const outcome = outcomeOf(op.kind === "release" ? op.outcome : "ok");
        const lease = leaseBook.delete(leaseId);
        expect(lease).not.toBeNull();
        if (lease) releaseLease(state, lease, outcome, now, config);
        modelLeases.delete(leaseId);
        if (op.kind === "release-twice") expect(leaseBook.delete(leaseId)).toBeNull();
        break;
      }
      case "edge-report": {
        const inflight: Record<string, number> = {};
        const sockets: Record<string, number> = {};
        const counts = new Map<string, number>();
        const socketCounts = new Map<string, number>();
        for (const [slot, id] of idsBySlot) {
          const count = op.counts[slot] as number;
          const open = op.sockets[slot] as number;
          inflight[id] = count;
          sockets[id] = open;
          if (count > 0) counts.set(id, count);
          if (count > 0 && open > 0) socketCounts.set(id, Math.min(open, count));
        }
        // Reports may name instances the registry no longer knows: they count for nothing.
        inflight["instance-gone"] = 2;
        sockets["instance-gone"] = 1;
        applyEdgeReport(state, { isolateId: `isolate-${op.isolate}`, inflight, sockets, outcomes: {} }, now, config);
        if (counts.size > 0) modelReports.set(op.isolate, { seenAt: now, counts, sockets: socketCounts });
        else modelReports.delete(op.isolate);
        break;
      }
      case "tick":
        now += op.ms;
        break;
      case "alarm": {
        // What RegistryDO.alarm does with in-flight counts.
        expireIsolateReports(state, now, config);
        expireLeases(state, leaseBook.deleteExpired(now));
        for (const [isolate, report] of modelReports) if (now - report.seenAt >= isolateReportTtlMs(config)) modelReports.delete(isolate);
        for (const [lease, held] of modelLeases) if (held.expiresAt <= now) modelLeases.delete(lease);
        break;
      }
    }

    const expected = new Map<string, number>();
    for (const id of idsBySlot.values()) expected.set(id, 0);
    for (const { instanceId } of modelLeases.values()) expected.set(instanceId, (expected.get(instanceId) ?? 0) + 1);
    for (const report of modelReports.values()) {
      for (const [id, count] of report.counts) if (expected.has(id)) expected.set(id, (expected.get(id) ?? 0) + count);
    }
    const counts = new Map([...state.instances.values()].map((i) => [i.id, totalInflight(i)]));
    expect(counts).toEqual(expected);
    const expectedSockets = new Map<string, number>();
    for (const id of idsBySlot.values()) expectedSockets.set(id, 0);
    for (const report of modelReports.values()) {
      for (const [id, count] of report.sockets) if (expectedSockets.has(id)) expectedSockets.set(id, (expectedSockets.get(id) ?? 0) + count);
    }
    expect(new Map([...state.instances.values()].map((i) => [i.id, i.edgeSockets]))).toEqual(expectedSockets);
    for (const instance of state.instances.values()) {
      expect(instance.inflight).toBeGreaterThanOrEqual(0);
      expect(instance.edgeInflight).toBeGreaterThanOrEqual(0);
      expect(instance.edgeSockets).toBeGreaterThanOrEqual(0);
      expect(instance.edgeSockets).toBeLessThanOrEqual(instance.edgeInflight);
    }
    // Retries in flight per service: the model's retry leases on its live instances (a removed
    // instance's retries stop counting against the budget, as its leases are gone).
    for (const service of state.services.values()) {
      let retries = 0;
      for (const held of modelLeases.values()) if (held.isRetry && serviceOf.get(held.instanceId) === service.name) retries++;
      expect(service.activeRetries, service.name).toBe(retries);
    }
  }

  // Every isolate goes quiet (evicted, or its connections' lease not renewed): after the report
  // TTL the alarm stops counting all they reported, open WebSocket connections included.
  now += isolateReportTtlMs(config);
  expireIsolateReports(state, now, config);
  for (const instance of state.instances.values()) {
    expect(instance.edgeInflight).toBe(0);
    expect(instance.edgeSockets).toBe(0);
  }
}

describe("registry in-flight accounting (src/core/registry/inflight.ts)", () => {
  it("matches a reference model and never goes negative", () => {
    fc.assert(
      fc.property(fc.array(opArbitrary, { minLength: 1, maxLength: 60 }), fc.constantFrom(...STRATEGIES), (ops, strategy) => run(ops, strategy)),
      { numRuns: 300 },
    );
  });
});
