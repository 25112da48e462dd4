/**
 * The last step for every response: the request id, security headers on the
 * orchestrator's own responses (proxied ones keep what the upstream chose),
 * and one structured access-log line. The Authorization header is never logged.
 */
import type { RequestMeta } from "../routes/context";

export function finishResponse(response: Response, meta: RequestMeta): Response {
  // Responses from fetch() have immutable headers; copy only when needed.
  const mutable = isMutable(response) ? response : new Response(response.body, response);
  mutable.headers.set("x-request-id", meta.requestId);
  if (meta.service === undefined || mutable.headers.get("content-type")?.startsWith("application/problem+json")) {
    mutable.headers.set("x-content-type-options", "nosniff");
    mutable.headers.set("referrer-policy", "no-referrer");
    if (!meta.config.isDevelopment) mutable.headers.set("strict-transport-security", "max-age=31536000; includeSubDomains");
  }
  return mutable;
}

function isMutable(response: Response): boolean {
  try {
    response.headers.set("x-request-id", response.headers.get("x-request-id") ?? "");
    return true;
  } catch {
    return false;
  }
}

export function logAccess(request: Request, response: Response, meta: RequestMeta): void {
  const url = new URL(request.url);
  console.log(
    JSON.stringify({
      level: response.status >= 500 ? "error" : "info",
      requestId: meta.requestId,
      method: request.method,
      path: url.pathname,
      status: response.status,
      durationMs: Date.now() - meta.receivedAt,
      ...(meta.service === undefined ? {} : { service: meta.service }),
    }),
  );
}
