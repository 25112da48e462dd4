import { describe, expect, it } from "vitest";
import {
  type BalancerState,
  type Candidate,
  type HealthStatus,
  type PickFunction,
  type Strategy,
  STRATEGIES,
  healthAware,
  healthScore,
  initialBalancerState,
  isStrategy,
  leastConnections,
  pickFunctions,
  pickInstance,
  roundRobin,
  weighted,
} from "../../src/core/balancer/index";
import { seededRandom } from "./support/seeded-random";

function cand(id: string, over: Partial<Omit<Candidate, "id">> = {}): Candidate {
  return { id, weight: 1, inflight: 0, health: "healthy", score: 100, ...over };
}

function run(fn: PickFunction, candidates: readonly Candidate[], picks: number): string[] {
  let state: BalancerState = initialBalancerState;
  const out: string[] = [];
  for (let i = 0; i < picks; i++) {
    const p = fn(candidates, state);
    out.push(p.id);
    state = p.state;
  }
  return out;
}

function counts(ids: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

const N = 10_000;

describe("round-robin", () => {
  it("spreads 10,000 picks evenly (±1)", () => {
    const cs = ["a", "b", "c"].map((id) => cand(id));
    const c = counts(run(roundRobin, cs, N));
    for (const x of cs) expect(Math.abs((c.get(x.id) ?? 0) - N / cs.length)).toBeLessThanOrEqual(1);
  });

  it("picks candidates[cursor % n] and advances the cursor by one", () => {
    const cs = ["a", "b", "c"].map((id) => cand(id));
    const p = roundRobin(cs, { cursor: 7, currentWeights: {} });
    expect(p.id).toBe("b");
    expect(p.state.cursor).toBe(8);
  });

  it("wraps the cursor before it leaves the safe-integer range and resets corrupt cursors", () => {
    const cs = [cand("a"), cand("b")];
    expect(roundRobin(cs, { cursor: Number.MAX_SAFE_INTEGER, currentWeights: {} }).state.cursor).toBe(0);
    for (const bad of [-3, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const p = roundRobin(cs, { cursor: bad, currentWeights: {} });
      expect(p.id).toBe("a");
      expect(p.state.cursor).toBe(1);
    }
  });
});

describe("weighted (smooth WRR)", () => {
  const weightSets: number[][] = [
    [5, 1, 1],
    [3, 2, 7, 1],
    [1, 1, 1, 1],
    [10, 1],
  ];

  for (const ws of weightSets) {
    it(`shares match weights ${ws.join(",")} within 1% over 10,000 picks`, () => {
      const cs = ws.map((w, i) => cand(`i${i}`, { weight: w }));
      const total = ws.reduce((s, w) => s + w, 0);
      const c = counts(run(weighted, cs, N));
      for (const x of cs) {
        expect(Math.abs((c.get(x.id) ?? 0) / N - x.weight / total)).toBeLessThanOrEqual(0.01);
      }
    });

    it(`is smooth for weights ${ws.join(",")}: every window of n picks gives i at most ceil(w_i/Σw·n)+1`, () => {
      const cs = ws.map((w, i) => cand(`i${i}`, { weight: w }));
      const total = ws.reduce((s, w) => s + w, 0);
      const seq = run(weighted, cs, N);
      // Collect violations and assert once: an expect() per window is far too slow.
      const violations: string[] = [];
      for (let n = 1; n <= total * 2; n++) {
        for (const x of cs) {
          const bound = Math.ceil((x.weight / total) * n) + 1;
          let inWindow = 0;
          let worst = 0;
          for (let i = 0; i < seq.length; i++) {
            if (seq[i] === x.id) inWindow++;
            if (i >= n && seq[i - n] === x.id) inWindow--;
            if (i >= n - 1 && inWindow > worst) worst = inWindow;
          }
          if (worst > bound) violations.push(`n=${n} ${x.id}: ${worst} > ${bound}`);
        }
      }
      expect(violations).toEqual([]);
    });
  }

  it("reproduces nginx's sequence for 5,1,1", () => {
    const cs = [cand("a", { weight: 5 }), cand("b", { weight: 1 }), cand("c", { weight: 1 })];
    expect(run(weighted, cs, 7).join("")).toBe("aabacaa");
  });

  it("drops departed ids from state and starts new ids at 0", () => {
    const cs = [cand("a", { weight: 3 }), cand("b", { weight: 1 }), cand("c", { weight: 2 })];
    let state: BalancerState = initialBalancerState;
    for (let i = 0; i < 5; i++) state = weighted(cs, state).state;
    expect(Object.keys(state.currentWeights).sort()).toEqual(["a", "b", "c"]);

    const next = [cand("a", { weight: 3 }), cand("d", { weight: 2 })];
    const aBefore = state.currentWeights["a"] ?? 0;
    const p = weighted(next, state);
    expect(Object.keys(p.state.currentWeights).sort()).toEqual(["a", "d"]);
    // d entered at 0, so after one round it holds its weight (unless it was chosen).
    const expectD = p.id === "d" ? 2 - 5 : 2;
    const expectA = p.id === "a" ? aBefore + 3 - 5 : aBefore + 3;
    expect(p.state.currentWeights).toEqual({ a: expectA, d: expectD });
  });

  it("treats ids that collide with Object.prototype members as ordinary ids", () => {
    const cs = [cand("__proto__", { weight: 2 }), cand("constructor", { weight: 1 })];
    const seq = run(weighted, cs, 300);
    const c = counts(seq);
    expect(c.get("__proto__")).toBe(200);
    expect(c.get("constructor")).toBe(100);
  });
});

describe("least-connections", () => {
  it("always picks an instance with the minimum inflight (10,000 random vectors)", () => {
    const rnd = seededRandom(0xc0ffee);
    let bad = 0;
    let state: BalancerState = initialBalancerState;
    for (let i = 0; i < N; i++) {
      const n = 1 + Math.floor(rnd() * 8);
      const cs = Array.from({ length: n }, (_, k) => cand(`i${k}`, { inflight: Math.floor(rnd() * 5) }));
      const p = leastConnections(cs, state);
      const min = Math.min(...cs.map((c) => c.inflight));
      if (cs.find((c) => c.id === p.id)?.inflight !== min) bad++;
      if (p.state.cursor !== state.cursor + 1) bad++;
      state = p.state;
    }
    expect(bad).toBe(0);
  });

  it("breaks ties by rotation from cursor % n", () => {
    const cs = [cand("a", { inflight: 0 }), cand("b", { inflight: 3 }), cand("c", { inflight: 0 }), cand("d", { inflight: 0 })];
    const pick = (cursor: number) => leastConnections(cs, { cursor, currentWeights: {} }).id;
    expect([0, 1, 2, 3, 4, 5].map(pick)).toEqual(["a", "c", "c", "d", "a", "c"]);
  });

  it("spreads evenly when all are idle", () => {
    const cs = ["a", "b", "c"].map((id) => cand(id));
    const c = counts(run(leastConnections, cs, N));
    for (const x of cs) expect(Math.abs((c.get(x.id) ?? 0) - N / 3)).toBeLessThanOrEqual(1);
  });
});

describe("health-aware", () => {
  it("prefers healthy over degraded even when the degraded one scores better", () => {
    const cs = [cand("d", { health: "degraded", score: 1 }), cand("h", { health: "healthy", score: 1000, inflight: 9 })];
    let state: BalancerState = initialBalancerState;
    for (let i = 0; i < 100; i++) {
      const r = pickInstance("health-aware", cs, state);
      expect(r?.id).toBe("h");
      expect(r?.panic).toBe(false);
      if (r) state = r.state;
    }
  });

  it("falls back to degraded, never unhealthy while any non-unhealthy exists", () => {
    const cs = [cand("u", { health: "unhealthy", score: 1 }), cand("d1", { health: "degraded" }), cand("d2", { health: "degraded" })];
    let state: BalancerState = initialBalancerState;
    const seen: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const r = pickInstance("health-aware", cs, state);
      if (!r) throw new Error("unexpected null");
      expect(r.panic).toBe(false);
      seen.push(r.id);
      state = r.state;
    }
    expect(seen).not.toContain("u");
    const c = counts(seen);
    expect(c.get("d1")).toBe(500);
    expect(c.get("d2")).toBe(500);
  });

  it("uses all instances with panic=true when all are unhealthy", () => {
    const cs = ["a", "b"].map((id) => cand(id, { health: "unhealthy" }));
    const r = pickInstance("health-aware", cs, initialBalancerState);
    expect(r?.panic).toBe(true);
    expect(["a", "b"]).toContain(r?.id);
  });

  it("spreads evenly when scores are equal and nothing is in flight", () => {
    const cs = ["a", "b", "c", "d"].map((id) => cand(id, { score: 42 }));
    const c = counts(run(healthAware, cs, N));
    for (const x of cs) expect(Math.abs((c.get(x.id) ?? 0) - N / 4)).toBeLessThanOrEqual(1);
  });

  it("favours a low-score instance, until its queue makes it costlier", () => {
    const fast = cand("fast", { score: healthScore({ latencyEwmaMs: 10, errorRate: 0 }) });
    const slow = cand("slow", { score: healthScore({ latencyEwmaMs: 50, errorRate: 0 }) });
    expect(healthAware([slow, fast], initialBalancerState).id).toBe("fast");
    // 10*(4+1) = 50 ties 50*(0+1): rotation decides; 10*(5+1) = 60 > 50: slow wins.
    expect(healthAware([slow, { ...fast, inflight: 5 }], initialBalancerState).id).toBe("slow");

    // Simulate requests that never complete: fast should take ~5x the traffic of slow.
    const inflight = new Map([["fast", 0], ["slow", 0]]);
    let state: BalancerState = initialBalancerState;
    for (let i = 0; i < 600; i++) {
      const cs = [fast, slow].map((c) => ({ ...c, inflight: inflight.get(c.id) ?? 0 }));
      const p = healthAware(cs, state);
      inflight.set(p.id, (inflight.get(p.id) ?? 0) + 1);
      state = p.state;
    }
    expect(Math.abs((inflight.get("fast") ?? 0) - 500)).toBeLessThanOrEqual(1);
  });
});

describe("healthScore", () => {
  it("is latency scaled by the error penalty, floored at 1 ms", () => {
    expect(healthScore({ latencyEwmaMs: 20, errorRate: 0 })).toBe(20);
    expect(healthScore({ latencyEwmaMs: 20, errorRate: 0.1 })).toBeCloseTo(40);
    expect(healthScore({ latencyEwmaMs: 20, errorRate: 1 })).toBe(220);
    expect(healthScore({ latencyEwmaMs: 0, errorRate: 0 })).toBe(1);
    expect(healthScore({ latencyEwmaMs: 0.2, errorRate: 0.5 })).toBe(6);
  });

  it("uses a neutral 100 ms default for unknown latency and clamps bad inputs", () => {
    expect(healthScore({ latencyEwmaMs: null, errorRate: 0 })).toBe(100);
    expect(healthScore({ latencyEwmaMs: Number.NaN, errorRate: Number.NaN })).toBe(100);
    expect(healthScore({ latencyEwmaMs: 10, errorRate: 5 })).toBe(110);
    expect(healthScore({ latencyEwmaMs: 10, errorRate: -1 })).toBe(10);
  });
});

describe("pickInstance", () => {
  it("returns null when there are no instances", () => {
    for (const s of STRATEGIES) expect(pickInstance(s, [], initialBalancerState)).toBeNull();
  });

  it("non-health-aware strategies use healthy and degraded alike, excluding unhealthy", () => {
    const cs = [cand("h"), cand("u", { health: "unhealthy" }), cand("d", { health: "degraded" })];
    for (const s of ["round-robin", "least-connections", "weighted"] as const) {
      let state: BalancerState = initialBalancerState;
      const seen: string[] = [];
      for (let i = 0; i < 100; i++) {
        const r = pickInstance(s, cs, state);
        if (!r) throw new Error("unexpected null");
        expect(r.panic).toBe(false);
        seen.push(r.id);
        state = r.state;
      }
      const c = counts(seen);
      expect(c.get("u")).toBeUndefined();
      expect(c.get("h")).toBe(50);
      expect(c.get("d")).toBe(50);
    }
  });

  it("panics over all instances when every one is unhealthy, for every strategy", () => {
    const cs = ["a", "b", "c"].map((id) => cand(id, { health: "unhealthy" as HealthStatus }));
    for (const s of STRATEGIES) {
      let state: BalancerState = initialBalancerState;
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const r = pickInstance(s, cs, state);
        if (!r) throw new Error("unexpected null");
        expect(r.panic).toBe(true);
        seen.add(r.id);
        state = r.state;
      }
      expect([...seen].sort()).toEqual(["a", "b", "c"]);
    }
  });

  it("pickFunctions covers every strategy and isStrategy recognises exactly them", () => {
    expect(Object.keys(pickFunctions).sort()).toEqual([...STRATEGIES].sort());
    for (const s of STRATEGIES) expect(isStrategy(s)).toBe(true);
    for (const x of ["", "random", "Round-Robin", null, undefined, 1, {}, ["weighted"]]) {
      expect(isStrategy(x)).toBe(false);
    }
    const s: Strategy = "weighted";
    expect(pickFunctions[s]).toBe(weighted);
  });

  it("strategy functions throw on an empty list (pickInstance is the guarded entry point)", () => {
    for (const s of STRATEGIES) expect(() => pickFunctions[s]([], initialBalancerState)).toThrow(RangeError);
  });
});
