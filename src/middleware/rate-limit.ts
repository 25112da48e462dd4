/**
 * Per-client-IP rate limiting. The client is whoever CF-Connecting-IP says
 * (set by Cloudflare's edge, not by the client); X-Forwarded-For, X-Real-IP
 * and Forwarded are never consulted. Each client's RateLimiterDO is the
 * authority; the isolate decides locally from its token pool
 * (src/edge/token-pool.ts: credit, tokens, local refusal) and tells the
 * limiter in the background, so a request waits for the limiter only when
 * the isolate has nothing to decide from. A client known to be over its limit
 * is answered from a short cooldown, so a flood never becomes a Durable
 * Object flood.
 */
import { type Config, configFor, RATE_LIMIT_CLASSES, type RateLimitClass } from "../config";
import { PerOwnerCache } from "../core/per-owner-cache";
import { CooldownCache } from "../core/cooldown";
import { type KeepAlive, type PoolDecision, TokenPool } from "../edge/token-pool";
import type { RateLimitPolicy } from "../core/gcra";
import { rateLimitHeaders } from "../core/ratelimit-headers";
import { RESERVED_SEGMENTS } from "../core/services";
import type { RateDecision } from "../contracts/rate-limiter";
import { problem, ProblemType } from "../http/problem";
import { countDoCall } from "../platform/do-calls";
import { sessionFrom, verifySession } from "../http/session";

export type { RateDecision };

export interface RateLimitOutcome {
  readonly policy: RateLimitPolicy;
  readonly decision: RateDecision;
  /** How the decision was reached, for the access log. */
  readonly source: "limiter" | "edge-pool" | "edge-credit" | "cooldown" | "unavailable";
}

// One per isolate: bounded, so a spray of addresses cannot grow it without limit.
const cooldowns = new CooldownCache(10_000);

export function clientIp(request: Request): string {
  return clientIpFrom(request.headers.get("cf-connecting-ip"));
}

/** The same, from the CF-Connecting-IP value the edge's header scan already read. */
export function clientIpFrom(connectingIp: string | null): string {
  return connectingIp?.trim() || "unknown";
}

export function rateLimitClass(pathname: string): { cls: RateLimitClass; service: string | null } {
  const end = pathname.indexOf("/", 1);
  const first = pathname.slice(1, end === -1 ? undefined : end);
  if (first === "health") return { cls: "health", service: null };
  if (first === "metrics") return { cls: "metrics", service: null };
  // The dashboard's static files are public code, not admin actions: counting them as admin
  // would spend most of the 10/min admin budget on one page load.
  if (pathname.startsWith("/admin/dashboard/assets/")) return { cls: "general", service: null };
  if (first === "admin" || first === "debug") return { cls: "admin", service: null };
  if (first === "registry") return { cls: "registry", service: null };
  if (first === "" || RESERVED_SEGMENTS.has(first)) return { cls: "general", service: null };
  return { cls: "general", service: first };
}

/** What a dashboard loads on every visit: the page, its files, its state and its live socket (not sign-in, sign-out or the buttons). */
export function isDashboardLoad(pathname: string): boolean {
  return pathname === "/admin/dashboard" || pathname === "/admin/dashboard/state" || pathname === "/admin/dashboard/live" || pathname.startsWith("/admin/dashboard/assets/");
}

/**
 * The decision for a dashboard load. A signed-in page costs its page, a few
 * files, its state and its socket on every reload: against the per-IP admin
 * limit (10/min) that is two reloads. So a request with a genuine session
 * cookie is counted in the `dashboard` class, per session (its limiter is
 * named after the session id, not the address): operators behind one NAT do
 * not share it, and a new session costs a sign-in, which stays `admin` and
 * needs an admin key. The cookie's signature and expiry are checked before
 * the class is given, so a forged or stale cookie gets the address's own
 * `fallback` (revocation is checked later, by authorization: a signed-out
 * cookie still answers 401, which spends the auth-failure budget).
 */
