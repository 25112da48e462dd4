import { describe, expect, it } from "vitest";
import { MAX_PROBE_SHARDS, shardCount, shardOf } from "../../src/core/health/index";

const fleet = (n: number, timeoutMs = 5_000, intervalMs = 30_000) => Array.from({ length: n }, () => ({ timeoutMs, intervalMs }));
const ids = (n: number) => Array.from({ length: n }, (_, i) => `instance-${i}-${(i * 2654435761) % 1_000_003}`);

describe("shardCount: ceil(n × timeout / (6 × interval × 0.5)), at least 1, at most the cap", () => {
  it("sizes the issue's fleet: 500 instances at 5 s / 30 s need 28 probers per vantage point", () => {
    expect(shardCount(fleet(500))).toBe(28);
    // Each then holds ≤ 18 instances: 3 rounds of six timeouts = 15 s, half the interval.
    expect(Math.ceil(Math.ceil(500 / 28) / 6) * 5_000).toBeLessThanOrEqual(30_000 * 0.5);
  });

  it("small fleets need one", () => {
    expect(shardCount([])).toBe(1);
    expect(shardCount(fleet(18))).toBe(1);
    expect(shardCount(fleet(19))).toBe(2);
  });

  it("is capped", () => {
    expect(shardCount(fleet(100_000))).toBe(MAX_PROBE_SHARDS);
    expect(shardCount(fleet(100), 2)).toBe(2);
  });

  it("an instance counts at most one connection, however short its interval", () => {
    // 300 ms timeout every 100 ms: probed once at a time, so one connection each, not three.
    expect(shardCount(fleet(6, 300, 100))).toBe(2);
    expect(shardCount(fleet(3, 300, 100))).toBe(1);
  });

  it("unhealthy instances on a shorter interval weigh more", () => {
    const healthy = fleet(100);
    const unhealthy = fleet(20, 5_000, 5_000);
    expect(shardCount([...healthy, ...unhealthy])).toBe(Math.ceil((100 / 6 + 20) / 3));
  });
});

describe("shardOf: stable hashing of the instance id", () => {
  it("is in range and the same every time", () => {
    for (const id of ids(200)) {
      const shard = shardOf(id, 7);
      expect(shard).toBeGreaterThanOrEqual(0);
      expect(shard).toBeLessThan(7);
      expect(shardOf(id, 7)).toBe(shard);
    }
    expect(shardOf("anything", 1)).toBe(0);
  });

  it("spreads instances over the shards", () => {
    const counts = new Array<number>(8).fill(0);
    for (const id of ids(4_000)) counts[shardOf(id, 8)]++;
    for (const count of counts) expect(count).toBeGreaterThan(350); // 500 each on average
  });

  it("growing from 10 to 11 shards moves only the instances the new shard takes", () => {
    const all = ids(2_000);
    const moved = all.filter((id) => shardOf(id, 10) !== shardOf(id, 11));
    for (const id of moved) expect(shardOf(id, 11)).toBe(10);
    expect(moved.length).toBeLessThan(2_000 / 11 + 60);
  });
});
