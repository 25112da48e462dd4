/**
 * Authentication and authorization for the admin and registry endpoints.
 * Every accepted key (core/credentials.ts: the single-key settings, their
 * _PREVIOUS companions, ADMIN_KEYS and REGISTRATION_TOKENS) is known by its
 * SHA-256 digest; a presented token is digested once and compared in
 * constant time with every digest, so neither the content nor the length of
 * a key, nor which one matched, leaks through timing. Every kind of failure
 * answers the same 401; a valid key without the needed role or scope answers
 * 403; no key configured answers 503: the gateway fails closed, never open.
 */
import type { Config } from "../config";
import { fingerprintOf, type KeyEntry, type Principal, principalOf, type Role, roleAllows, serviceInScope } from "../core/credentials";
import { problem, ProblemType } from "../http/problem";
import { registryStub } from "../platform/stubs";
import { type Session, sessionFrom, verifySession } from "../http/session";

const encoder = new TextEncoder();

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}

function hex(bytes: ArrayBuffer): string {
  let out = "";
  for (const byte of new Uint8Array(bytes)) out += byte.toString(16).padStart(2, "0");
  return out;
}

function fromHex(text: string): ArrayBuffer {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes.buffer;
}

/** Only the exact RFC 6750 form "Bearer <token>" is accepted. */
export function bearerToken(request: Request): string | null {
  return bearerTokenFrom(request.headers.get("authorization"));
}

/** The same, from an Authorization value already read (the proxy has it from the edge's header scan). */
export function bearerTokenFrom(header: string | null): string | null {
  if (!header?.startsWith("Bearer ")) return null;
  const token = header.slice("Bearer ".length);
  return token.length > 0 && token.length <= 4096 && !/\s/.test(token) ? token : null;
}

function unauthorized(realm: string): Response {
  return problem(401, ProblemType.unauthorized, "Unauthorized", "A valid bearer token is required.", {}, {
    "www-authenticate": `Bearer realm="${realm}"`,
  });
}

function notConfigured(variable: string): Response {
  return problem(503, ProblemType.notConfigured, "Authentication not configured", `${variable} is not set, so these endpoints are closed.`, {
    field: variable,
  });
}

function forbiddenRole(principal: Principal, needed: Role): Response {
  const has = principal.role === null ? "a registration token" : `the ${principal.role} role`;
  return problem(403, ProblemType.forbidden, "Forbidden", `This needs the ${needed} role; the credential used has ${has}.`, {
    field: "authorization",
    requiredRole: needed,
    role: principal.role,
  });
}

// ------------------------------------------------------------------ the keyring

interface KeyringEntry {
  readonly entry: KeyEntry;
  readonly digest: ArrayBuffer;
}

// Resolved digests per configuration, not a shared promise: a promise shared across requests would be
// resolved in another request's context, which Workers warn about.
const keyrings = new WeakMap<Config, readonly KeyringEntry[]>();

/** Every key this configuration accepts, in order of precedence, with its digest. */
async function keyring(config: Config): Promise<readonly KeyringEntry[]> {
  const cached = keyrings.get(config);
  if (cached !== undefined) return cached;
  const c = config.credentials;
  const plain: Array<[string | undefined, Omit<KeyEntry, "digestHex">]> = [
    [config.apiKey, { kind: "admin", role: "admin", services: null, name: "ORCHESTRATOR_API_KEY" }],
    [c.apiKeyPrevious, { kind: "admin", role: "admin", services: null, name: "ORCHESTRATOR_API_KEY_PREVIOUS" }],
    [config.registrationToken, { kind: "registration", role: null, services: null, name: "REGISTRATION_TOKEN" }],
    [c.registrationTokenPrevious, { kind: "registration", role: null, services: null, name: "REGISTRATION_TOKEN_PREVIOUS" }],
  ];
  const entries: KeyringEntry[] = [];
  for (const [key, spec] of plain) {
    if (key === undefined) continue;
    const keyDigest = await digest(key);
    entries.push({ entry: { ...spec, digestHex: hex(keyDigest) }, digest: keyDigest });
  }
  for (const entry of [...c.adminKeys, ...c.registrationTokens]) entries.push({ entry, digest: fromHex(entry.digestHex) });
  keyrings.set(config, entries);
  return entries;
}

