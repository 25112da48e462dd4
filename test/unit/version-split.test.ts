/**
 * The release split at the edge (core/balancer/version-split.ts): the canary's
 * share follows its weight, a sticky client keeps its side while the weight
 * steps up (only ever moving from stable to canary), pinning picks a version
 * that exists and refuses one that does not.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chooseSide, type SplitRelease, stickyBucket, toCanary } from "../../src/core/balancer/version-split";

const VERSIONS = new Set(["v1", "v2"]);
const release = (weightPercent: number, extra: Partial<SplitRelease> = {}): SplitRelease => ({
  id: "rel-1",
  version: "v2",
  weightPercent,
  stickiness: { source: "header", name: "x-user" },
  pinHeader: "x-version",
  ...extra,
});
const request = (headers: Record<string, string> = {}, clientIp: string | null = "203.0.113.5") => ({ headers: new Headers(headers), clientIp });
const seeded = (seed: number) => {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
};

describe("release split", () => {
  it("sends about the weight's share of keyless requests to the canary, none at 0 and all at 100", () => {
    const random = seeded(7);
    for (const weight of [0, 5, 25, 50, 100]) {
      let canary = 0;
      for (let i = 0; i < 20_000; i++) if (toCanary(release(weight, { stickiness: null }), request(), random)) canary++;
      expect(Math.abs(canary / 200 - weight)).toBeLessThan(1.5);
    }
  });

  it("sticky clients spread by weight and keep their side; as the weight steps up they only move to the canary", () => {
    const users = Array.from({ length: 5_000 }, (_, i) => `user-${i}`);
    let previous = new Set<string>();
    for (const weight of [5, 25, 50, 100]) {
      const onCanary = new Set(users.filter((u) => toCanary(release(weight), request({ "x-user": u }), Math.random)));
      expect(Math.abs((onCanary.size / users.length) * 100 - weight)).toBeLessThan(2.5);
      for (const u of previous) expect(onCanary.has(u)).toBe(true);
      // The same client asking again gets the same answer.
      for (const u of users.slice(0, 100)) expect(toCanary(release(weight), request({ "x-user": u }), Math.random)).toBe(onCanary.has(u));
      previous = onCanary;
    }
  });

  it("a new release deals the buckets afresh", () => {
    const moved = Array.from({ length: 1_000 }, (_, i) => `k${i}`).filter((k) => stickyBucket("rel-1", k) !== stickyBucket("rel-2", k));
    expect(moved.length).toBeGreaterThan(900);
  });

  it("pins a version that exists, refuses one that does not, and ignores an empty header", () => {
    expect(chooseSide(release(5), request({ "x-version": "v1" }), VERSIONS, Math.random)).toEqual({ kind: "version", version: "v1", pinned: true });
    expect(chooseSide(release(5), request({ "x-version": " v2 " }), VERSIONS, Math.random)).toEqual({ kind: "version", version: "v2", pinned: true });
    expect(chooseSide(release(5), request({ "x-version": "v9" }), VERSIONS, Math.random)).toEqual({ kind: "unknown-version", header: "x-version", value: "v9" });
    expect(chooseSide(release(0), request({ "x-version": "" }), VERSIONS, Math.random)).toEqual({ kind: "not-version", version: "v2" });
    expect(chooseSide(release(100, { pinHeader: null }), request({ "x-version": "v1" }), VERSIONS, Math.random)).toEqual({ kind: "version", version: "v2", pinned: false });
  });

  it("property: a rolled-back release (weight 0) never sends an unpinned request to the canary; a promoted one (100) always does", () => {
    fc.assert(
      fc.property(fc.string(), fc.option(fc.string(), { nil: null }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (user, ip, r) => {
        const headers: Record<string, string> = {};
        try {
          new Headers({ "x-user": user });
          headers["x-user"] = user;
        } catch {
          // not a valid header value: a request without the key
        }
        expect(toCanary(release(0), request(headers, ip), () => r)).toBe(false);
        expect(toCanary(release(100), request(headers, ip), () => r)).toBe(true);
      }),
    );
  });
});
