/**
 * Bearer-token authentication for admin and registration endpoints. Tokens
 * are compared in constant time over their SHA-256 digests, so neither the
 * content nor the length of the configured key leaks through timing. Every
 * kind of failure answers the same 401, and a key that is not configured
 * answers 503: the gateway fails closed, never open.
 */
import type { Config } from "../config";
import { problem, ProblemType } from "../problem";
import { registryStub } from "../registry-client";
import { type Session, sessionFrom, verifySession } from "../session";

const encoder = new TextEncoder();

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}

export async function tokensEqual(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(presented), digest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
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

async function matchesAny(token: string, keys: readonly (string | undefined)[]): Promise<boolean> {
  let matched = false;
  // Compare against every configured key (no early exit) so timing does not say which one matched.
  for (const key of keys) if (key !== undefined && (await tokensEqual(token, key))) matched = true;
  return matched;
}

/**
 * Returns a response to send instead when the request may not proceed, or
 * null when it may. The admin key as a bearer token, or a dashboard session
 * cookie. A cookie-authenticated request that changes state, or opens the
 * live WebSocket, must also come from our own origin: SameSite=Strict already
 * stops cross-site requests in current browsers, the Origin check covers the
 * rest (CSRF, cross-site WebSocket hijacking).
 */
export async function requireAdmin(request: Request, config: Config, env: Env): Promise<Response | null> {
  if (!config.apiKey) return notConfigured("ORCHESTRATOR_API_KEY");
  const token = bearerToken(request);
  if (token !== null) return (await matchesAny(token, [config.apiKey])) ? null : unauthorized("admin");
  if ((await currentSession(request, config, env)) === null) return unauthorized("admin");
  const safe = (request.method === "GET" || request.method === "HEAD") && request.headers.get("upgrade")?.toLowerCase() !== "websocket";
  return safe ? null : crossOriginProblem(request);
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

/** Registration accepts REGISTRATION_TOKEN or the admin key. */
export async function requireRegistration(request: Request, config: Config): Promise<Response | null> {
  if (!config.apiKey && !config.registrationToken) return notConfigured("REGISTRATION_TOKEN");
  const token = bearerToken(request);
  if (token === null || !(await matchesAny(token, [config.registrationToken, config.apiKey]))) return unauthorized("registry");
  return null;
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
 * credentials in any form: such a header never goes upstream, where any
 * instance owner could collect it. Compared in constant time, like every
 * other use of the keys.
 */
export async function carriesOrchestratorCredential(header: string | null, config: Config): Promise<boolean> {
  if (header === null || (config.apiKey === undefined && config.registrationToken === undefined)) return false;
  // Each candidate digested once, the keys' digests once per configuration: this runs for every
  // proxied request that carries an Authorization header. Every pair is compared (no early exit).
  const [keys, candidates] = await Promise.all([keyDigests(config), Promise.all(credentialCandidates(header).map(digest))]);
  let found = false;
  for (const candidate of candidates) for (const key of keys) if (crypto.subtle.timingSafeEqual(candidate, key)) found = true;
  return found;
}

// The resolved digests, not a promise: a promise shared across requests would be resolved in
// another request's context, which Workers warn about.
const keyDigestsByConfig = new WeakMap<Config, ArrayBuffer[]>();

async function keyDigests(config: Config): Promise<ArrayBuffer[]> {
  const cached = keyDigestsByConfig.get(config);
  if (cached !== undefined) return cached;
  const keys = [config.apiKey, config.registrationToken].filter((key): key is string => key !== undefined);
  const digests = await Promise.all(keys.map(digest));
  keyDigestsByConfig.set(config, digests);
  return digests;
}

/** The request's dashboard session when it is genuine, current and not signed out; otherwise null. */
export async function currentSession(request: Request, config: Config, env: Env): Promise<Session | null> {
  const cookie = sessionFrom(request);
  if (cookie === null) return null;
  const session = await verifySession(config, cookie, Date.now());
  if (session === null) return null;
  return (await registryStub(env).isSessionRevoked(session.id)) ? null : session;
}

/** Who did it, for the audit log: a short fingerprint of the token (or session), never the token. */
export async function tokenFingerprint(request: Request): Promise<string> {
  const token = bearerToken(request);
  if (token === null) return sessionFrom(request) === null ? "anonymous" : "dashboard-session";
  const hex = [...new Uint8Array(await digest(token))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `key:${hex.slice(0, 12)}`;
}
