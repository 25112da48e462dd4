/**
 * X-Request-Id: new ids are RFC 9562 version 8 UUIDs, unique in an isolate;
 * a client's id is kept only when it is a sane token.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { newRequestId, permute48, requestIdFor } from "../../src/middleware/request-id";

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function requestWith(id?: string): Request {
  const headers = new Headers();
  if (id !== undefined) headers.set("x-request-id", id);
  return new Request("https://orchestrator.example/api/services", { headers });
}

describe("newRequestId", () => {
  it("makes UUID version 8 ids with the RFC 9562 variant", () => {
    for (let i = 0; i < 1_000; i++) expect(newRequestId()).toMatch(UUID_V8);
  });

  it("never repeats itself over 10,000 consecutive ids", () => {
    const ids = Array.from({ length: 10_000 }, () => newRequestId());
    expect(new Set(ids).size).toBe(10_000);
    for (const id of ids) expect(id).toMatch(UUID_V8);
  });
});

describe("newRequestId in a fresh isolate", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
  });

  async function freshModule(fill: number) {
    vi.resetModules();
    vi.spyOn(crypto, "getRandomValues").mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      if (array) new Uint8Array(array.buffer, array.byteOffset, array.byteLength).fill(fill);
      return array;
    });
    return (await import("../../src/middleware/request-id")).newRequestId;
  }

  it.each([
    { fill: 0x00, bytes: "all zero" },
    { fill: 0xff, bytes: "all ones" },
  ])("sets the version and variant bits whatever the random bytes are ($bytes)", async ({ fill }) => {
    const next = await freshModule(fill);
    for (let i = 0; i < 10; i++) expect(next()).toMatch(UUID_V8);
  });

  it("keeps the counter 12 hex digits wide and distinct as it wraps past 2^48", async () => {
    // All-0xff random bytes start the counter at 2^48 − 1: the very next id wraps it to zero.
    const next = await freshModule(0xff);
    const ids = Array.from({ length: 1_000 }, () => next());
    for (const id of ids) expect(id).toMatch(UUID_V8);
    expect(new Set(ids).size).toBe(ids.length);
    // The counter went through zero (the last 12 digits are its keyed permutation).
    expect(ids[0]?.slice(-12)).toBe(permute48(0, new Uint32Array(4).fill(0xffffffff)).toString(16).padStart(12, "0"));
  });

  it("asks the random number generator once per isolate, not per id", async () => {
    const next = await freshModule(0x5a);
    for (let i = 0; i < 100; i++) next();
    expect(crypto.getRandomValues).toHaveBeenCalledTimes(1);
  });
});

describe("newRequestId hides traffic volume (security review finding 8)", () => {
  it("consecutive ids do not count up: about half go down", () => {
    const tails = Array.from({ length: 2_001 }, () => Number.parseInt(newRequestId().slice(-12), 16));
    let up = 0;
    for (let i = 1; i < tails.length; i++) if ((tails[i] as number) > (tails[i - 1] as number)) up++;
    expect(up).toBeGreaterThan(800);
    expect(up).toBeLessThan(1_200);
  });

  it("permute48 is a bijection of 48-bit numbers: distinct inputs give distinct outputs, all below 2^48", () => {
    const keys = new Uint32Array([0x12345678, 0x9abcdef0, 0x0f0f0f0f, 0xdeadbeef]);
    const seen = new Set<number>();
    for (const start of [0, 2 ** 24 - 50, 2 ** 47, 2 ** 48 - 5_000]) {
      for (let n = start; n < start + 5_000 && n < 2 ** 48; n++) {
        const out = permute48(n, keys);
        expect(out).toBeGreaterThanOrEqual(0);
        expect(out).toBeLessThan(2 ** 48);
        seen.add(out);
      }
    }
    expect(seen.size).toBe(4 * 5_000 - 0);
  });
});

describe("requestIdFor", () => {
  it.each([
    ["8 characters, the shortest kept", "abcd1234"],
    ["a UUID", "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b"],
    ["the characters allowed besides letters and digits", "trace.span_1:2-3"],
    ["128 characters, the longest kept", "a".repeat(128)],
  ])("keeps a client's sane id (%s)", (_what, id) => {
    expect(requestIdFor(requestWith(id))).toBe(id);
  });

  it.each([
    ["with a space inside", "abcd 1234"],
    ["too short", "abc1234"],
    ["too long", "a".repeat(129)],
    ["with a control character", "abcd\u00011234"],
    ["with a tab", "abcd\t1234"],
    ["with DEL", "abcd1234\u007f"],
    ["with markup", "<script>alert(1)</script>"],
    ["with a quote", 'abcd"1234'],
    ["with a slash", "abcd/1234"],
    ["with Latin-1 letters", "abcdéfgh"],
    ["empty", ""],
  ])("replaces an insane id (%s) with a new one", (_what, id) => {
    const given = requestWith(id);
    const chosen = requestIdFor(given);
    expect(chosen).not.toBe(given.headers.get("x-request-id"));
    expect(chosen).toMatch(UUID_V8);
  });

  it("replaces an id sent twice (the header values join with a comma and a space)", () => {
    const headers = new Headers();
    headers.append("x-request-id", "abcd1234");
    headers.append("x-request-id", "efgh5678");
    expect(requestIdFor(new Request("https://orchestrator.example/", { headers }))).toMatch(UUID_V8);
  });

  it("makes a new id when the client sent none, and a different one each time", () => {
    const a = requestIdFor(requestWith());
    const b = requestIdFor(requestWith());
    expect(a).toMatch(UUID_V8);
    expect(b).toMatch(UUID_V8);
    expect(a).not.toBe(b);
  });
});