export function checkDashboardRateLimit(env: Env, request: Request, ip: string, fallback: RateLimitPolicy, config: Config, now: number, keepAlive?: KeepAlive): RateLimitOutcome | Promise<RateLimitOutcome> {
  const cookie = sessionFrom(request);
  if (cookie === null) return checkRateLimit(env, ip, fallback, now, 1, keepAlive);
  return verifySession(config, cookie, now).then(
    (session) =>
      session === null
        ? checkRateLimit(env, ip, fallback, now, 1, keepAlive)
        : checkRateLimit(env, dashboardSessionSubject(session.id), policyFor(config, "dashboard", null), now, 1, keepAlive),
    () => checkRateLimit(env, ip, fallback, now, 1, keepAlive),
  );
}

/** The limiter a session's dashboard loads are counted in; no client IP has this form. */
export function dashboardSessionSubject(sessionId: string): string {
  return `session:${sessionId}`;
}

/**
 * The policy a request falls under. Policies are a function of the
 * configuration, so each is made once per configuration (and kept while the
 * configuration lives): the same object for every request, which also lets
 * the RateLimit header fields be cached per policy.
 */
export function policyFor(config: Config, cls: RateLimitClass, service: string | null): RateLimitPolicy {
  return policies[cls].get(config, service);
}

// Bounded: service names come from request paths, and any valid name gets here.
const MAX_CACHED_POLICIES_PER_CLASS = 1_000;
const policies = Object.fromEntries(
  RATE_LIMIT_CLASSES.map((cls) => [cls, new PerOwnerCache((config: Config, service: string | null) => makePolicy(config, cls, service), MAX_CACHED_POLICIES_PER_CLASS)]),
) as Record<RateLimitClass, PerOwnerCache<Config, string | null, RateLimitPolicy>>;

function makePolicy(config: Config, cls: RateLimitClass, service: string | null): RateLimitPolicy {
  // Own properties only: a service named "constructor" must not find Object.prototype.constructor (security review finding 2).
  const perService = config.rateLimits.perService;
  const override = service !== null && Object.hasOwn(perService, service) ? perService[service] : undefined;
  const limit = override ?? config.rateLimits.perClass[cls];
  return { name: override === undefined ? cls : `${cls}-${service}`, limit, burst: limit, periodMs: config.rateLimits.periodMs };
}

function limiterFor(env: Env, ip: string) {
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(ip));
}

let pool: TokenPool | null = null;

/** This isolate's token pool, wired to the per-client RateLimiterDO. */
function tokenPool(env: Env): TokenPool {
  pool ??= new TokenPool({
    now: () => Date.now(),
    credit: configFor(env).rateLimits.edgeCredit,
    check: (ip, policy) => checkExactly(env, ip, policy, 1),
    reserve: (ip, policy, wanted, debt) => {
      countDoCall("rateLimiter");
      return limiterFor(env, ip).reserve(policy, wanted, debt);
    },
    refund: (ip, policy, tokens) => {
      countDoCall("rateLimiter");
      limiterFor(env, ip)
        .refund(policy, tokens)
        .catch((error: unknown) => console.error(JSON.stringify({ level: "error", message: "rate limit refund failed", error: String(error) })));
    },
  });
  return pool;
}

async function checkExactly(env: Env, ip: string, policy: RateLimitPolicy, cost: number): Promise<PoolDecision> {
  countDoCall("rateLimiter", 1, true);
  return { ...(await limiterFor(env, ip).check(policy, cost)), source: "limiter" as const };
}

/**
 * The decision for one request: synchronous when the isolate can answer it
 * (cooldown, or a token from the local pool), a promise when the limiter must.
 * `keepAlive` (ctx.waitUntil) lets the pool top itself up in the background.
 */
