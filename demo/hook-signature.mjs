/**
 * The receiving side of a signed lifecycle hook, as an instance would check
 * it (Node built-ins only; docs/architecture.md's Lifecycle hook section shows the same
 * lines). The orchestrator sends
 *
 *   X-Orchestrator-Timestamp: <Unix seconds>
 *   X-Orchestrator-Signature: v1=<hex HMAC-SHA256(LIFECYCLE_HOOK_SECRET, "v1\n" + timestamp + "\n" + METHOD + "\n" + path + "\n" + body)>
 *
 * with the exact body bytes it sends. A receiver recomputes the HMAC over the
 * body as received, compares in constant time, and refuses a timestamp more
 * than five minutes from its own clock (a replayed request).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const TOLERANCE_SECONDS = 300;

/**
 * @param {{ secret: string, method: string, path: string, body: string,
 *           timestamp: string | undefined, signature: string | undefined, nowMs?: number }} request
 * @returns {{ ok: true } | { ok: false, reason: string }}
 */
export function verifyLifecycleHook({ secret, method, path, body, timestamp, signature, nowMs = Date.now() }) {
  if (!secret) return { ok: false, reason: "no secret configured" };
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "missing or malformed timestamp" };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return { ok: false, reason: "timestamp too far from now (replay?)" };
  const expected = createHmac("sha256", secret).update(`v1\n${timestamp}\n${method.toUpperCase()}\n${path}\n${body}`).digest();
  // Several v1= values may come (comma-separated); one match is enough.
  const matches = String(signature ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("v1=") && /^[0-9a-f]{64}$/.test(part.slice(3)))
    .some((part) => timingSafeEqual(Buffer.from(part.slice(3), "hex"), expected));
  return matches ? { ok: true } : { ok: false, reason: "signature does not match" };
}
