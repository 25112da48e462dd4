/**
 * The edge token pool against a real GCRA limiter model: exact at low load,
 * never admitting more than the limiter grants at load, refunding what it did
 * not use, one reservation shared by concurrent requests.
 */
import { describe, expect, it } from "vitest";
import { gcra, type GcraState, type RateLimitPolicy } from "../../src/core/gcra";
import { refund, reserve } from "../../src/core/gcra-batch";
import { TokenPool } from "../../src/edge/token-pool";

const policy: RateLimitPolicy = { name: "general", limit: 100, periodMs: 60_000, burst: 100 };

function setup() {
  const clock = { now: 1_000_000 };
  const limiter = { state: null as GcraState | null, checks: 0, reserves: 0, refunded: 0 };
  const pool = new TokenPool({
    now: () => clock.now,
    check: async (_key, p) => {
      limiter.checks++;
      const d = gcra(limiter.state, p, clock.now, 1);
      if (d.allowed) limiter.state = d.state;
      return d;
    },
    reserve: async (_key, p, wanted) => {
      limiter.reserves++;
      const r = reserve(limiter.state, p, clock.now, wanted);
      if (r.granted > 0) limiter.state = r.decision.state;
      return { ...r.decision, allowed: r.granted > 0, granted: r.granted };
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
