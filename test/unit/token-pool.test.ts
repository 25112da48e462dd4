/**
 * The edge token pool against a real GCRA limiter model: exact at low load,
 * never admitting more than the limiter grants at load, refunding what it did
 * not use, one reservation shared by concurrent requests.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gcra, type GcraState, type RateLimitPolicy } from "../../src/core/gcra";
import { refund, settleReservation } from "../../src/core/gcra-batch";
import { type PoolDecision, TokenPool } from "../../src/edge/token-pool";

const policy: RateLimitPolicy = { name: "general", limit: 100, periodMs: 60_000, burst: 100 };

interface SetupOptions {
  /** Reservations are answered only when the test calls `limiter.release()` (a top-up stays in flight until then). */
  readonly gated?: boolean;
}

function setup(options: SetupOptions = {}) {
  const clock = { now: 1_000_000 };
  const gates: (() => void)[] = [];
  const limiter = {
    state: null as GcraState | null,
    checks: 0,
    checksAllowed: 0,
    reserves: 0,
    /** Tokens handed out by reservations, in total and by the latest one. */
    granted: 0,
    /** Requests admitted on credit and charged by reservations. */
    charged: 0,
    lastGranted: 0,
    refunded: 0,
    /** Reservations called but not yet answered, and the most there ever were at once. */
    inFlight: 0,
    maxInFlight: 0,
    /** How the next reservation calls fail, one entry per call: a rejected promise or a synchronous throw. */
    failures: [] as ("reject" | "throw")[],
    /** Answers every reservation held so far (gated mode); returns how many there were. */
    release(): number {
      const open = gates.splice(0);
      for (const answer of open) answer();
      return open.length;
    },
  };
  const pool = new TokenPool({
    now: () => clock.now,
    check: async (_key, p) => {
      limiter.checks++;
      const d = gcra(limiter.state, p, clock.now, 1);
      if (d.allowed) {
        limiter.state = d.state;
        limiter.checksAllowed++;
      }
      return d;
    },
    reserve: (_key, p, wanted, debt) => {
      limiter.reserves++;
      const failure = limiter.failures.shift();
      if (failure === "throw") throw new Error("limiter unreachable");
      if (failure === "reject") return Promise.reject(new Error("limiter unreachable"));
      // The limiter's own logic (RateLimiterDO.reserve): charge the debt, then grant.
      const r = settleReservation(limiter.state, p, clock.now, wanted, debt);
      limiter.state = r.state;
      limiter.charged += debt;
      limiter.granted += r.granted;
      limiter.lastGranted = r.granted;
      const answer = { allowed: r.allowed, remaining: r.remaining, resetMs: r.resetMs, retryAfterMs: r.retryAfterMs, granted: r.granted };
      limiter.inFlight++;
      limiter.maxInFlight = Math.max(limiter.maxInFlight, limiter.inFlight);
      if (!options.gated) {
        return Promise.resolve().then(() => {
          limiter.inFlight--;
          return answer;
        });
      }
      return new Promise((resolve) =>
        gates.push(() => {
          limiter.inFlight--;
          resolve(answer);
        }),
      );
    },
    refund: (_key, p, tokens) => {
      limiter.refunded += tokens;
      if (limiter.state) limiter.state = refund(limiter.state, p, clock.now, tokens);
    },
  });
  return { clock, limiter, pool };
}

