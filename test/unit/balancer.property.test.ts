import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BalancerState,
  type Candidate,
  type HealthStatus,
  STRATEGIES,
  initialBalancerState,
  pickInstance,
  weighted,
} from "../../src/core/balancer/index";

const healthArb = fc.constantFrom<HealthStatus>("healthy", "degraded", "unhealthy");

const candidateArb = (idArb: fc.Arbitrary<string>): fc.Arbitrary<Candidate> =>
  fc.record({
    id: idArb,
    weight: fc.integer({ min: 1, max: 20 }),
    inflight: fc.nat({ max: 50 }),
    health: healthArb,
    score: fc.double({ min: 0, max: 10_000, noNaN: true }),
  });

// Unique ids: a registry never holds two instances under one id.
// Ids that shadow Object.prototype members must behave like any other id.
const idArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 6 }),
  fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty"),
);

const candidatesArb = fc.uniqueArray(candidateArb(idArb), {
  minLength: 1,
  maxLength: 8,
  selector: (c) => c.id,
});

// Includes cursors near the wrap point and corrupt persisted values.
const cursorArb = fc.oneof(
  fc.nat(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY),
);

const strategyArb = fc.constantFrom(...STRATEGIES);

describe("balancer properties", () => {
  it("picks a candidate, never an unhealthy one while a non-unhealthy exists, keeps the cursor sane", () => {
    fc.assert(
      fc.property(
        strategyArb,
        fc.array(candidatesArb, { minLength: 1, maxLength: 20 }),
        cursorArb,
        (strategy, rounds, cursor) => {
          // Each round may see a different candidate set, as instances come and go.
          let state: BalancerState = { cursor, currentWeights: {} };
          for (const candidates of rounds) {
            const r = pickInstance(strategy, candidates, state);
            expect(r).not.toBeNull();
            if (r === null) return;
            const chosen = candidates.find((c) => c.id === r.id);
            expect(chosen).toBeDefined();
            const anyUsable = candidates.some((c) => c.health !== "unhealthy");
            expect(r.panic).toBe(!anyUsable);
            if (anyUsable) expect(chosen?.health).not.toBe("unhealthy");
            if (strategy === "health-aware" && candidates.some((c) => c.health === "healthy")) {
              expect(chosen?.health).toBe("healthy");
            }
            // Even from a corrupt persisted cursor, the returned one is usable.
            expect(Number.isSafeInteger(r.state.cursor)).toBe(true);
            expect(r.state.cursor).toBeGreaterThanOrEqual(0);
            for (const id of Object.keys(r.state.currentWeights)) {
              expect(candidates.some((c) => c.id === id)).toBe(true);
            }
            state = r.state;
          }
        },
      ),
    );
  });

  it("keeps the cursor a finite non-negative integer over long runs", () => {
    fc.assert(
      fc.property(strategyArb, candidatesArb, fc.nat(), fc.integer({ min: 1, max: 50 }), (strategy, candidates, cursor, picks) => {
        let state: BalancerState = { cursor, currentWeights: {} };
        for (let i = 0; i < picks; i++) {
          const r = pickInstance(strategy, candidates, state);
          if (r === null) throw new Error("null pick on non-empty list");
          expect(Number.isSafeInteger(r.state.cursor)).toBe(true);
          expect(r.state.cursor).toBeGreaterThanOrEqual(0);
          state = r.state;
        }
      }),
    );
  });

  it("weighted: currentWeights keys ⊆ candidate ids and they sum to 0 after each pick", () => {
    fc.assert(
      fc.property(candidatesArb, fc.integer({ min: 1, max: 100 }), (candidates, picks) => {
        let state: BalancerState = initialBalancerState;
        const ids = new Set(candidates.map((c) => c.id));
        for (let i = 0; i < picks; i++) {
          const p = weighted(candidates, state);
          expect(ids.has(p.id)).toBe(true);
          const keys = Object.keys(p.state.currentWeights);
          for (const k of keys) expect(ids.has(k)).toBe(true);
          // Integer weights keep the sums exact, so the nginx invariant holds exactly.
          const sum = keys.reduce((s, k) => s + (p.state.currentWeights[k] ?? 0), 0);
          expect(sum).toBe(0);
          state = p.state;
        }
      }),
    );
  });

  it("weighted: after membership changes, state keeps only current ids", () => {
    fc.assert(
      fc.property(fc.array(candidatesArb, { minLength: 1, maxLength: 10 }), (rounds) => {
        let state: BalancerState = initialBalancerState;
        for (const candidates of rounds) {
          const p = weighted(candidates, state);
          expect(Object.keys(p.state.currentWeights).sort()).toEqual(candidates.map((c) => c.id).sort());
          state = p.state;
        }
      }),
    );
  });
});
