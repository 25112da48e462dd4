import { describe, expect, it } from "vitest";
import { type Candidate, initialBalancerState, pickInstance } from "../../src/core/balancer";

const candidate = (id: string, health: Candidate["health"]): Candidate => ({ id, weight: 1, inflight: 0, health, score: 100 });

function picks(instances: Candidate[], threshold: number, n = 30) {
  let state = initialBalancerState;
  const seen = new Map<string, number>();
  let panic = false;
  for (let i = 0; i < n; i++) {
    const result = pickInstance("round-robin", instances, state, threshold);
    if (!result) throw new Error("no pick");
    state = result.state;
    panic = result.panic;
    seen.set(result.id, (seen.get(result.id) ?? 0) + 1);
  }
  return { seen, panic };
}

describe("panic threshold", () => {
  it("stays out of panic with 2 of 3 usable at the 50% threshold, and routes only to the usable ones", () => {
    const { seen, panic } = picks([candidate("a", "healthy"), candidate("b", "unhealthy"), candidate("c", "degraded")], 50);
    expect(panic).toBe(false);
    expect(seen.has("b")).toBe(false);
  });

  it("panics with 1 of 3 usable (33% < 50%) and spreads over all three", () => {
    const { seen, panic } = picks([candidate("a", "healthy"), candidate("b", "unhealthy"), candidate("c", "unhealthy")], 50);
    expect(panic).toBe(true);
    expect([...seen.values()]).toEqual([10, 10, 10]);
  });

  it("with the threshold at 0 panics only when nothing is usable", () => {
    expect(picks([candidate("a", "healthy"), candidate("b", "unhealthy"), candidate("c", "unhealthy")], 0).panic).toBe(false);
    expect(picks([candidate("a", "unhealthy"), candidate("b", "unhealthy")], 0).panic).toBe(true);
  });
});