describe("TokenPool", () => {
  it("checks every request with the limiter at low load", async () => {
    const { clock, limiter, pool } = setup();
    for (let i = 0; i < 20; i++) {
      expect((await pool.take("1.2.3.4", policy)).source).toBe("limiter");
      clock.now += 200;
    }
    expect(limiter.checks).toBe(20);
    expect(limiter.reserves).toBe(0);
  });

  it("at load admits exactly the limiter's budget (100 at once), with far fewer limiter calls", async () => {
    const { limiter, pool } = setup();
    let admitted = 0;
    for (let i = 0; i < 300; i++) if ((await pool.take("1.2.3.4", policy)).allowed) admitted++;
    expect(admitted).toBe(100);
    expect(limiter.checks + limiter.reserves).toBeLessThan(60);
  });

  it("never admits more than one-at-a-time checking would, over time", async () => {
    const { clock, pool } = setup();
    let reference: GcraState | null = null;
    let admitted = 0;
    let allowedByReference = 0;
    for (let i = 0; i < 3_000; i++) {
      if ((await pool.take("1.2.3.4", policy)).allowed) admitted++;
      const d = gcra(reference, policy, clock.now, 1);
      if (d.allowed) {
        allowedByReference++;
        reference = d.state;
      }
      clock.now += 20; // 50 requests a second against a limit of 100 a minute
    }
    expect(admitted).toBeLessThanOrEqual(allowedByReference);
    // Under-admission is bounded by tokens parked in the pool when the run ended.
    expect(allowedByReference - admitted).toBeLessThanOrEqual(50);
  });

  it("refunds unused tokens when its pool expires", async () => {
    const { clock, limiter, pool } = setup();
    for (let i = 0; i < 15; i++) await pool.take("1.2.3.4", policy);
    const held = pool.held("1.2.3.4", "general");
    expect(held).toBeGreaterThan(0);
    clock.now += 1_000;
    await pool.take("1.2.3.4", policy);
    expect(limiter.refunded).toBe(held);
  });

  it("shares one reservation among concurrent requests", async () => {
    const { limiter, pool } = setup();
    for (let i = 0; i < 11; i++) await pool.take("1.2.3.4", policy);
    const before = limiter.reserves;
    await Promise.all(Array.from({ length: 2 }, () => pool.take("1.2.3.4", policy)));
    expect(limiter.reserves - before).toBeLessThanOrEqual(1);
  });
});

describe("TokenPool under a burst of concurrent requests", () => {
  it("refuses nobody while the limiter has capacity, however many wait on one reservation", async () => {
    const { pool } = setup();
    const big: RateLimitPolicy = { name: "general", limit: 1_000_000, periodMs: 60_000, burst: 1_000_000 };
    for (let i = 0; i < 15; i++) await pool.take("9.9.9.9", big);
    const results = await Promise.all(Array.from({ length: 200 }, () => pool.take("9.9.9.9", big)));
    expect(results.filter((r) => !r.allowed)).toHaveLength(0);
  });
});

/** Far above any traffic below: the limiter never refuses, so every refusal or wait would be the pool's doing. */
const roomy: RateLimitPolicy = { name: "general", limit: 1_000_000, periodMs: 60_000, burst: 1_000_000 };

interface SteadyRun {
  /** Concurrent requests per tick (issued before any of them is awaited) and the time between ticks. */
  readonly perTick: number;
  readonly stepMs: number;
  readonly ticks: number;
  /** Ticks not counted in the result (the pool learning the rate). */
  readonly warmUpTicks: number;
  /** Gated limiter: answer reservations every this many ticks (a top-up stays in flight meanwhile). */
  readonly answerEvery: number;
}

interface SteadyStats {
  takes: number;
  promises: number;
  allowed: number;
  checks: number;
  reserves: number;
  topUps: number;
  refunded: number;
}

/**
 * Steady traffic with `keepAlive` supplied, as the middleware does with
 * ctx.waitUntil. Counts what happens after the warm-up: takes answered with a
 * promise rather than a value, exact checks, reservations, and top-ups (the
 * promises handed to keepAlive, all awaited before the run ends).
 */
