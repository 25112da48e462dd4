/**
 * Random sequences of register / deregister / acquire / release against the
 * real RegistryDO, checked after every step against a reference model of
 * in-flight counts: equal to the model and never negative.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { freshRegistry, urlInstance } from "./helpers";

type Op =
  | { kind: "register"; slot: number }
  | { kind: "deregister"; slot: number }
  | { kind: "acquire"; service: number }
  | { kind: "release"; pick: number; outcome: "ok" | "5xx" | "timeout" | "aborted" }
  | { kind: "release-twice"; pick: number };

const SERVICES = ["prop-a", "prop-b"];
const SLOTS = 6; // slot s belongs to service s % 2

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("register" as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant("deregister" as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant("acquire" as const), service: fc.nat(1) }),
  fc.record({ kind: fc.constant("acquire" as const), service: fc.nat(1) }),
  fc.record({ kind: fc.constant("release" as const), pick: fc.nat(), outcome: fc.constantFrom("ok" as const, "5xx" as const, "timeout" as const, "aborted" as const) }),
  fc.record({ kind: fc.constant("release-twice" as const), pick: fc.nat() }),
);

describe("RegistryDO in-flight accounting", () => {
  it("matches a reference model and never goes negative", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { minLength: 1, maxLength: 40 }), fc.constantFrom(...(["round-robin", "least-connections", "weighted", "health-aware"] as const)), async (ops, strategy) => {
        const registry = freshRegistry();
        for (const service of SERVICES) await registry.configureService(service, { strategy });
        const idsBySlot = new Map<number, string>();
        const serviceOf = new Map<string, string>();
        const modelLeases = new Map<number, string>(); // lease id -> instance id
        const everReleased = new Set<number>();

        for (const op of ops) {
          switch (op.kind) {
            case "register": {
              const service = SERVICES[op.slot % 2] as string;
              const result = await registry.register(urlInstance(service, 9200 + op.slot));
              if (idsBySlot.has(op.slot)) {
                expect(result.ok).toBe(false); // duplicate target: 409, nothing changes
              } else {
                expect(result.ok).toBe(true);
                if (result.ok) {
                  idsBySlot.set(op.slot, result.id);
                  serviceOf.set(result.id, service);
                }
              }
              break;
            }
            case "deregister": {
              const id = idsBySlot.get(op.slot);
              const result = await registry.deregister(id ?? "no-such-id");
              expect(result.ok).toBe(id !== undefined);
              if (id !== undefined) {
                idsBySlot.delete(op.slot);
                for (const [lease, instance] of modelLeases) if (instance === id) modelLeases.delete(lease);
              }
              break;
            }
            case "acquire": {
              const service = SERVICES[op.service] as string;
              const result = await registry.acquire(service);
              const live = [...idsBySlot.values()].filter((id) => serviceOf.get(id) === service);
              if (live.length === 0) {
                expect(result.ok).toBe(false);
              } else {
                expect(result.ok).toBe(true);
                if (result.ok) {
                  expect(live).toContain(result.instanceId);
                  modelLeases.set(result.leaseId, result.instanceId);
                }
              }
              break;
            }
            case "release":
            case "release-twice": {
              const leases = [...modelLeases.keys()];
              if (leases.length === 0) break;
              const lease = leases[op.pick % leases.length] as number;
              const outcome =
                op.kind === "release-twice" || op.outcome === "ok"
                  ? { status: 200, durationMs: 3, failure: null }
                  : op.outcome === "5xx"
                    ? { status: 503, durationMs: 3, failure: null }
                    : { status: null, durationMs: 3, failure: op.outcome };
              expect(await registry.release(lease, outcome)).toBe(true);
              modelLeases.delete(lease);
              everReleased.add(lease);
              if (op.kind === "release-twice") expect(await registry.release(lease, outcome)).toBe(false);
              break;
            }
          }

          const counts = await registry.inflightCounts();
          const expected: Record<string, number> = {};
          for (const id of idsBySlot.values()) expected[id] = 0;
          for (const instance of modelLeases.values()) expected[instance] = (expected[instance] ?? 0) + 1;
          expect(counts).toEqual(expected);
          for (const n of Object.values(counts)) expect(n).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 40 },
    );
  });
});
