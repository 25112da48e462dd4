import { describe, expect, it } from "vitest";
import { MAX_OUTBOUND_CONNECTIONS, mapWithConcurrency, planSweep } from "../../src/core/health/index";
import { seededRandom } from "./support/seeded-random";

const INTERVAL = 30_000;
const NOW = 1_700_000_000_000;
const constant = (x: number) => () => x;

describe("planSweep", () => {
  it("never-checked instances are due immediately", () => {
    const plan = planSweep([{ id: "a", lastCheckAt: null }], NOW, INTERVAL, constant(0.5));
    expect(plan.due).toEqual(["a"]);
    expect(plan.nextAt).toBe(NOW + INTERVAL);
  });

  it("without jitter, due exactly one interval after the last check", () => {
    const instances = [
      { id: "fresh", lastCheckAt: NOW - INTERVAL + 1 },
      { id: "exact", lastCheckAt: NOW - INTERVAL },
      { id: "late", lastCheckAt: NOW - 5 * INTERVAL },
    ];
    const plan = planSweep(instances, NOW, INTERVAL, constant(0.5), 0.1);
    expect(plan.due).toEqual(["exact", "late"]);
    expect(plan.nextAt).toBe(NOW + 1);
  });

  it("jitter stays within ±10% of the interval", () => {
    const lastCheckAt = NOW - INTERVAL;
    // Earliest jitter (random 0): due from 27 s after the last check.
    expect(planSweep([{ id: "a", lastCheckAt: NOW - 27_000 }], NOW, INTERVAL, constant(0)).due).toEqual(["a"]);
    expect(planSweep([{ id: "a", lastCheckAt: NOW - 26_999 }], NOW, INTERVAL, constant(0)).due).toEqual([]);
    // Latest jitter (random → 1): not due before 33 s.
    const almostOne = constant(1 - 2 ** -40);
    expect(planSweep([{ id: "a", lastCheckAt: NOW - 32_999 }], NOW, INTERVAL, almostOne).due).toEqual([]);
    expect(planSweep([{ id: "a", lastCheckAt: NOW - 33_000 }], NOW, INTERVAL, almostOne).due).toEqual(["a"]);

    const random = seededRandom(7);
    for (let i = 0; i < 2_000; i++) {
      const plan = planSweep([{ id: "a", lastCheckAt }], NOW, INTERVAL, random);
      if (plan.due.length === 0) {
        expect(plan.nextAt).toBeGreaterThan(NOW);
        expect(plan.nextAt).toBeLessThanOrEqual(lastCheckAt + 1.1 * INTERVAL);
      } else {
        expect(plan.nextAt).toBeGreaterThanOrEqual(NOW + 0.9 * INTERVAL);
        expect(plan.nextAt).toBeLessThanOrEqual(NOW + 1.1 * INTERVAL);
      }
    }
  });

  it("nextAt is the earliest next due time", () => {
    const instances = [
      { id: "a", lastCheckAt: NOW - 10_000 },
      { id: "b", lastCheckAt: NOW - 20_000 },
      { id: "c", lastCheckAt: NOW - 5_000 },
    ];
    const plan = planSweep(instances, NOW, INTERVAL, constant(0.5));
    expect(plan.due).toEqual([]);
    expect(plan.nextAt).toBe(NOW + 10_000);
  });

  it("clamps a future lastCheckAt to now and ignores bad random draws", () => {
    const plan = planSweep([{ id: "a", lastCheckAt: NOW + 10 * INTERVAL }], NOW, INTERVAL, constant(Number.NaN));
    expect(plan.due).toEqual([]);
    expect(plan.nextAt).toBe(NOW + INTERVAL);
  });

  it("an empty registry wakes again after one interval", () => {
    expect(planSweep([], NOW, INTERVAL, constant(0.5))).toEqual({ due: [], nextAt: NOW + INTERVAL });
  });

  it("rejects a non-positive interval", () => {
    expect(() => planSweep([], NOW, 0, constant(0.5))).toThrow(RangeError);
  });
});

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe("mapWithConcurrency", () => {
  it("never exceeds the limit and preserves order", async () => {
    const random = seededRandom(42);
    const delays = Array.from({ length: 40 }, () => Math.floor(random() * 5));
    let inFlight = 0;
    let peak = 0;
    const results = await mapWithConcurrency(delays, MAX_OUTBOUND_CONNECTIONS, async (delay) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      for (let i = 0; i < delay; i++) await tick();
      inFlight--;
      return delay * 10;
    });
    expect(peak).toBe(MAX_OUTBOUND_CONNECTIONS);
    expect(results).toEqual(delays.map((d) => ({ status: "fulfilled", value: d * 10 })));
  });

  it("records throws (sync and async) as rejected results without stopping the rest", async () => {
    const boom = new Error("boom");
    const results = await mapWithConcurrency([1, 2, 3, 4], 2, (n) => {
      if (n === 2) throw boom;
      if (n === 3) return Promise.reject(new Error("async"));
      return Promise.resolve(`ok ${n}`);
    });
    expect(results[0]).toEqual({ status: "fulfilled", value: "ok 1" });
    expect(results[1]).toEqual({ status: "rejected", reason: boom });
    expect(results[2]?.status).toBe("rejected");
    expect(results[3]).toEqual({ status: "fulfilled", value: "ok 4" });
  });

  it("handles empty input and odd limits", async () => {
    expect(await mapWithConcurrency([], 6, () => Promise.resolve(1))).toEqual([]);
    let inFlight = 0;
    let peak = 0;
    const fn = async (x: number) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await tick();
      inFlight--;
      return x;
    };
    await mapWithConcurrency([1, 2, 3], 0, fn);
    expect(peak).toBe(1);
    peak = 0;
    await mapWithConcurrency([1, 2, 3], Number.NaN, fn);
    expect(peak).toBe(1);
    peak = 0;
    const all = await mapWithConcurrency([1, 2, 3], Number.POSITIVE_INFINITY, fn);
    expect(peak).toBe(3);
    expect(all.map((r) => (r.status === "fulfilled" ? r.value : null))).toEqual([1, 2, 3]);
  });

  it("passes the index to fn", async () => {
    const results = await mapWithConcurrency(["a", "b"], 6, (item, index) => Promise.resolve(`${item}${index}`));
    expect(results).toEqual([
      { status: "fulfilled", value: "a0" },
      { status: "fulfilled", value: "b1" },
    ]);
  });
});