async function steady(ctx: ReturnType<typeof setup>, policy: RateLimitPolicy, run: SteadyRun): Promise<SteadyStats> {
  const { clock, limiter, pool } = ctx;
  const kept: Promise<unknown>[] = [];
  let topUps = 0;
  const keepAlive = (work: Promise<unknown>) => {
    topUps++;
    kept.push(work);
  };
  let base = { checks: 0, reserves: 0, refunded: 0, topUps: 0 };
  const stats: SteadyStats = { takes: 0, promises: 0, allowed: 0, checks: 0, reserves: 0, topUps: 0, refunded: 0 };
  for (let tick = 0; tick < run.ticks; tick++) {
    const counted = tick >= run.warmUpTicks;
    if (tick === run.warmUpTicks) base = { checks: limiter.checks, reserves: limiter.reserves, refunded: limiter.refunded, topUps };
    const results: (PoolDecision | Promise<PoolDecision>)[] = [];
    for (let i = 0; i < run.perTick; i++) results.push(pool.take("1.2.3.4", policy, keepAlive));
    const waiting = results.some((r) => r instanceof Promise);
    // A request waiting on the limiter needs its answer; otherwise the limiter answers every `answerEvery` ticks.
    if (waiting || tick % run.answerEvery === 0) {
      limiter.release();
      await Promise.all(kept.splice(0));
    }
    const decisions = await Promise.all(results);
    if (counted) {
      stats.takes += results.length;
      stats.promises += results.filter((r) => r instanceof Promise).length;
      stats.allowed += decisions.filter((d) => d.allowed).length;
    }
    clock.now += run.stepMs;
  }
  limiter.release();
  await Promise.all(kept.splice(0));
  stats.checks = limiter.checks - base.checks;
  stats.reserves = limiter.reserves - base.reserves;
  stats.refunded = limiter.refunded - base.refunded;
  stats.topUps = topUps - base.topUps;
  return stats;
}

