/**
 * The orchestrator's signer (src/core/hook-signature.ts, Web Crypto) and the
 * receiver's check (demo/hook-signature.mjs, node:crypto) are two
 * implementations of one format: they must agree on every body, and a change
 * to any signed part must make the check fail.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HOOK_SIGNATURE_HEADER, HOOK_TIMESTAMP_HEADER, hookSignatureHeaders } from "../../src/core/hook-signature";
import { verifyLifecycleHook } from "../../demo/hook-signature.mjs";

const SECRET = "unit-lifecycle-hook-secret-0123456789abcdef";
const NOW_MS = 1_790_000_000_123;
const PATH = "/__lifecycle/restart";
const BODY = JSON.stringify({ action: "restart", service: "api", instance: null, id: "req-12345678", at: new Date(NOW_MS).toISOString() });
/** Several lines, CRLF and LF, and characters of one to four UTF-8 bytes. */
const MULTI_LINE_BODY = 'first line\nzweite Zeile: ünïcödé\r\n第三行 ✓ — 🚀\n\n{"trailing":"json"}\n';

async function signed(body: string, { method = "POST", path = PATH, nowMs = NOW_MS, secret = SECRET } = {}) {
  const headers = await hookSignatureHeaders(secret, nowMs, method, path, body);
  return { timestamp: headers[HOOK_TIMESTAMP_HEADER], signature: headers[HOOK_SIGNATURE_HEADER] };
}

function verify(body: string, headers: { timestamp?: string; signature?: string }, { method = "POST", path = PATH, nowMs = NOW_MS, secret = SECRET } = {}) {
  return verifyLifecycleHook({ secret, method, path, body, timestamp: headers.timestamp, signature: headers.signature, nowMs });
}

describe("lifecycle hook signatures: signer and receiver agree", () => {
  it("sends the timestamp in Unix seconds and one v1= hex HMAC", async () => {
    const headers = await signed(BODY);
    expect(headers.timestamp).toBe(String(Math.floor(NOW_MS / 1000)));
    expect(headers.signature).toMatch(/^v1=[0-9a-f]{64}$/);
  });

  it.each([
    ["a JSON body", BODY],
    ["a multi-line UTF-8 body", MULTI_LINE_BODY],
    ["an empty body", ""],
  ])("accepts %s signed by the orchestrator", async (_name, body) => {
    expect(verify(body, await signed(body))).toEqual({ ok: true });
  });

  it("agrees on any body, path and method", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 200 }), fc.string({ maxLength: 40 }), fc.constantFrom("POST", "post", "PUT"), async (body, rest, method) => {
        const path = `/${rest}`;
        expect(verify(body, await signed(body, { method, path }), { method, path })).toEqual({ ok: true });
      }),
    );
  });

  it("still accepts within five minutes either way", async () => {
    const headers = await signed(MULTI_LINE_BODY);
    expect(verify(MULTI_LINE_BODY, headers, { nowMs: NOW_MS + 299_000 })).toEqual({ ok: true });
    expect(verify(MULTI_LINE_BODY, headers, { nowMs: NOW_MS - 299_000 })).toEqual({ ok: true });
  });
});

describe("lifecycle hook signatures: any change is refused", () => {
  it.each([
    ["the method", { method: "PUT" }],
    ["the path", { path: "/base/__lifecycle/restart" }],
    ["the secret", { secret: "another-secret-of-the-same-length-0123456789" }],
  ])("refuses a different %s", async (_name, change) => {
    const verdict = verify(MULTI_LINE_BODY, await signed(MULTI_LINE_BODY), change);
    expect(verdict).toEqual({ ok: false, reason: "signature does not match" });
  });

  it.each([
    ["one character changed", MULTI_LINE_BODY.replace("ü", "u")],
    ["a line ending changed", MULTI_LINE_BODY.replace("\r\n", "\n")],
    ["a trailing newline dropped", MULTI_LINE_BODY.slice(0, -1)],
  ])("refuses the body with %s", async (_name, tampered) => {
    expect(verify(tampered, await signed(MULTI_LINE_BODY))).toEqual({ ok: false, reason: "signature does not match" });
  });

  it("refuses a timestamp that is not the one signed", async () => {
    const headers = await signed(BODY);
    const timestamp = String(Number(headers.timestamp) + 1);
    expect(verify(BODY, { ...headers, timestamp })).toEqual({ ok: false, reason: "signature does not match" });
  });

  it("refuses a correctly signed call older or newer than five minutes", async () => {
    const headers = await signed(BODY);
    expect(verify(BODY, headers, { nowMs: NOW_MS + 301_000 })).toMatchObject({ ok: false, reason: expect.stringContaining("timestamp") });
    expect(verify(BODY, headers, { nowMs: NOW_MS - 301_000 })).toMatchObject({ ok: false, reason: expect.stringContaining("timestamp") });
  });

  it("refuses a call without the headers, or with a malformed signature", async () => {
    const headers = await signed(BODY);
    expect(verify(BODY, {})).toMatchObject({ ok: false });
    expect(verify(BODY, { timestamp: headers.timestamp })).toEqual({ ok: false, reason: "signature does not match" });
    expect(verify(BODY, { ...headers, signature: headers.signature?.toUpperCase() })).toEqual({ ok: false, reason: "signature does not match" });
    expect(verify(BODY, { ...headers, signature: headers.signature?.slice(0, -2) })).toEqual({ ok: false, reason: "signature does not match" });
  });
});
