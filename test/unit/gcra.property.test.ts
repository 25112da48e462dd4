import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type GcraState, type RateLimitPolicy, gcra } from "../../src/core/gcra";

/*
 * gcra is checked against an independent model: a continuous leaky bucket that
 * holds a level (in requests), drains at limit/periodMs requests per ms, and
 * admits a request of cost c when level + c ≤ burst. The model uses BigInt with
 * a scaled level so every step is exact; floating point would make the two
 * disagree at the exact allow/deny edge, which is precisely what must be tested.
 *
 * Exactness choice: gcra works in whole microseconds with T rounded UP to a
 * whole µs. So
 *  - for policies where T = periodMs/limit is a whole number of µs, gcra must
 *    equal the bucket at the nominal rate decision for decision;
 *  - for any policy, it must equal the bucket draining at one request per
 *    ceil(T in µs), the rate it documents enforcing (never above nominal).
 * Arrival times are whole ms (what Date.now gives) at real epoch magnitudes.
 */

interface Arrival {
  readonly gapMs: number;
  readonly cost: number;
}

/**
 * Leaky bucket with level scaled by `scale` so drains are integral: level × scale
 * grows by cost × scale per request and shrinks by `drainPerMs` per ms.
 * Nominal: scale = periodMs, drainPerMs = limit.  Effective: scale = T_us, drainPerMs = 1000.
 */
class LeakyBucket {
  private level = 0n;
  private last: bigint | null = null;
  constructor(
    private readonly scale: bigint,
    private readonly drainPerMs: bigint,
    private readonly burst: bigint,
  ) {}

  offer(atMs: bigint, cost: bigint): boolean {
    if (this.last !== null) {
      const drained = this.level - (atMs - this.last) * this.drainPerMs;
      this.level = drained > 0n ? drained : 0n;
    }
    this.last = atMs;
    if (this.level + cost * this.scale > this.burst * this.scale) return false;
    this.level += cost * this.scale;
    return true;
  }
}

function effectiveIntervalUs(p: RateLimitPolicy): bigint {
  const n = BigInt(p.periodMs) * 1000n;
  const d = BigInt(p.limit);
  return (n + d - 1n) / d;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Policies whose T is a whole number of µs: periodMs is a multiple of limit / gcd(limit, 1000). */
const exactPolicyArb: fc.Arbitrary<RateLimitPolicy> = fc
  .record({ limit: fc.integer({ min: 1, max: 500 }), multiple: fc.integer({ min: 1, max: 20_000 }), burstFactor: fc.double({ min: 0, max: 1.5, noNaN: true }) })
  .map(({ limit, multiple, burstFactor }) => ({
    name: "p",
    limit,
    periodMs: (limit / gcd(limit, 1000)) * multiple,
    burst: Math.max(1, Math.round(limit * burstFactor)),
  }));

/**
 * Any whole-ms policy, T usually not a whole µs. Short periods give T of a few µs
 * to a few hundred µs, where many refills per ms let the µs rounding of T show
 * up in the decisions.
 */
const anyPolicyArb: fc.Arbitrary<RateLimitPolicy> = fc
  .record({
    limit: fc.integer({ min: 1, max: 10_000 }),
    periodMs: fc.oneof(fc.integer({ min: 1, max: 3_600_000 }), fc.integer({ min: 1, max: 50 })),
    burst: fc.integer({ min: 1, max: 200 }),
  })
  .map((r) => ({ name: "p", ...r }));

/** Gaps scaled to the policy's T so every regime shows up: simultaneous, sub-T, around T, long idle. */
function arrivalsArb(p: RateLimitPolicy): fc.Arbitrary<Arrival[]> {
  const tMs = Math.max(1, Math.ceil(p.periodMs / p.limit));
  const gap = fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: tMs }),
    fc.integer({ min: Math.max(0, tMs - 2), max: tMs + 2 }),
    fc.integer({ min: 0, max: tMs * (p.burst + 2) }),
  );
  const cost = fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: p.burst + 1 }) });
  return fc.array(fc.record({ gapMs: gap, cost }), { minLength: 1, maxLength: 150 });
}

const startArb = fc.integer({ min: 0, max: 2_000_000_000_000 });

const withArrivals = (policyArb: fc.Arbitrary<RateLimitPolicy>) =>
  policyArb.chain((p) => fc.tuple(fc.constant(p), startArb, arrivalsArb(p)));

interface Outcome {
  readonly at: number;
  readonly cost: number;
  readonly allowed: boolean;
}

