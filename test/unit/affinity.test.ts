import { describe, expect, it } from "vitest";
import {
  type AffinitySetting,
  affinityKey,
  buildHashRing,
  cookieValue,
  MAX_AFFINITY_KEY_CHARS,
  MAX_RING_POINTS,
  RING_POINTS_PER_DEFAULT_WEIGHT,
  ringLookup,
} from "../../src/core/balancer/affinity";
import { DEFAULT_WEIGHT_SCALE } from "../../src/core/health/slow-start";
import { hash32 } from "../../src/core/string-hash";

const request = (headers: Record<string, string>, clientIp: string | null = null) => ({ headers: new Headers(headers), clientIp });
const keys = (n: number) => Array.from({ length: n }, (_, i) => `user-${i}`);

/** Routing weight of an instance at operator weight `w`, warmed up (what the registry's table carries). */
const routing = (w: number) => w * DEFAULT_WEIGHT_SCALE;

describe("string hash", () => {
  it("gives the numbers it always gave: shards and sticky clients are decided from them in every isolate", () => {
    expect(hash32("")).toBe(2_872_998_923);
    expect(hash32("a")).toBe(444_641_715);
    expect(hash32("instance-1#0")).toBe(3_346_243_596);
  });
});

describe("affinityKey", () => {
  const header: AffinitySetting = { source: "header", name: "x-user-id" };
  const cookie: AffinitySetting = { source: "cookie", name: "session" };

  it("reads a header, trimmed, whatever the case it arrives in", () => {
    expect(affinityKey(header, request({ "X-User-Id": "  alice \t" }))).toBe("alice");
  });

  it("has no key when the header is missing, empty or only whitespace", () => {
    expect(affinityKey(header, request({}))).toBeNull();
    expect(affinityKey(header, request({ "x-user-id": "" }))).toBeNull();
    expect(affinityKey(header, request({ "x-user-id": "   " }))).toBeNull();
  });

  it("reads a cookie", () => {
    expect(affinityKey(cookie, request({ cookie: "theme=dark; session=abc123; lang=en" }))).toBe("abc123");
    expect(affinityKey(cookie, request({ cookie: "theme=dark" }))).toBeNull();
    expect(affinityKey(cookie, request({}))).toBeNull();
  });

  it("reads the client's IP", () => {
    expect(affinityKey({ source: "ip" }, request({}, "203.0.113.7"))).toBe("203.0.113.7");
    expect(affinityKey({ source: "ip" }, request({}, null))).toBeNull();
    expect(affinityKey({ source: "ip" }, request({}, ""))).toBeNull();
  });

  it("uses only the first KiB of a key", () => {
    const long = "k".repeat(MAX_AFFINITY_KEY_CHARS);
    expect(affinityKey(header, request({ "x-user-id": `  ${long}tail` }))).toBe(long);
    expect(affinityKey(cookie, request({ cookie: `session=${long}tail` }))).toBe(long);
  });

  it("treats a header name Headers refuses as a missing key instead of throwing", () => {
    expect(affinityKey({ source: "header", name: "bad name" }, request({ "x-user-id": "alice" }))).toBeNull();
  });
});

describe("cookieValue", () => {
  it.each([
    ["a=1; b=2", "b", "2"],
    ["a=1;b=2", "b", "2"],
    ["  a = 1 ;  b =  2  ", "b", "2"],
    ['a=1; b="quoted value"', "b", "quoted value"],
    ["b=1; b=2", "b", "1"],
    ["B=upper; b=lower", "b", "lower"],
    ["b=upper", "B", null],
    ["xb=1; b=2", "b", "2"],
    ["b=a=c; d=e", "b", "a=c"],
    ["flag; b=2", "b", "2"],
    ["a=1;; ;b=2;", "b", "2"],
    ["b=; b=2", "b", null],
    ['b=""', "b", null],
    ['b="', "b", '"'],
    ["a=1", "b", null],
    ["", "b", null],
  ])("%j, %s → %j", (header, name, expected) => {
    expect(cookieValue(header, name)).toBe(expected);
  });
});