describe("TokenPool top-ups (keepAlive supplied)", () => {
  // 500 requests a second: batches are capped at maxBatch (100, a fifth of a second).
  // 100 requests a second: batches are half a second of traffic (50), below the cap.
  it.each([
    { rps: 500, perTick: 2, stepMs: 4 },
    { rps: 100, perTick: 2, stepMs: 20 },
  ])("at a steady $rps requests a second, answers every request synchronously from the pool after warm-up, with no exact checks", async ({ perTick, stepMs }) => {
    const ctx = setup({ gated: true });
    const ticks = Math.ceil(8_000 / stepMs); // 8 s, the first 3 s warm-up
    const stats = await steady(ctx, roomy, { perTick, stepMs, ticks, warmUpTicks: Math.ceil(3_000 / stepMs), answerEvery: 3 });
    expect(stats.takes).toBeGreaterThan(0);
    expect(stats.allowed).toBe(stats.takes); // tokens keep flowing
    expect(stats.promises).toBe(0); // never a wait for the limiter
    expect(stats.checks).toBe(0); // never a fall back to exact checks
    // Tokens came from reservations, and every one of them was a background top-up.
    expect(stats.reserves).toBeGreaterThan(0);
    expect(stats.reserves).toBe(stats.topUps);
  });

  it("takes without keepAlive never start a background reservation", async () => {
    const { clock, limiter, pool } = setup({ gated: true });
    for (let i = 0; i < 2_000; i++) {
      const r = pool.take("1.2.3.4", roomy);
      if (r instanceof Promise) {
        limiter.release();
        await r;
      } else {
        // Answered from the pool: no reservation may be pending behind it.
        expect(limiter.inFlight).toBe(0);
      }
      clock.now += 2;
    }
    expect(limiter.reserves).toBeGreaterThan(1);
  });

  it("never admits more than the limiter could, and accounts for every token granted (spent, held or refunded)", async () => {
    // T = 5 ms, burst 50: traffic of up to 6 requests every 0..12 ms overruns it, so the limiter refuses at times.
    const tight: RateLimitPolicy = { name: "general", limit: 200, periodMs: 1_000, burst: 50 };
    const step = fc.record({ gapMs: fc.integer({ min: 0, max: 12 }), requests: fc.integer({ min: 1, max: 6 }), answer: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 20, maxLength: 400 }), async (steps) => {
        const { clock, limiter, pool } = setup({ gated: true });
        const start = clock.now;
        const kept: Promise<unknown>[] = [];
        const keepAlive = (work: Promise<unknown>) => void kept.push(work);
        const waiting: Promise<PoolDecision>[] = [];
        let fromPool = 0;
        let fromLimiter = 0;
        let fromCredit = 0;
        const count = (d: PoolDecision) => {
          if (d.allowed && d.source === "pool") fromPool++;
          if (d.allowed && d.source === "limiter") fromLimiter++;
          if (d.allowed && d.source === "credit") fromCredit++;
        };
        // Answers everything pending, including the reservation a finished one starts for debt run up meanwhile.
        const answerAll = async () => {
          do {
            limiter.release();
            for (const d of await Promise.all(waiting.splice(0))) count(d);
            // Let answered reservations settle (and chain the next one, which the loop then answers).
            await new Promise((resolve) => setImmediate(resolve));
          } while (limiter.inFlight > 0);
          await Promise.all(kept.splice(0));
        };
        let lastAnswer = clock.now;
        for (const s of steps) {
          clock.now += s.gapMs;
          for (let i = 0; i < s.requests; i++) {
            const r = pool.take("1.2.3.4", tight, keepAlive);
            if (r instanceof Promise) waiting.push(r);
            else count(r);
          }
          // Reservations answer late, but well within the pool's 1 s stall limit.
          if (s.answer || clock.now - lastAnswer >= 500) {
            await answerAll();
            lastAnswer = clock.now;
          }
        }
        await answerAll();
        const elapsed = clock.now - start;
        expect(fromPool + fromLimiter + fromCredit).toBeLessThanOrEqual(tight.burst + Math.floor((elapsed * tight.limit) / tight.periodMs));
        // Every request admitted on credit was charged to the limiter.
        expect(pool.owed("1.2.3.4", tight.name)).toBe(0);
        expect(limiter.charged).toBe(fromCredit);
        // Every other admitted request was allowed by the limiter (a check, or a one-token reservation
        // carrying debt), and every token it granted was spent, is still held, or went back.
        const held = pool.held("1.2.3.4", tight.name);
        expect(fromPool + fromLimiter + held + limiter.refunded).toBe(limiter.granted + limiter.checksAllowed);
        // Once the pool expires, what it held goes back to the limiter.
        const refundedBefore = limiter.refunded;
        clock.now += 1_000;
        await pool.take("1.2.3.4", tight, keepAlive);
        expect(limiter.refunded - refundedBefore).toBe(held);
        expect(pool.held("1.2.3.4", tight.name)).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it("keeps at most one top-up in flight, however far the pool falls meanwhile, and adds the granted tokens to those on hand", async () => {
    const ctx = setup({ gated: true });
    const { clock, limiter, pool } = ctx;
    await steady(ctx, roomy, { perTick: 1, stepMs: 2, ticks: 1_500, warmUpTicks: 0, answerEvery: 1 });
    const kept: Promise<unknown>[] = [];
    const keepAlive = (work: Promise<unknown>) => void kept.push(work);
    // Spend until a top-up starts, then hold it.
    while (kept.length === 0) {
      expect(pool.take("1.2.3.4", roomy, keepAlive)).not.toBeInstanceOf(Promise);
      clock.now += 2;
    }
    const reserves = limiter.reserves;
    expect(limiter.inFlight).toBe(1);
    // The pool runs down to its last token with the top-up still pending: no second reservation.
    while (pool.held("1.2.3.4", roomy.name) > 0) {
      const r = pool.take("1.2.3.4", roomy, keepAlive);
      expect(r).not.toBeInstanceOf(Promise);
      expect((r as PoolDecision).allowed).toBe(true);
      clock.now += 2;
    }
    expect(kept).toHaveLength(1);
    expect(limiter.reserves).toBe(reserves);
    expect(limiter.maxInFlight).toBe(1);
    // Dry, with the top-up pending (not stalled): the next request is admitted on credit (the limiter
    // had room), without a wait and without a second reservation; its debt goes with the next one.
    const checks = limiter.checks;
    const charged = limiter.charged;
    const dry = pool.take("1.2.3.4", roomy, keepAlive);
    expect(dry).not.toBeInstanceOf(Promise);
    expect((dry as PoolDecision).source).toBe("credit");
    expect(limiter.checks).toBe(checks);
    expect(limiter.reserves).toBe(reserves);
    expect(pool.owed("1.2.3.4", roomy.name)).toBe(1);
    // The top-up lands: its tokens are added (the pool was empty here, so it holds exactly the grant),
    // and the debt goes with the next reservation, started as this one ends.
    const toppedUp = limiter.lastGranted;
    limiter.release();
    await Promise.all(kept.splice(0));
    expect(pool.held("1.2.3.4", roomy.name)).toBe(toppedUp);
    expect(toppedUp).toBeGreaterThan(0);
    expect(limiter.reserves).toBe(reserves + 1);
    expect(limiter.charged - charged).toBe(1);
  });

  it("adds a top-up's tokens to those still on hand rather than replacing them", async () => {
    const ctx = setup({ gated: true });
    const { clock, limiter, pool } = ctx;
    await steady(ctx, roomy, { perTick: 1, stepMs: 2, ticks: 1_500, warmUpTicks: 0, answerEvery: 1 });
    const kept: Promise<unknown>[] = [];
    while (kept.length === 0) {
      pool.take("1.2.3.4", roomy, (work) => void kept.push(work));
      clock.now += 2;
    }
    const onHand = pool.held("1.2.3.4", roomy.name);
    expect(onHand).toBeGreaterThan(0);
    limiter.release();
    await Promise.all(kept);
    expect(pool.held("1.2.3.4", roomy.name)).toBe(onHand + limiter.lastGranted);
  });

  it.each(["reject", "throw"] as const)("survives a top-up whose limiter call fails (%s): keeps serving, retries, and keepAlive's promise does not reject", async (failure) => {
    const ctx = setup();
    const { clock, limiter, pool } = ctx;
    await steady(ctx, roomy, { perTick: 1, stepMs: 2, ticks: 1_500, warmUpTicks: 0, answerEvery: 1 });
    const kept: Promise<unknown>[] = [];
    const keepAlive = (work: Promise<unknown>) => void kept.push(work);
    limiter.failures.push(failure);
    while (kept.length === 0) {
      expect(pool.take("1.2.3.4", roomy, keepAlive)).not.toBeInstanceOf(Promise);
      clock.now += 2;
    }
    const reserves = limiter.reserves;
    await expect(kept[0]).resolves.toBeUndefined();
    expect(limiter.failures).toHaveLength(0); // the failure was spent on that top-up
    // Two more seconds of traffic: every request admitted, and without an exact check.
    const checks = limiter.checks;
    const stats = await steady(ctx, roomy, { perTick: 1, stepMs: 2, ticks: 1_000, warmUpTicks: 0, answerEvery: 1 });
    expect(stats.allowed).toBe(stats.takes);
    expect(limiter.checks).toBe(checks);
    expect(limiter.reserves).toBeGreaterThan(reserves); // a later top-up did go out, and worked
    expect(stats.promises).toBe(0);
  });

  it("after a limiter outage for reservations, recovers: takes never throw, and the pool serves again once reservations work", async () => {
    const ctx = setup();
    const { clock, limiter, pool } = ctx;
    await steady(ctx, roomy, { perTick: 1, stepMs: 2, ticks: 1_500, warmUpTicks: 0, answerEvery: 1 });
    const kept: Promise<unknown>[] = [];
    const keepAlive = (work: Promise<unknown>) => void kept.push(work);
    limiter.failures.push(...Array.from({ length: 10_000 }, () => "reject" as const));
    const outcomes: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i++) {
      let r: PoolDecision | Promise<PoolDecision> | undefined;
      expect(() => (r = pool.take("1.2.3.4", roomy, keepAlive))).not.toThrow();
      outcomes.push(Promise.resolve(r));
      await Promise.allSettled(kept.splice(0));
      clock.now += 2;
    }
    await Promise.allSettled(outcomes);
    limiter.failures.length = 0;
    const stats = await steady(ctx, roomy, { perTick: 1, stepMs: 2, ticks: 1_500, warmUpTicks: 500, answerEvery: 1 });
    expect(stats.allowed).toBe(stats.takes);
    expect(stats.promises).toBe(0);
    expect(pool.held("1.2.3.4", roomy.name)).toBeGreaterThan(0);
  });
});

describe("TokenPool credit (a client's first requests, and clients that send few)", () => {
  it("answers a quiet client at once on credit and charges every request to the limiter in the background", async () => {
    const { clock, limiter, pool } = setup();
    const kept: Promise<unknown>[] = [];
    const keepAlive = (work: Promise<unknown>) => void kept.push(work);
    let admitted = 0;
    for (let i = 0; i < 60; i++) {
      const decision = pool.take("5.6.7.8", policy, keepAlive);
      expect(decision).not.toBeInstanceOf(Promise);
      expect((decision as PoolDecision).source).toBe("credit");
      if ((decision as PoolDecision).allowed) admitted++;
      await Promise.all(kept.splice(0));
      clock.now += 500; // 2 requests a second, within 100 a minute
    }
    expect(admitted).toBe(60);
    expect(limiter.checks).toBe(0);
    expect(limiter.charged).toBe(60);
    expect(limiter.reserves).toBeLessThanOrEqual(60);
  });

  it("refuses a client over its limit within one round trip, then locally, and never admits more than the limit from one isolate", async () => {
    const { clock, limiter, pool } = setup();
    const small: RateLimitPolicy = { name: "admin", limit: 10, periodMs: 60_000, burst: 10 };
    const kept: Promise<unknown>[] = [];
    const keepAlive = (work: Promise<unknown>) => void kept.push(work);
    const decisions: PoolDecision[] = [];
    for (let i = 0; i < 30; i++) {
      decisions.push(await pool.take("6.6.6.6", small, keepAlive));
      await Promise.all(kept.splice(0));
      clock.now += 10;
    }
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(decisions.slice(10).every((d) => !d.allowed)).toBe(true);
    // The refusals after the first one are the isolate's own (no limiter call per refused request).
    const limiterCalls = limiter.checks + limiter.reserves;
    expect(limiterCalls).toBeLessThanOrEqual(12);
  });

  it("bounds over-admission across isolates by `credit` per isolate, and charges every credit request", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), async (isolates, burst, credit) => {
        const clock = { now: 1_000_000 };
        const tight: RateLimitPolicy = { name: "general", limit: burst, periodMs: 60_000, burst };
        let state: GcraState | null = null;
        let charged = 0;
        const pools = Array.from(
          { length: isolates },
          () =>
            new TokenPool({
              now: () => clock.now,
              credit,
              check: async (_k, p) => {
                const d = gcra(state, p, clock.now, 1);
                if (d.allowed) state = d.state;
                return d;
              },
              reserve: async (_k, p, wanted, debt) => {
                const r = settleReservation(state, p, clock.now, wanted, debt);
                state = r.state;
                charged += debt;
                return { allowed: r.allowed, remaining: r.remaining, resetMs: r.resetMs, retryAfterMs: r.retryAfterMs, granted: r.granted };
              },
              refund: () => undefined,
            }),
        );
        const kept: Promise<unknown>[] = [];
        const keepAlive = (work: Promise<unknown>) => void kept.push(work);
        // Every isolate sees the client's first requests at the same moment, before any limiter answer.
        const first = pools.flatMap((p) => Array.from({ length: credit + 1 }, () => p.take("7.7.7.7", tight, keepAlive)));
        const settled = await Promise.all(first);
        await Promise.all(kept.splice(0));
        // Then many more, one round trip at a time.
        const later: PoolDecision[] = [];
        for (let round = 0; round < 5; round++) {
          for (const p of pools) later.push(await p.take("7.7.7.7", tight, keepAlive));
          await Promise.all(kept.splice(0));
        }
        const admitted = [...settled, ...later].filter((d) => d.allowed).length;
        const onCredit = [...settled, ...later].filter((d) => d.allowed && d.source === "credit").length;
        expect(admitted).toBeLessThanOrEqual(burst + Math.min(credit, burst) * isolates);
        expect(charged).toBe(onCredit);
      }),
      { numRuns: 100 },
    );
  });
});
