/**
 * The trace context parser as properties: it agrees with a straightforward
 * regex transcription of the W3C rules on valid values and on every kind of
 * near miss (a character changed, dropped, added or upper-cased, a field
 * appended, a version bumped), and what the edge writes always parses back.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatTraceparent, hexId, parseTraceparent, type TraceParent, traceContextFrom, tracestateToForward, TRACE_RANDOM_BYTES } from "../../src/core/trace-context";

/** The spec's rules, written the obvious way (regular expressions; speed is no concern here). */
function oracle(value: string): TraceParent | null {
  const trimmed = value.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
  const match = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\s\S]*)?$/.exec(trimmed);
  if (match === null) return null;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff") return null;
  if (version === "00" && rest !== undefined) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return { traceId, parentId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
const validArb = fc
  .record({ version: hex(2), traceId: hex(32), parentId: hex(16), flags: hex(2), tail: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }) })
  .map(({ version, traceId, parentId, flags, tail }) => `${version}-${traceId}-${parentId}-${flags}${version !== "00" && tail !== undefined ? `-${tail}` : ""}`);

/** A near miss of a valid-looking value. */
const mutatedArb = fc.tuple(validArb, fc.nat(), fc.constantFrom("replace", "delete", "insert", "upper", "zeros", "ows", "version", "append"), fc.constantFrom(..."0123456789abcdefABCDEF-. \t,_xg")).map(([value, at, kind, char]) => {
  const i = at % (value.length + 1);
  switch (kind) {
    case "replace":
      return value.slice(0, i) + char + value.slice(i + 1);
    case "delete":
      return value.slice(0, i) + value.slice(i + 1);
    case "insert":
      return value.slice(0, i) + char + value.slice(i);
    case "upper":
      return value.toUpperCase();
    case "zeros":
      return i % 2 === 0 ? `${value.slice(0, 3)}${"0".repeat(32)}${value.slice(35)}` : `${value.slice(0, 36)}${"0".repeat(16)}${value.slice(52)}`;
    case "ows":
      return `${char === "\t" ? "\t" : " "}${value}${i % 2 === 0 ? " " : "\t"}`;
    case "version":
      return (i % 3 === 0 ? "ff" : i % 3 === 1 ? "00" : "7a") + value.slice(2);
    default:
      return `${value}-${char}`;
  }
});

describe("parseTraceparent", () => {
  it("agrees with the spec's rules on valid values and their near misses", () => {
    fc.assert(
      fc.property(fc.oneof(validArb, mutatedArb, fc.string({ maxLength: 80 })), (value) => {
        expect(parseTraceparent(value)).toEqual(oracle(value));
      }),
      { numRuns: 5_000 },
    );
  });

  it("continues only lowercase, non-zero ids", () => {
    fc.assert(
      fc.property(fc.oneof(validArb, mutatedArb), (value) => {
        const parsed = parseTraceparent(value);
        if (parsed === null) return;
        expect(parsed.traceId).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
        expect(parsed.parentId).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("what the edge sends", () => {
  it("always parses back: the trace id kept when continued, the sampled flag as received, the edge's span as parent-id", () => {
    fc.assert(
      fc.property(fc.option(fc.oneof(validArb, mutatedArb), { nil: null }), fc.uint8Array({ minLength: TRACE_RANDOM_BYTES, maxLength: TRACE_RANDOM_BYTES }), (incoming, random) => {
        const trace = traceContextFrom(incoming, null, random, 0);
        const sent = parseTraceparent(formatTraceparent(trace));
        expect(sent).toEqual({ traceId: trace.traceId, parentId: trace.spanId, sampled: trace.sampled });
        const continued = incoming === null ? null : oracle(incoming);
        if (continued !== null) expect(trace).toMatchObject({ traceId: continued.traceId, parentId: continued.parentId, sampled: continued.sampled });
        else expect(trace).toMatchObject({ parentId: null, sampled: false, tracestate: null });
      }),
      { numRuns: 2_000 },
    );
  });

  it("makes ids that are the random bytes in hex, or …01 for all zeros", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), (bytes) => {
        const id = hexId(bytes, 0, bytes.length);
        const plain = Buffer.from(bytes).toString("hex");
        expect(id).toBe(bytes.every((b) => b === 0) ? `${plain.slice(0, -2)}01` : plain);
      }),
    );
  });
});

describe("tracestateToForward", () => {
  const keyArb = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_*/-]{0,20}$/), fc.stringMatching(/^[a-z0-9][a-z0-9_*/-]{0,10}@[a-z][a-z0-9_*/-]{0,13}$/));
  const valueArb = fc.stringMatching(/^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,30}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/);
  const owsArb = fc.stringMatching(/^[ \t]{0,2}$/);
  const listArb = fc.uniqueArray(fc.tuple(keyArb, valueArb, owsArb, owsArb), { minLength: 1, maxLength: 32, selector: ([key]) => key });
  const join = (members: readonly (readonly [string, string, string, string])[]) => members.map(([key, value, before, after]) => `${before}${key}=${value}${after}`).join(",");

  it("passes on every valid list unchanged", () => {
    fc.assert(
      fc.property(listArb, (members) => {
        expect(tracestateToForward(join(members))).toBe(join(members));
      }),
    );
  });

  it("drops a list with a key twice", () => {
    fc.assert(
      fc.property(listArb, fc.nat(), valueArb, (members, pick, value) => {
        fc.pre(members.length < 32);
        const [key] = members[pick % members.length] as [string, string, string, string];
        expect(tracestateToForward(`${join(members)},${key}=${value}`)).toBeNull();
      }),
    );
  });
});