/** The first keyring entry (by precedence) whose digest equals `presented`; every entry is compared. */
function match(entries: readonly KeyringEntry[], presented: ArrayBuffer): KeyringEntry | null {
  let found: KeyringEntry | null = null;
  for (const candidate of entries) if (crypto.subtle.timingSafeEqual(candidate.digest, presented) && found === null) found = candidate;
  return found;
}

/** Who a token belongs to, or null when no configured key matches it. */
export async function authenticate(token: string, config: Config): Promise<Principal | null> {
  const [entries, presented] = await Promise.all([keyring(config), digest(token)]);
  const found = match(entries, presented);
  return found === null ? null : principalOf(found.entry);
}

function hasAdminKeys(config: Config): boolean {
  return config.apiKey !== undefined || config.credentials.apiKeyPrevious !== undefined || config.credentials.adminKeys.length > 0;
}

function hasRegistrationTokens(config: Config): boolean {
  const c = config.credentials;
  return config.registrationToken !== undefined || c.registrationTokenPrevious !== undefined || c.registrationTokens.length > 0;
}

// ------------------------------------------------------------------ admin endpoints

export type Authorized = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly response: Response };

/**
 * Whether the request may do what needs `needed`: an admin key of that role
 * or higher as a bearer token, or a dashboard session signed in with one. A
 * cookie-authenticated request that changes state, or opens the live
 * WebSocket, must also come from our own origin: SameSite=Strict already
 * stops cross-site requests in current browsers, the Origin check covers the
 * rest (CSRF, cross-site WebSocket hijacking).
 */
export async function authorize(request: Request, config: Config, env: Env, needed: Role): Promise<Authorized> {
  if (!hasAdminKeys(config)) return { ok: false, response: notConfigured("ORCHESTRATOR_API_KEY") };
  const token = bearerToken(request);
  if (token !== null) {
    const principal = await authenticate(token, config);
    if (principal === null || principal.kind !== "admin") return { ok: false, response: unauthorized("admin") };
    return roleAllows(principal.role, needed) ? { ok: true, principal } : { ok: false, response: forbiddenRole(principal, needed) };
  }
  const session = await currentSession(request, config, env);
  if (session === null) return { ok: false, response: unauthorized("admin") };
  const principal = sessionPrincipal(session);
  if (!roleAllows(principal.role, needed)) return { ok: false, response: forbiddenRole(principal, needed) };
  const safe = (request.method === "GET" || request.method === "HEAD") && request.headers.get("upgrade")?.toLowerCase() !== "websocket";
  const crossOrigin = safe ? null : crossOriginProblem(request);
  return crossOrigin === null ? { ok: true, principal } : { ok: false, response: crossOrigin };
}

/** A dashboard session acts with the role of the key that signed in, and is named after it in the audit log. */
function sessionPrincipal(session: Session): Principal {
  return { kind: "admin", role: session.role, services: null, name: "dashboard session", fingerprint: `dashboard:${session.by}` };
}

/** The admin key a dashboard sign-in form carries, if it is one: any role may sign in. */
export async function adminKeyPrincipal(key: string, config: Config): Promise<Principal | null> {
  const principal = await authenticate(key, config);
  return principal !== null && principal.kind === "admin" ? principal : null;
}

/**
 * Null when a cookie-authenticated request comes from the dashboard's own
 * origin; otherwise the 403 to send. Applied to every request that changes
 * state, to sign-out, and to the live WebSocket's upgrade (a GET a
 * cross-site page could otherwise open with the cookie: WebSocket hijacking).
 * A missing or `null` Origin is refused too, unless the browser's Fetch
 * Metadata says the request is same-origin (a form POST under our
 * Referrer-Policy: no-referrer is sent with Origin "null").
 */
export function crossOriginProblem(request: Request): Response | null {
  const origin = request.headers.get("origin");
  if (origin === new URL(request.url).origin) return null;
  // Our own page's form POST (sign-out) carries Origin "null" under our Referrer-Policy: no-referrer.
  // Fetch Metadata, which no page can forge, vouches for it being same-origin.
  if ((origin === null || origin === "null") && request.headers.get("sec-fetch-site") === "same-origin") return null;
  return problem(403, ProblemType.forbidden, "Forbidden", "Requests with a session cookie that change state or open the live connection must come from the dashboard's own origin.", { field: "origin" });
}

