/**
 * Signing the orchestrator's calls to lifecycle hooks (security review
 * finding 4), in the manner of Stripe's and GitHub's webhook signatures: an
 * HMAC-SHA256 with a shared secret (LIFECYCLE_HOOK_SECRET) over the method,
 * path, a timestamp and the exact body, so a receiver can tell the
 * orchestrator's request from anyone else's and refuse a replay of an old
 * one. The receiver's side, in Node, is demo/hook-signature.mjs and the
 * docs/architecture.md (Lifecycle hook); both must agree with `hookSigningInput`.
 */

export const HOOK_TIMESTAMP_HEADER = "x-orchestrator-timestamp";
export const HOOK_SIGNATURE_HEADER = "x-orchestrator-signature";
/** How far a receiver should let the timestamp be from its own clock, in seconds. */
export const HOOK_TOLERANCE_SECONDS = 300;

/** The exact bytes signed: version, timestamp (Unix seconds), method, path, body, one per line. */
export function hookSigningInput(timestampSeconds: number, method: string, path: string, body: string): string {
  return `v1\n${timestampSeconds}\n${method.toUpperCase()}\n${path}\n${body}`;
}

const encoder = new TextEncoder();

async function hmacHex(secret: string, input: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(input)));
  let hex = "";
  for (const byte of mac) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** The two headers that go with one hook call. */
export async function hookSignatureHeaders(secret: string, nowMs: number, method: string, path: string, body: string): Promise<Record<string, string>> {
  const timestamp = Math.floor(nowMs / 1000);
  const signature = await hmacHex(secret, hookSigningInput(timestamp, method, path, body));
  return { [HOOK_TIMESTAMP_HEADER]: String(timestamp), [HOOK_SIGNATURE_HEADER]: `v1=${signature}` };
}
