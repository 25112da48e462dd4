/**
 * The last step for every response: the request id, rate-limit headers, CORS,
 * security headers on the orchestrator's own responses (proxied ones keep what
 * the upstream chose), and one structured access-log line. Secrets (the
 * Authorization header, tokens) are never logged.
 */
import type { RequestMeta } from "../routes/context";
import { applyCors } from "./cors";
import { problemTypeOf } from "../http/problem";
import { applyRateLimitHeaders, type RateLimitOutcome } from "./rate-limit";

const HTML_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** For every response but a proxied one the proxy already finished (index.ts skips those). */
export async function finishResponse(request: Request, response: Response, meta: RequestMeta): Promise<Response> {
  // Responses from fetch() have immutable headers; copy only when needed.
  const mutable = hasMutableHeaders(response) ? response : new Response(response.body, response);
  const outcome = meta.rateLimit ? await meta.rateLimit : undefined;
  decorate(request, mutable, meta, outcome);
  const headers = mutable.headers;
  const proxied = meta.service !== undefined && !headers.get("content-type")?.startsWith("application/problem+json");
  if (!proxied) {
    headers.set("x-content-type-options", "nosniff");
    headers.set("referrer-policy", "no-referrer");
    if (headers.get("content-type")?.startsWith("text/html")) headers.set("content-security-policy", HTML_CSP);
    if (!meta.config.isDevelopment) headers.set("strict-transport-security", "max-age=31536000; includeSubDomains");
  }
  return mutable;
}

/**
 * What a proxied upstream response gets on its way out (its other headers are
 * the upstream's choice): the request id, the rate-limit fields and CORS.
 * The proxy calls this as it builds the response, so the response is touched
 * once, and finishResponse then leaves it alone.
 */
export function finishProxiedResponse(request: Request, response: Response, meta: RequestMeta, outcome: RateLimitOutcome | undefined): Response {
  decorate(request, response, meta, outcome);
  meta.finished = response;
  return response;
}

function decorate(request: Request, response: Response, meta: RequestMeta, outcome: RateLimitOutcome | undefined): void {
  response.headers.set("x-request-id", meta.requestId);
  if (outcome) {
    applyRateLimitHeaders(response, outcome);
    meta.rateLimitOutcome = outcome;
  }
  applyCors(request, response, meta.config);
}

function hasMutableHeaders(response: Response): boolean {
  try {
    response.headers.set("x-request-id", response.headers.get("x-request-id") ?? "");
    return true;
  } catch {
    return false;
  }
}

// Why a proxied request got no answer from its instance, for its access-log line (set by the proxy with its 502/504).
// Kept by request rather than by response: the response may be replaced on its way out (a copy with more headers).
const upstreamErrors = new WeakMap<RequestMeta, string>();

/** Notes the upstream failure the request is answered with (one line, class first: "dns: lookup failed for api.internal"), for its access-log line. */
export function noteUpstreamError(meta: RequestMeta, error: string): void {
  upstreamErrors.set(meta, error);
}

/**
 * One line per request. Its level is the response's: `error` for 5xx (the
 * orchestrator's own failures and an upstream's alike: a 502/504 line carries
 * `upstreamError`, the one line the Worker writes about that failure), `info`
 * for everything else, 4xx included: a client's mistake (a wrong key, an
 * unknown path, a rate limit) is routine traffic, not a warning, so a terminal
 * or log filter at warn shows failures only.
 */
export function logAccess(request: Request, response: Response, meta: RequestMeta): void {
  const mode = meta.config.accessLog;
  if (mode === "off") return;
  const status = response.status;
  if (mode === "errors" && status < 400) return;
  const outcome = meta.rateLimitOutcome;
  // One flat object of a fixed shape; JSON.stringify leaves out the fields that are undefined.
  const line: AccessLogLine = {
    level: status >= 500 ? "error" : "info",
    requestId: meta.requestId,
    traceId: meta.trace.traceId,
    spanId: meta.trace.spanId,
    method: request.method,
    path: meta.url.pathname,
    status,
    durationMs: Date.now() - meta.receivedAt,
    service: meta.service,
    instance: meta.instance,
    rateLimit: outcome ? { policy: outcome.policy.name, allowed: outcome.decision.allowed, remaining: outcome.decision.remaining, source: outcome.source } : undefined,
    errorType: problemTypeOf(response),
    upstreamError: upstreamErrors.get(meta),
    query: undefined,
    userAgent: undefined,
  };
  if (meta.config.devMode) {
    line.query = meta.url.search;
    line.userAgent = request.headers.get("user-agent");
  }
  console.log(JSON.stringify(line));
}

interface AccessLogLine {
  level: "error" | "info";
  requestId: string;
  /** W3C trace id (continued from the client's traceparent or started here) and the edge's span id: the parent-id the upstream saw. */
  traceId: string;
  spanId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  service: string | undefined;
  instance: string | undefined;
  rateLimit: { policy: string; allowed: boolean; remaining: number; source: RateLimitOutcome["source"] } | undefined;
  errorType: string | undefined;
  upstreamError: string | undefined;
  query: string | undefined;
  userAgent: string | null | undefined;
}
