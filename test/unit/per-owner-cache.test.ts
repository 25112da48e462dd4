/**
 * The cache behind per-configuration and per-namespace memos (rate-limit
 * policies, SSRF verdicts, Durable Object ids): one value per owner and key,
 * made once, separate per owner, and bounded per owner.
 */
import { describe, expect, it } from "vitest";
import { PerOwnerCache } from "../../src/core/per-owner-cache";

describe("PerOwnerCache", () => {
  it("makes a value once per owner and key, and separately for each owner", () => {
    const made: string[] = [];
    const cache = new PerOwnerCache((owner: { name: string }, key: string) => {
      made.push(`${owner.name}/${key}`);
      return { owner: owner.name, key };
    });
    const a = { name: "a" };
    const b = { name: "b" };
    const first = cache.get(a, "x");
    expect(cache.get(a, "x")).toBe(first);
    expect(cache.get(b, "x")).toEqual({ owner: "b", key: "x" });
    cache.get(a, "y");
    expect(made).toEqual(["a/x", "b/x", "a/y"]);
  });

  it("starts over for an owner once it holds the maximum, rather than grow", () => {
    let calls = 0;
    const cache = new PerOwnerCache((_owner: object, key: number) => {
      calls++;
      return key * 2;
    }, 3);
    const owner = {};
    for (const key of [1, 2, 3]) cache.get(owner, key);
    expect(calls).toBe(3);
    expect(cache.get(owner, 4)).toBe(8); // the fourth clears the three before it
    expect(cache.get(owner, 4)).toBe(8);
    expect(calls).toBe(4);
    expect(cache.get(owner, 1)).toBe(2);
    expect(calls).toBe(5);
  });
});
