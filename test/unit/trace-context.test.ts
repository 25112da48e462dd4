/**
 * W3C Trace Context: which traceparent values are continued and which start
 * a new trace (the spec's rules, including every traceparent case of the
 * W3C test harness, w3c/trace-context test/test.py), which tracestate lists
 * are passed on, and the ids the edge makes.
 */
import { describe, expect, it } from "vitest";
import { formatTraceparent, hexId, parseTraceparent, traceContextFrom, tracestateToForward, TRACE_RANDOM_BYTES } from "../../src/core/trace-context";
import { traceFor } from "../../src/middleware/request-id";

const TRACE = "12345678901234567890123456789012";
const PARENT = "1234567890123456";
const VALID = `00-${TRACE}-${PARENT}-01`;

describe("parseTraceparent", () => {
  it("reads a version-00 value: trace id, parent id and the sampled flag", () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, parentId: PARENT, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)).toEqual({ traceId: TRACE, parentId: PARENT, sampled: false });
  });

  it("reads the sampled bit alone out of the flags (masking the others)", () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-09`)?.sampled).toBe(true);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-02`)?.sampled).toBe(false);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-ff`)?.sampled).toBe(true);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-fe`)?.sampled).toBe(false);
  });

  it("ignores spaces and tabs around the value", () => {
    for (const value of [` ${VALID}`, `\t${VALID}`, `${VALID} `, `${VALID}\t`, `\t ${VALID} \t`]) expect(parseTraceparent(value)?.traceId, JSON.stringify(value)).toBe(TRACE);
  });

  it.each([
    ["version 00 with a trailing character", `${VALID}.`],
    ["version 00 with further fields", `${VALID}-what-the-future-will-be-like`],
    ["version ff", `ff-${TRACE}-${PARENT}-01`],
    ["an illegal character in the version", `.0-${TRACE}-${PARENT}-01`],
    ["an illegal character in the version's second place", `0.-${TRACE}-${PARENT}-01`],
    ["a version of three digits", `000-${TRACE}-${PARENT}-01`],
    ["a version of four digits", `0000-${TRACE}-${PARENT}-01`],
    ["a version of one digit", `0-${TRACE}-${PARENT}-01`],
    ["an uppercase version", `0A-${TRACE}-${PARENT}-01`],
    ["an all-zero trace id", `00-${"0".repeat(32)}-${PARENT}-01`],
    ["an illegal first character in the trace id", `00-.2345678901234567890123456789012-${PARENT}-01`],
    ["an illegal last character in the trace id", `00-1234567890123456789012345678901.-${PARENT}-01`],
    ["a trace id of 33 digits", `00-123456789012345678901234567890123-${PARENT}-01`],
    ["a trace id of 31 digits", `00-1234567890123456789012345678901-${PARENT}-01`],
    ["uppercase hex in the trace id", `00-4BF92F3577B34DA6A3CE929D0E0E4736-${PARENT}-01`],
    ["an all-zero parent id", `00-${TRACE}-0000000000000000-01`],
    ["an illegal first character in the parent id", `00-${TRACE}-.234567890123456-01`],
    ["an illegal last character in the parent id", `00-${TRACE}-123456789012345.-01`],
    ["a parent id of 17 digits", `00-${TRACE}-12345678901234567-01`],
    ["a parent id of 15 digits", `00-${TRACE}-123456789012345-01`],
    ["uppercase hex in the parent id", `00-${TRACE}-00F067AA0BA902B7-01`],
    ["an illegal character in the flags", `00-${TRACE}-${PARENT}-.0`],
    ["an illegal last character in the flags", `00-${TRACE}-${PARENT}-0.`],
    ["flags of three digits", `00-${TRACE}-${PARENT}-001`],
    ["flags of one digit", `00-${TRACE}-${PARENT}-1`],
    ["uppercase flags", `00-${TRACE}-${PARENT}-0A`],
    ["two traceparent headers, combined", `${VALID}, 00-${TRACE.replace(/2$/, "1")}-${PARENT}-01`],
    ["a later version with a dot after the flags", `cc-${TRACE}-${PARENT}-01.what-the-future-will-be-like`],
    ["a later version shorter than 55 characters", `cc-${TRACE}-${PARENT}-1`],
    ["underscores for dashes", `00_${TRACE}_${PARENT}_01`],
    ["an empty value", ""],
    ["spaces only", "   "],
  ])("refuses %s", (_why, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it("parses a later version by the forward-compatibility rule: the version-00 fields, then the end or a dash", () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01`)).toEqual({ traceId: TRACE, parentId: PARENT, sampled: true });
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`)).toEqual({ traceId: TRACE, parentId: PARENT, sampled: true });
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-00-`)).toEqual({ traceId: TRACE, parentId: PARENT, sampled: false });
    expect(parseTraceparent(`fe-${TRACE}-${PARENT}-01-x`)?.traceId).toBe(TRACE);
  });
});

describe("formatTraceparent", () => {
  it("writes version 00 with the edge's span as parent-id and only the sampled flag", () => {
    expect(formatTraceparent({ traceId: TRACE, spanId: "00f067aa0ba902b7", sampled: true })).toBe(`00-${TRACE}-00f067aa0ba902b7-01`);
    expect(formatTraceparent({ traceId: TRACE, spanId: "00f067aa0ba902b7", sampled: false })).toBe(`00-${TRACE}-00f067aa0ba902b7-00`);
  });
});

describe("hexId", () => {
  it("writes bytes as lowercase hex", () => {
    const bytes = Uint8Array.from([0x00, 0x0f, 0xa0, 0xff, 0x12, 0xab, 0xcd, 0xef]);
    expect(hexId(bytes, 0, 8)).toBe("000fa0ff12abcdef");
    expect(hexId(bytes, 2, 3)).toBe("a0ff12");
  });

  it("never answers all zeros, which would be an invalid id", () => {
    expect(hexId(new Uint8Array(16), 0, 16)).toBe(`${"0".repeat(30)}01`);
    expect(hexId(new Uint8Array(8), 0, 8)).toBe("0000000000000001");
  });
});

describe("traceContextFrom", () => {
  const random = Uint8Array.from({ length: TRACE_RANDOM_BYTES }, (_, i) => i + 1);
  const newTrace = hexId(random, 0, 16);
  const newSpan = hexId(random, 16, 8);

  it("continues a valid traceparent: same trace id and sampled flag, the edge's own span, the tracestate passed on", () => {
    expect(traceContextFrom(VALID, "congo=t61rcWkgMzE", random, 0)).toEqual({ traceId: TRACE, spanId: newSpan, parentId: PARENT, sampled: true, tracestate: "congo=t61rcWkgMzE" });
  });

  it("starts a new trace, unsampled and without tracestate, when the traceparent is missing or invalid", () => {
    const fresh = { traceId: newTrace, spanId: newSpan, parentId: null, sampled: false, tracestate: null };
    expect(traceContextFrom(null, null, random, 0)).toEqual(fresh);
    expect(traceContextFrom(null, "foo=1", random, 0)).toEqual(fresh);
    expect(traceContextFrom(`ff-${TRACE}-${PARENT}-01`, "foo=1", random, 0)).toEqual(fresh);
    expect(traceContextFrom(`00-4BF92F3577B34DA6A3CE929D0E0E4736-${PARENT}-01`, "foo=1", random, 0)).toEqual(fresh);
  });

  it("keeps a valid traceparent but drops a tracestate that is invalid or empty", () => {
    expect(traceContextFrom(VALID, "foo=1,foo=2", random, 0)).toMatchObject({ traceId: TRACE, tracestate: null });
    expect(traceContextFrom(VALID, "", random, 0)).toMatchObject({ traceId: TRACE, tracestate: null });
    expect(traceContextFrom(VALID, null, random, 0)).toMatchObject({ traceId: TRACE, tracestate: null });
  });

  it("reads its random bytes from the offset", () => {
    const pool = new Uint8Array(100);
    pool.set(random, 40);
    expect(traceContextFrom(null, null, pool, 40)).toMatchObject({ traceId: newTrace, spanId: newSpan });
  });
});

describe("tracestateToForward", () => {
  it.each([
    ["one member", "congo=t61rcWkgMzE"],
    ["members in order", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"],
    ["spaces and tabs around members", "foo=1 \t , \t bar=2, \t baz=3"],
    ["tabs and spaces around members", "foo=1\t \t,\t \tbar=2,\t \tbaz=3"],
    ["empty members (as combined headers give)", "foo=1, ,,bar=2,"],
    ["a multi-tenant key", "tenant1@system=value"],
    ["every character a simple key may hold", "abcdefghijklmnopqrstuvwxyz0123456789_-*/=1"],
    ["every character a multi-tenant key may hold", "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/=1"],
    ["a tenant id starting with a digit", "0tenant@vendor=1"],
    ["every character a value may hold", `foo=${[...Array(0x7f - 0x20).keys()].map((i) => String.fromCharCode(0x20 + i)).filter((c) => c !== "," && c !== "=").join("")}`],
    ["32 members", Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(",")],
    ["a 256-character key and value", `${"k".repeat(256)}=${"v".repeat(256)}`],
  ])("passes on %s unchanged", (_why, value) => {
    expect(tracestateToForward(value)).toBe(value);
  });

  it.each([
    ["an empty value", ""],
    ["only spaces and commas", " , ,\t"],
    ["a key twice", "foo=1,foo=1"],
    ["a key twice with different values", "foo=1,bar=2,foo=2"],
    ["33 members", Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",")],
    ["a space inside the key", "foo =1"],
    ["an uppercase key", "FOO=1"],
    ["a dot in the key", "foo.bar=1"],
    ["a key starting with a digit (not multi-tenant)", "1foo=1"],
    ["an empty system id", "foo@=1,bar=2"],
    ["an empty tenant id", "@foo=1,bar=2"],
    ["two @ in a row", "foo@@bar=1,bar=2"],
    ["two @", "foo@bar@baz=1,bar=2"],
    ["a system id starting with a digit", "foo@1bar=1"],
    ["a system id of 15 characters", `foo@${"s".repeat(15)}=1`],
    ["a tenant id of 242 characters", `${"t".repeat(242)}@s=1`],
    ["a key of 257 characters", `${"k".repeat(257)}=1`],
    ["a value of 257 characters", `foo=${"v".repeat(257)}`],
    ["a member with an empty value", "foo="],
    ["no equals sign", "foo"],
    ["an equals sign in the value", "foo=a=b"],
    ["a control character in the value", "foo=a\u0001b"],
    ["a non-ASCII character in the value", "foo=café"],
    ["a member without a key", "=1"],
  ])("drops %s", (_why, value) => {
    expect(tracestateToForward(value)).toBeNull();
  });
});

describe("traceFor (the edge's per-request trace)", () => {
  it("asks the headers for nothing when the scan saw no trace context", () => {
    const headers = new Headers({ traceparent: VALID });
    const get = headers.get.bind(headers);
    let asked = 0;
    headers.get = (name: string) => {
      asked++;
      return get(name);
    };
    const trace = traceFor(headers, ["host"]);
    expect(asked).toBe(0);
    expect(trace.traceId).not.toBe(TRACE);
    expect(trace.parentId).toBeNull();
  });

  it("continues a traceparent the scan saw, with its tracestate", () => {
    const trace = traceFor(new Headers({ traceparent: VALID, tracestate: "foo=1" }), ["host", "traceparent", "tracestate"]);
    expect(trace).toMatchObject({ traceId: TRACE, parentId: PARENT, sampled: true, tracestate: "foo=1" });
    expect(trace.spanId).toMatch(/^[0-9a-f]{16}$/);
  });

  it("makes different ids for every request, across refills of its random pool", () => {
    const traces = Array.from({ length: 2_000 }, () => traceFor(new Headers(), []));
    expect(new Set(traces.map((t) => t.traceId)).size).toBe(2_000);
    expect(new Set(traces.map((t) => t.spanId)).size).toBe(2_000);
    for (const t of traces) {
      expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    }
  });
});
