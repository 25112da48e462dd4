/**
 * Dashboard sessions: a login exchanges an admin key for a signed cookie, so
 * the key itself never sits in the browser. The cookie holds an expiry, the
 * role of the key that signed in and that key's fingerprint (for the audit
 * log), and is HMAC-SHA256-signed with a key derived from
 * ORCHESTRATOR_API_KEY: rotating that key ends every session. HttpOnly,
 * SameSite=Strict, Path=/admin, Secure outside development.
 */
import type { Config } from "../config";
import { ROLES, type Role } from "../core/credentials";

export const SESSION_COOKIE = "orch_session";
export const SESSION_TTL_SECONDS = 8 * 3600;

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4);
  try {
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

async function signingKey(apiKey: string): Promise<CryptoKey> {
  // A separate key for sessions, derived from the admin key (never the admin key itself).
  const material = await crypto.subtle.digest("SHA-256", encoder.encode(`orchestrator-session-v1:${apiKey}`));
  return crypto.subtle.importKey("raw", material, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

export async function issueSession(config: Config, now: number, role: Role, by: string): Promise<string | null> {
  if (!config.apiKey) return null;
  // The session id lets a sign-out revoke this session on the server, not just in one browser.
  const sid = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const payload = encoder.encode(JSON.stringify({ v: 2, sid, exp: Math.floor(now / 1000) + SESSION_TTL_SECONDS, role, by }));
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await signingKey(config.apiKey), payload));
  return `${base64url(payload)}.${base64url(signature)}`;
}

export interface Session {
  readonly id: string;
  /** Expiry, ms since the epoch. */
  readonly expiresAt: number;
  /** The role of the key that signed in. */
  readonly role: Role;
  /** That key's fingerprint (core/credentials.ts fingerprintOf). */
  readonly by: string;
}

/**
 * The session when the cookie is genuine and not expired, otherwise null.
 * Revocation (sign-out) is checked separately, against the registry.
 */
export async function verifySession(config: Config, value: string, now: number): Promise<Session | null> {
  if (!config.apiKey || value.length > 512) return null;
  const [payloadPart, signaturePart, extra] = value.split(".");
  if (payloadPart === undefined || signaturePart === undefined || extra !== undefined) return null;
  const payload = fromBase64url(payloadPart);
  const signature = fromBase64url(signaturePart);
  if (!payload || !signature) return null;
  const valid = await crypto.subtle.verify("HMAC", await signingKey(config.apiKey), signature, payload);
  if (!valid) return null;
  try {
    const parsed = JSON.parse(new TextDecoder().decode(payload)) as { v?: unknown; sid?: unknown; exp?: unknown; role?: unknown; by?: unknown };
    const expiresAt = typeof parsed.exp === "number" ? parsed.exp * 1000 : 0;
    if (typeof parsed.sid !== "string" || !(expiresAt > now)) return null;
    // Version 1 (before roles) was only ever issued for ORCHESTRATOR_API_KEY: an admin session.
    if (parsed.v === 1) return { id: parsed.sid, expiresAt, role: "admin", by: "ORCHESTRATOR_API_KEY" };
    const role = ROLES.find((r) => r === parsed.role);
    if (parsed.v !== 2 || role === undefined || typeof parsed.by !== "string") return null;
    return { id: parsed.sid, expiresAt, role, by: parsed.by };
  } catch {
    return null;
  }
}

export function sessionCookie(value: string, config: Config): string {
  return [`${SESSION_COOKIE}=${value}`, "Path=/admin", "HttpOnly", "SameSite=Strict", `Max-Age=${SESSION_TTL_SECONDS}`, ...(config.isDevelopment ? [] : ["Secure"])].join("; ");
}

export function clearedSessionCookie(config: Config): string {
  return [`${SESSION_COOKIE}=`, "Path=/admin", "HttpOnly", "SameSite=Strict", "Max-Age=0", ...(config.isDevelopment ? [] : ["Secure"])].join("; ");
}

export function sessionFrom(request: Request): string | null {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === SESSION_COOKIE) return rest.join("=") || null;
  }
  return null;
}
