/**
 * The ring's consistency, as properties: a change of membership (or of one
 * member's weight, as slow start makes) moves only the keys of the member
 * that changed, in whichever direction it changed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildHashRing, type RingMember, ringLookup } from "../../src/core/balancer/affinity";

// Routing weights: 1 (slow start's floor) up to weight 3 warmed up; small enough that no ring halves.
const weightArb = fc.integer({ min: 1, max: 300 });
const membersArb = fc.uniqueArray(fc.record({ id: fc.string({ minLength: 1, maxLength: 12 }), weight: weightArb }), {
  minLength: 1,
  maxLength: 8,
  selector: (m) => m.id,
});
const keysArb = fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 200 });

function owners(members: readonly RingMember[], keys: readonly string[]): (string | null)[] {
  const ring = buildHashRing(members);
  return keys.map((key) => ringLookup(ring, key));
}

describe("hash ring consistency", () => {
  it("adding a member moves only keys that now map to it", () => {
    fc.assert(
      fc.property(membersArb, fc.string({ minLength: 1, maxLength: 12 }), weightArb, keysArb, (members, newId, weight, keys) => {
        fc.pre(!members.some((m) => m.id === newId));
        const before = owners(members, keys);
        const after = owners([...members, { id: newId, weight }], keys);
        keys.forEach((_, i) => {
          if (after[i] !== before[i]) expect(after[i]).toBe(newId);
        });
      }),
      { numRuns: 200 },
    );
  });

  it("removing a member moves only keys that mapped to it", () => {
    fc.assert(
      fc.property(membersArb, fc.nat(), keysArb, (members, pick, keys) => {
        const removed = members[pick % members.length] as RingMember;
        const before = owners(members, keys);
        const after = owners(
          members.filter((m) => m !== removed),
          keys,
        );
        keys.forEach((_, i) => {
          if (after[i] !== before[i]) expect(before[i]).toBe(removed.id);
        });
      }),
      { numRuns: 200 },
    );
  });

  it("a member whose weight grows (slow start) only gains keys; the others keep theirs or lose them to it", () => {
    fc.assert(
      fc.property(membersArb, fc.nat(), weightArb, keysArb, (members, pick, extra, keys) => {
        const grown = members[pick % members.length] as RingMember;
        const before = owners(members, keys);
        const after = owners(
          members.map((m) => (m === grown ? { id: m.id, weight: m.weight + extra } : m)),
          keys,
        );
        keys.forEach((_, i) => {
          if (after[i] !== before[i]) expect(after[i]).toBe(grown.id);
        });
      }),
      { numRuns: 200 },
    );
  });

  it("the order members come in changes nothing", () => {
    fc.assert(
      fc.property(membersArb, keysArb, (members, keys) => {
        expect(owners([...members].reverse(), keys)).toEqual(owners(members, keys));
      }),
      { numRuns: 100 },
    );
  });
});