/** Runs gcra as the Durable Object does, checking per-decision invariants along the way. */
function runGcra(p: RateLimitPolicy, start: number, arrivals: readonly Arrival[]): Outcome[] {
  let state: GcraState | null = null;
  let at = start;
  const out: Outcome[] = [];
  for (const { gapMs, cost } of arrivals) {
    at += gapMs;
    const d = gcra(state, p, at, cost);
    expect(Number.isInteger(d.remaining) && d.remaining >= 0 && d.remaining <= p.burst).toBe(true);
    expect(Number.isInteger(d.resetMs) && d.resetMs >= 0).toBe(true);
    if (d.allowed) {
      expect(d.retryAfterMs).toBe(0);
      state = d.state;
    } else {
      expect(Number.isInteger(d.retryAfterMs) && d.retryAfterMs > 0).toBe(true);
      if (state !== null) expect(d.state).toBe(state); // a refusal changes nothing
    }
    out.push({ at, cost, allowed: d.allowed });
  }
  return out;
}

function runBucket(bucket: LeakyBucket, start: number, arrivals: readonly Arrival[]): boolean[] {
  let at = BigInt(start);
  return arrivals.map(({ gapMs, cost }) => {
    at += BigInt(gapMs);
    return bucket.offer(at, BigInt(cost));
  });
}

describe("gcra property: equals an exact leaky bucket", () => {
  it("at the nominal rate, when T is a whole number of µs", () => {
    fc.assert(
      fc.property(withArrivals(exactPolicyArb), ([p, start, arrivals]) => {
        const bucket = new LeakyBucket(BigInt(p.periodMs), BigInt(p.limit), BigInt(p.burst));
        expect(runGcra(p, start, arrivals).map((o) => o.allowed)).toEqual(runBucket(bucket, start, arrivals));
      }),
      { numRuns: 300 },
    );
  });

  it("at the documented effective rate (T rounded up to the µs) for any policy", () => {
    fc.assert(
      fc.property(withArrivals(anyPolicyArb), ([p, start, arrivals]) => {
        const tUs = effectiveIntervalUs(p);
        // never faster than configured, and slower by less than 1 µs per request
        expect(tUs * BigInt(p.limit) >= BigInt(p.periodMs) * 1000n).toBe(true);
        expect((tUs - 1n) * BigInt(p.limit) < BigInt(p.periodMs) * 1000n).toBe(true);
        // the interval gcra really uses, read off the state of a single request from idle
        const first = gcra(null, p, start);
        expect(BigInt(Math.round((first.state.tat - start) * 1000))).toBe(tUs);
        const bucket = new LeakyBucket(tUs, 1000n, BigInt(p.burst));
        expect(runGcra(p, start, arrivals).map((o) => o.allowed)).toEqual(runBucket(bucket, start, arrivals));
      }),
      { numRuns: 300 },
    );
  });
});

describe("gcra property: sliding-window bound", () => {
  it("any interval of length L admits at most burst + floor(L × limit / periodMs) units", () => {
    fc.assert(
      fc.property(withArrivals(fc.oneof(exactPolicyArb, anyPolicyArb)), ([p, start, arrivals]) => {
        const allowed = runGcra(p, start, arrivals).filter((o) => o.allowed);
        // The busiest interval starts and ends on admitted requests, so checking all pairs covers every interval.
        for (let i = 0; i < allowed.length; i++) {
          let units = 0n;
          for (let j = i; j < allowed.length; j++) {
            const a = allowed[i];
            const b = allowed[j];
            if (a === undefined || b === undefined) throw new Error("unreachable");
            units += BigInt(b.cost);
            const bound = BigInt(p.burst) + (BigInt(b.at - a.at) * BigInt(p.limit)) / BigInt(p.periodMs);
            expect(units <= bound).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("gcra property: retry and reset hints", () => {
  it("retryAfterMs is the exact earliest whole ms; remaining ∈ [0, burst]", () => {
    fc.assert(
      fc.property(withArrivals(anyPolicyArb), ([p, start, arrivals]) => {
        let state: GcraState | null = null;
        let at = start;
        for (const { gapMs, cost } of arrivals) {
          at += gapMs;
          const d = gcra(state, p, at, cost);
          expect(d.remaining >= 0 && d.remaining <= p.burst).toBe(true);
          if (d.allowed) {
            state = d.state;
          } else if (cost <= p.burst) {
            expect(gcra(state, p, at + d.retryAfterMs, cost).allowed).toBe(true);
            expect(gcra(state, p, at + d.retryAfterMs - 1, cost).allowed).toBe(false);
          } else {
            expect(d.retryAfterMs).toBe(p.periodMs);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