export function checkRateLimit(env: Env, ip: string, policy: RateLimitPolicy, now: number, cost = 1, keepAlive?: KeepAlive): RateLimitOutcome | Promise<RateLimitOutcome> {
  const key = `${ip}|${policy.name}`;
  const blockedUntil = cooldowns.blockedUntil(key, now);
  if (blockedUntil !== null) {
    const retryAfterMs = blockedUntil - now;
    return { policy, source: "cooldown", decision: { allowed: false, remaining: 0, retryAfterMs, resetMs: retryAfterMs } };
  }
  try {
    const taken = cost === 1 ? tokenPool(env).take(ip, policy, keepAlive) : checkExactly(env, ip, policy, cost);
    if (!(taken instanceof Promise)) return settle(key, policy, now, taken);
    return taken.then(
      (decision) => settle(key, policy, now, decision),
      (error: unknown) => unavailable(policy, error),
    );
  } catch (error) {
    return unavailable(policy, error);
  }
}

function settle(key: string, policy: RateLimitPolicy, now: number, taken: PoolDecision): RateLimitOutcome {
  if (!taken.allowed) cooldowns.block(key, now + taken.retryAfterMs);
  // Copied field by field: the decision travels without the pool's `source` tag (and a rest spread is slow on the hot path).
  const decision: RateDecision = { allowed: taken.allowed, remaining: taken.remaining, resetMs: taken.resetMs, retryAfterMs: taken.retryAfterMs };
  return { policy, decision, source: taken.source === "pool" ? "edge-pool" : taken.source === "credit" ? "edge-credit" : "limiter" };
}

/**
 * Fail open, as Envoy's global rate limit does by default: a limiter outage
 * must not take the whole gateway down. It is logged loudly.
 */
function unavailable(policy: RateLimitPolicy, error: unknown): RateLimitOutcome {
  console.error(JSON.stringify({ level: "error", message: "rate limiter unavailable", error: String(error) }));
  return { policy, source: "unavailable", decision: { allowed: true, remaining: policy.burst, resetMs: 0, retryAfterMs: 0 } };
}

/** `request`: when it is a browser's visit to the dashboard, the refusal is a page it can show (refusalPage). */
export function tooManyRequests(outcome: RateLimitOutcome, request?: Request): Response {
  const detail = `The ${outcome.policy.name} limit of ${outcome.policy.limit} requests per ${outcome.policy.periodMs / 1000} s is used up.`;
  if (request !== undefined && wantsPage(request)) return refusalPage("Too many requests", detail, outcome);
  return problem(429, ProblemType.rateLimited, "Too many requests", detail, { policy: outcome.policy.name });
}

/**
 * A browser opening the dashboard or sending its sign-in form: it shows
 * whatever comes back, and raw problem+json is no page. API clients (no
 * text/html in Accept) still get the problem.
 */
function wantsPage(request: Request): boolean {
  const pathname = new URL(request.url).pathname;
  const navigation = (request.method === "GET" || request.method === "HEAD") ? pathname === "/admin/dashboard" : request.method === "POST" && pathname === "/admin/login";
  return navigation && (request.headers.get("accept") ?? "").toLowerCase().includes("text/html");
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);

/**
 * The 429 as a small page: what happened, when to come back, and a refresh
 * to the dashboard once Retry-After has passed (to the dashboard, not the
 * current URL: after a sign-in POST that would be a GET of /admin/login).
 * No inline style or script, so the HTML CSP (middleware/response.ts) holds.
 */