/**
 * The registry: registration tokens (within their services) and admin keys.
 * Writes (register, heartbeat, deregister) need a registration token or an
 * admin key with the admin role; reading the service list needs either, or
 * any admin key. The caller checks the service against `principal.services`.
 */
export async function authorizeRegistry(request: Request, config: Config, access: "read" | "write"): Promise<Authorized> {
  if (!hasAdminKeys(config) && !hasRegistrationTokens(config)) return { ok: false, response: notConfigured("REGISTRATION_TOKEN") };
  const token = bearerToken(request);
  const principal = token === null ? null : await authenticate(token, config);
  if (principal === null) return { ok: false, response: unauthorized("registry") };
  if (principal.kind === "admin" && access === "write" && !roleAllows(principal.role, "admin")) return { ok: false, response: forbiddenRole(principal, "admin") };
  return { ok: true, principal };
}

/** 403 when a registration token is used for a service outside its scope. */
export function outOfScope(principal: Principal, service: string): Response | null {
  if (serviceInScope(principal.services, service)) return null;
  return problem(403, ProblemType.forbidden, "Forbidden", `This registration token is not allowed to act for ${service}.`, { field: "service", service });
}

/** Longest Authorization value examined for credentials (the header scan caps whole heads far lower). */
const MAX_AUTHORIZATION_EXAMINED = 8192;
/** At most this many values are compared per header: a key is one of the first words of any real scheme. */
const MAX_CANDIDATES = 16;

/**
 * The values an Authorization header could be carrying a secret as, whatever
 * its scheme, case or spacing: every whitespace-separated word, every
 * parameter value, and for Basic the decoded user and password. `Bearer <key>`, `bearer  <key>`, `Token <key>`,
 * the bare key and `Basic base64(x:key)` all yield the key.
 */
export function credentialCandidates(header: string): string[] {
  const value = header.slice(0, MAX_AUTHORIZATION_EXAMINED).trim();
  const words = value.split(/\s+/).filter((w) => w !== "");
  // Parameters too (Digest response=…, token="…"), split finer; the whole words stay, for keys that contain = or ,.
  const parts = value.split(/[\s,;="']+/).filter((w) => w !== "");
  const candidates = new Set([...words, ...parts]);
  if (words.length === 2 && words[0]?.toLowerCase() === "basic") {
    try {
      const decoded = atob(words[1] as string);
      const colon = decoded.indexOf(":");
      if (colon >= 0) {
        candidates.add(decoded.slice(0, colon));
        candidates.add(decoded.slice(colon + 1));
      } else candidates.add(decoded);
    } catch {
      // Not base64: the words themselves are still checked.
    }
  }
  return [...candidates].slice(0, MAX_CANDIDATES);
}

/**
 * Whether an Authorization value carries one of the orchestrator's own
 * credentials in any form (any key of the keyring, hashed ones included):
 * such a header never goes upstream, where any instance owner could collect
 * it. Compared in constant time, like every other use of the keys.
 */
export async function carriesOrchestratorCredential(header: string | null, config: Config): Promise<boolean> {
  if (header === null || (!hasAdminKeys(config) && !hasRegistrationTokens(config))) return false;
  // Each candidate digested once, the keys' digests once per configuration: this runs for every
  // proxied request that carries an Authorization header. Every pair is compared (no early exit).
  const [entries, candidates] = await Promise.all([keyring(config), Promise.all(credentialCandidates(header).map(digest))]);
  let found = false;
  for (const candidate of candidates) if (match(entries, candidate) !== null) found = true;
  return found;
}

/** The request's dashboard session when it is genuine, current and not signed out; otherwise null. */
export async function currentSession(request: Request, config: Config, env: Env): Promise<Session | null> {
  const cookie = sessionFrom(request);
  if (cookie === null) return null;
  const session = await verifySession(config, cookie, Date.now());
  if (session === null) return null;
  return (await registryStub(env).isSessionRevoked(session.id)) ? null : session;
}