describe("hash ring", () => {
  it("an empty ring, or one of members without weight, has no answer", () => {
    expect(ringLookup(buildHashRing([]), "alice")).toBeNull();
    expect(ringLookup(buildHashRing([{ id: "a", weight: 0 }]), "alice")).toBeNull();
    expect(ringLookup(buildHashRing([{ id: "a", weight: -5 }, { id: "b", weight: Number.NaN }]), "alice")).toBeNull();
  });

  it("sends every key to the only member", () => {
    const ring = buildHashRing([{ id: "only", weight: routing(1) }]);
    for (const key of keys(100)) expect(ringLookup(ring, key)).toBe("only");
  });

  it("answers the same for the same key, whatever order the members came in", () => {
    const members = ["a", "b", "c", "d"].map((id, i) => ({ id, weight: routing(i + 1) }));
    const one = buildHashRing(members);
    const other = buildHashRing([...members].reverse());
    for (const key of keys(2_000)) {
      expect(ringLookup(one, key)).toBe(ringLookup(other, key));
      expect(ringLookup(one, key)).toBe(ringLookup(one, key));
    }
  });

  it("places a member's k-th point at hash32(id#k), RING_POINTS_PER_DEFAULT_WEIGHT per default weight", () => {
    const ring = buildHashRing([{ id: "instance-1", weight: routing(1) }]);
    expect(ring.points.length).toBe(RING_POINTS_PER_DEFAULT_WEIGHT);
    expect(ring.points).toContain(hash32("instance-1#0"));
    expect(ring.points).toContain(hash32(`instance-1#${RING_POINTS_PER_DEFAULT_WEIGHT - 1}`));
    expect(ring.points).not.toContain(hash32(`instance-1#${RING_POINTS_PER_DEFAULT_WEIGHT}`));
    expect([...ring.points]).toEqual([...ring.points].sort((x, y) => x - y));
  });

  it("gives any positive weight at least one point and weight 0 none", () => {
    const ring = buildHashRing([
      { id: "tiny", weight: 0.001 },
      { id: "zero", weight: 0 },
    ]);
    expect(ring.points.length).toBe(1);
    expect(ring.ids).toEqual(["tiny"]);
    for (const key of keys(100)) expect(ringLookup(ring, key)).toBe("tiny");
  });

  it("counts a repeated id once, with its first weight", () => {
    const ring = buildHashRing([
      { id: "a", weight: routing(1) },
      { id: "a", weight: routing(5) },
    ]);
    expect(ring.points.length).toBe(RING_POINTS_PER_DEFAULT_WEIGHT);
  });

  it("spreads keys in proportion to weight (1:1:2 within ±10%)", () => {
    const members = [
      { id: "payments-a", weight: routing(1) },
      { id: "payments-b", weight: routing(1) },
      { id: "payments-c", weight: routing(2) },
    ];
    const ring = buildHashRing(members);
    const counts = new Map<string, number>();
    const all = keys(20_000);
    for (const key of all) {
      const owner = ringLookup(ring, key) as string;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const member of members) {
      const expected = (all.length * member.weight) / routing(4);
      expect(counts.get(member.id)).toBeGreaterThan(expected * 0.9);
      expect(counts.get(member.id)).toBeLessThan(expected * 1.1);
    }
  });

  it("spreads random session-like keys over ten equal instances", () => {
    const ring = buildHashRing(Array.from({ length: 10 }, (_, i) => ({ id: `i-${i}`, weight: routing(1) })));
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const owner = ringLookup(ring, `sess-${(i * 2654435761) >>> 0}`) as string;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    expect(counts.size).toBe(10);
    for (const count of counts.values()) expect(Math.abs(count - 2_000)).toBeLessThan(2_000 * 0.15);
  });

  it("caps the points: past MAX_RING_POINTS every member's count is halved, keeping proportions", () => {
    // 200 instances of weight 1 want 200 × 512 = 102,400 points: halved once, 256 each.
    const ring = buildHashRing(Array.from({ length: 200 }, (_, i) => ({ id: `i-${i}`, weight: routing(1) })));
    expect(ring.points.length).toBe(200 * (RING_POINTS_PER_DEFAULT_WEIGHT / 2));
    expect(ring.points.length).toBeLessThanOrEqual(MAX_RING_POINTS);
    // The registry's largest service: 500 instances at the largest weight still fit.
    const heavy = buildHashRing(Array.from({ length: 500 }, (_, i) => ({ id: `h-${i}`, weight: routing(1000) })));
    expect(heavy.points.length).toBeLessThanOrEqual(MAX_RING_POINTS);
    const owned = new Map<number, number>();
    for (const owner of heavy.owners) owned.set(owner, (owned.get(owner) ?? 0) + 1);
    expect(new Set(owned.values()).size).toBe(1);
  });

  it("hashes only the first KiB of a key", () => {
    const ring = buildHashRing(["a", "b", "c"].map((id) => ({ id, weight: routing(1) })));
    for (const key of keys(50)) {
      const long = key.padEnd(MAX_AFFINITY_KEY_CHARS, "-");
      expect(ringLookup(ring, `${long}anything`)).toBe(ringLookup(ring, long));
    }
  });
});