function refusalPage(title: string, detail: string, outcome: RateLimitOutcome): Response {
  const seconds = Math.max(1, Math.ceil(outcome.decision.retryAfterMs / 1000));
  const html = [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="refresh" content="${seconds}; url=/admin/dashboard">`,
    `<title>${escapeHtml(title)} · Orchestrator</title></head>`,
    `<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p>`,
    `<p>This page opens the dashboard again in ${seconds} s. <a href="/admin/dashboard">Try now</a></p></main></body></html>`,
    "",
  ].join("\n");
  return new Response(html, { status: 429, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
}

export function applyRateLimitHeaders(response: Response, outcome: RateLimitOutcome): void {
  const headers = response.headers;
  const fields = rateLimitHeaders(outcome.policy, outcome.decision);
  headers.set("ratelimit-policy", fields["ratelimit-policy"]);
  headers.set("ratelimit", fields.ratelimit);
  if (fields["retry-after"] !== undefined) headers.set("retry-after", fields["retry-after"]);
}

// ------------------------------------------------------------------ failed authentication

/**
 * Guessing credentials is limited per client IP across every class
 * (security review finding 6), apart from the admin request budget: each
 * 401 (and each failed dashboard sign-in) spends one of AUTH_FAILURE_LIMIT
 * per RATE_LIMIT_PERIOD_SECONDS, and once they are spent every request from
 * that address that presents a credential is refused with 429 before the
 * credential is even checked, a right one included, so guessing cannot go on
 * at any speed. The limiter is asked (peek) before the check and charged
 * after a failure; requests already in flight when the budget runs out can
 * still each fail once, so the bound is the limit plus the client's
 * concurrency.
 */
const AUTH_FAILURES = "auth-failures";
const authFailurePolicies = new WeakMap<Config, RateLimitPolicy>();

export function authFailurePolicy(config: Config): RateLimitPolicy {
  let policy = authFailurePolicies.get(config);
  if (policy === undefined) {
    const limit = config.credentials.authFailureLimit;
    policy = { name: AUTH_FAILURES, limit, burst: limit, periodMs: config.rateLimits.periodMs };
    authFailurePolicies.set(config, policy);
  }
  return policy;
}

/** Null when the client may present a credential now; otherwise the refusal (429) to answer with. */
export async function authFailureGate(env: Env, ip: string, config: Config, now: number): Promise<RateLimitOutcome | null> {
  const policy = authFailurePolicy(config);
  const key = `${ip}|${AUTH_FAILURES}`;
  const blockedUntil = cooldowns.blockedUntil(key, now);
  if (blockedUntil !== null) return refusedFor(policy, blockedUntil - now, "cooldown");
  try {
    countDoCall("rateLimiter", 1, true);
    const decision = await limiterFor(env, ip).peek(policy);
    if (decision.allowed) return null;
    cooldowns.block(key, now + decision.retryAfterMs);
    return refusedFor(policy, decision.retryAfterMs, "limiter");
  } catch (error) {
    // Fail open like the request limits: an outage of the limiter must not lock every operator out.
    unavailable(policy, error);
    return null;
  }
}

/** Spends one failure; once none are left the isolate remembers the refusal until the limiter's retry-after. */
export async function chargeAuthFailure(env: Env, ip: string, config: Config, now: number): Promise<void> {
  const policy = authFailurePolicy(config);
  try {
    countDoCall("rateLimiter", 1, true);
    const decision = await limiterFor(env, ip).check(policy, 1);
    // With none left, the next failure fits after one emission interval (GCRA): until then, refuse here.
    const waitMs = decision.allowed ? (decision.remaining === 0 ? Math.ceil(policy.periodMs / policy.limit) : 0) : decision.retryAfterMs;
    if (waitMs > 0) cooldowns.block(`${ip}|${AUTH_FAILURES}`, now + waitMs);
  } catch (error) {
    unavailable(policy, error);
  }
}

function refusedFor(policy: RateLimitPolicy, retryAfterMs: number, source: RateLimitOutcome["source"]): RateLimitOutcome {
  return { policy, source, decision: { allowed: false, remaining: 0, retryAfterMs, resetMs: retryAfterMs } };
}

/** The 429 for a client over its failed-authentication budget (a page for a browser's visit to the dashboard, as tooManyRequests). */
export function tooManyFailures(outcome: RateLimitOutcome, request?: Request): Response {
  const detail = `More than ${outcome.policy.limit} failed authentications from this address in ${outcome.policy.periodMs / 1000} s; credentials from it are refused until the time in Retry-After has passed.`;
  if (request !== undefined && wantsPage(request)) return refusalPage("Too many failed sign-ins", detail, outcome);
  return problem(429, ProblemType.rateLimited, "Too many failed authentications", detail, { policy: outcome.policy.name });
}

