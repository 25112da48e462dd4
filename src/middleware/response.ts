/**
 * The last step for every response: the request id, rate-limit headers, CORS,
 * security headers on the orchestrator's own responses (proxied ones keep what
 * the upstream chose), and one structured access-log line. Secrets (the
 * Authorization header, tokens) are never logged.
 */
import type { RequestMeta } from "../routes/context";
import { applyCors } from "./cors";
import { problemTypeOf } from "../problem";
import { applyRateLimitHeaders } from "./rate-limit";

const HTML_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export async function finishResponse(request: Request, response: Response, meta: RequestMeta): Promise<Response> {
  // Responses from fetch() have immutable headers; copy only when needed.
  const mutable = hasMutableHeaders(response) ? response : new Response(response.body, response);
  const headers = mutable.headers;
  headers.set("x-request-id", meta.requestId);
  const outcome = meta.rateLimit ? await meta.rateLimit : undefined;
  if (outcome) {
    applyRateLimitHeaders(mutable, outcome);
    meta.rateLimitOutcome = outcome;
  }
  applyCors(request, mutable, meta.config);
  const proxied = meta.service !== undefined && !headers.get("content-type")?.startsWith("application/problem+json");
  if (!proxied) {
    headers.set("x-content-type-options", "nosniff");
    headers.set("referrer-policy", "no-referrer");
    if (headers.get("content-type")?.startsWith("text/html")) headers.set("content-security-policy", HTML_CSP);
    if (!meta.config.isDevelopment) headers.set("strict-transport-security", "max-age=31536000; includeSubDomains");
  }
  return mutable;
}

function hasMutableHeaders(response: Response): boolean {
  try {
    response.headers.set("x-request-id", response.headers.get("x-request-id") ?? "");
    return true;
  } catch {
    return false;
  }
}

export function logAccess(request: Request, response: Response, meta: RequestMeta): void {
  const url = meta.url;
  const outcome = meta.rateLimitOutcome;
  const problemType = problemTypeOf(response);
  console.log(
    JSON.stringify({
      level: response.status >= 500 ? "error" : response.status >= 400 ? "warn" : "info",
      requestId: meta.requestId,
      method: request.method,
      path: url.pathname,
      status: response.status,
      durationMs: Date.now() - meta.receivedAt,
      ...(meta.service === undefined ? {} : { service: meta.service }),
      ...(meta.instance === undefined ? {} : { instance: meta.instance }),
      ...(outcome ? { rateLimit: { policy: outcome.policy.name, allowed: outcome.decision.allowed, remaining: outcome.decision.remaining, source: outcome.source } } : {}),
      ...(problemType ? { errorType: problemType } : {}),
      ...(meta.config.devMode ? { query: url.search, userAgent: request.headers.get("user-agent") } : {}),
    }),
  );
}
