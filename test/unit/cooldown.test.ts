import { describe, expect, it } from "vitest";
import { CooldownCache } from "../../src/core/cooldown";

describe("CooldownCache", () => {
  it("reports a block until its time, exclusive, then forgets it", () => {
    const c = new CooldownCache(10);
    expect(c.blockedUntil("1.2.3.4", 0)).toBeNull();
    c.block("1.2.3.4", 5000);
    expect(c.blockedUntil("1.2.3.4", 0)).toBe(5000);
    expect(c.blockedUntil("1.2.3.4", 4999)).toBe(5000);
    expect(c.blockedUntil("5.6.7.8", 4999)).toBeNull();
    expect(c.size).toBe(1);
    // at the retry time the limiter would allow again, so the edge must ask it
    expect(c.blockedUntil("1.2.3.4", 5000)).toBeNull();
    expect(c.size).toBe(0); // expired entry deleted on lookup
    expect(c.blockedUntil("1.2.3.4", 0)).toBeNull();
  });

  it("lets the latest block win, even a sooner one", () => {
    const c = new CooldownCache(10);
    c.block("k", 5000);
    c.block("k", 9000);
    expect(c.blockedUntil("k", 6000)).toBe(9000);
    c.block("k", 2000);
    expect(c.blockedUntil("k", 1000)).toBe(2000);
    expect(c.size).toBe(1);
  });

  it("never holds more than maxEntries, evicting the oldest-inserted", () => {
    const c = new CooldownCache(3);
    for (let i = 0; i < 1000; i++) {
      c.block(`ip${i}`, 1e9);
      expect(c.size).toBeLessThanOrEqual(3);
    }
    expect(c.size).toBe(3);
    expect(c.blockedUntil("ip996", 0)).toBeNull();
    for (const k of ["ip997", "ip998", "ip999"]) expect(c.blockedUntil(k, 0)).toBe(1e9);
  });

  it("refreshes a key's age when it is blocked again", () => {
    const c = new CooldownCache(3);
    c.block("a", 100);
    c.block("b", 100);
    c.block("c", 100);
    c.block("a", 200); // a is now the youngest
    c.block("d", 100); // evicts b, the oldest
    expect(c.blockedUntil("a", 0)).toBe(200);
    expect(c.blockedUntil("b", 0)).toBeNull();
    expect(c.blockedUntil("c", 0)).toBe(100);
    expect(c.blockedUntil("d", 0)).toBe(100);
  });

  it("frees room when expired entries are looked up", () => {
    const c = new CooldownCache(2);
    c.block("a", 10);
    c.block("b", 1000);
    expect(c.blockedUntil("a", 10)).toBeNull();
    c.block("c", 1000);
    expect(c.blockedUntil("b", 0)).toBe(1000); // not evicted: a's slot was freed
    expect(c.size).toBe(2);
  });

  it("treats keys that shadow Object.prototype like any other", () => {
    const c = new CooldownCache(5);
    expect(c.blockedUntil("__proto__", 0)).toBeNull();
    expect(c.blockedUntil("constructor", 0)).toBeNull();
    c.block("__proto__", 50);
    expect(c.blockedUntil("__proto__", 0)).toBe(50);
  });

  it("ignores non-finite times: the edge never blocks for ever on its own", () => {
    const c = new CooldownCache(5);
    c.block("k", Number.POSITIVE_INFINITY);
    c.block("k", Number.NaN);
    expect(c.size).toBe(0);
    expect(c.blockedUntil("k", 0)).toBeNull();
  });

  it("with maxEntries 0 remembers nothing; rejects a bad bound", () => {
    const c = new CooldownCache(0);
    c.block("k", 100);
    expect(c.size).toBe(0);
    expect(c.blockedUntil("k", 0)).toBeNull();
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new CooldownCache(bad)).toThrow(RangeError);
  });

  // Speed under a spray belongs in a benchmark (shared machines are noisy); here only the bound is checked.
  it("stays bounded under an address spray", () => {
    const c = new CooldownCache(10_000);
    for (let i = 0; i < 200_000; i++) {
      c.block(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, i + 1000);
      c.blockedUntil(`10.0.0.${i & 255}`, i);
    }
    expect(c.size).toBe(10_000);
    expect(c.blockedUntil(`10.3.13.63`, 0)).toBe(199_999 + 1000);
  });

  it("matches a naive insertion-ordered model under random block/lookup/expiry", () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const max = 50;
    const c = new CooldownCache(max);
    let model: [string, number][] = []; // oldest first
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      now += rand(3);
      const key = `k${rand(200)}`;
      if (rand(2) === 0) {
        const until = now + rand(100);
        c.block(key, until);
        model = model.filter(([k]) => k !== key);
        model.push([key, until]);
        if (model.length > max) model.shift();
      } else {
        const entry = model.find(([k]) => k === key);
        const expected = entry !== undefined && entry[1] > now ? entry[1] : null;
        if (entry !== undefined && expected === null) model = model.filter(([k]) => k !== key);
        expect(c.blockedUntil(key, now)).toBe(expected);
      }
      expect(c.size).toBe(model.length);
    }
  });
});
