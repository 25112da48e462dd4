/**
 * Worker entry: the edge of the orchestrator.
 *
 * request id and trace context → hygiene (400/413/431) → CORS preflight → rate limit (started
 * here, awaited alongside the registry pick for proxied traffic) → router →
 * finishing touches on every response (request id, rate-limit, CORS and
 * security headers, the trace id in problems) → one access-log line.
 */
import { configFor, ConfigError } from "./config";
import { isPreflight, preflightResponse } from "./middleware/cors";
import { hygieneProblem, scanRequestHeaders } from "./middleware/hygiene";
import { authFailureGate, chargeAuthFailure, checkDashboardRateLimit, checkRateLimit, clientIpFrom, isDashboardLoad, policyFor, rateLimitClass, tooManyFailures, tooManyRequests } from "./middleware/rate-limit";
import { requestIdFrom, traceFor } from "./middleware/request-id";
import { finishResponse, logAccess } from "./middleware/response";
import { problem, ProblemType, withTraceId } from "./http/problem";
import type { RequestMeta } from "./routes/context";
import { router } from "./http/router";
import { proxyToService } from "./routes/proxy";
import { isReservedUnderService, splitServicePath } from "./core/paths";
import { isValidServiceName } from "./core/services";
import { sessionFrom } from "./http/session";

export { RegistryDO } from "../durable-objects/registry/registry-do";
export { RateLimiterDO } from "../durable-objects/rate-limiter/rate-limiter-do";
export { MetricsDO } from "../durable-objects/metrics/metrics-do";
export { ProberDO } from "../durable-objects/prober/prober-do";

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const receivedAt = Date.now();
    // One pass over the headers: the values read below and by the proxy, and any problem with them.
    const scan = scanRequestHeaders(request);
    const requestId = requestIdFrom(scan.requestId);
    const trace = traceFor(request.headers, scan.toDrop);
    const url = new URL(request.url);
    let meta: RequestMeta;
    try {
      meta = {
        config: configFor(env),
        requestId,
        trace,
        receivedAt,
        clientIp: clientIpFrom(scan.connectingIp),
        connectingIp: scan.connectingIp,
        authorization: scan.authorization,
        url,
        headersToDrop: scan.toDrop,
      };
    } catch (error) {
      const variable = error instanceof ConfigError ? error.variable : "env";
      console.error(JSON.stringify({ level: "error", requestId, traceId: trace.traceId, message: "invalid configuration", error: String(error) }));
      return problem(503, ProblemType.notConfigured, "Misconfigured", `The orchestrator's setting ${variable} is invalid.`, { field: variable, traceId: trace.traceId });
    }
    const traffic = rateLimitClass(url.pathname);
    let response: Response;
    try {
      response = hygieneProblem(scan, url, meta.config) ?? (isPreflight(request) ? preflightResponse(request, meta.config) : await route(request, url, traffic, env, ctx, meta));
    } catch (error) {
      console.error(JSON.stringify({ level: "error", requestId, traceId: trace.traceId, message: "unhandled error", error: String(error) }));
      response = problem(500, ProblemType.internal, "Internal error", "The orchestrator hit an unexpected error; it has been logged.", { requestId });
    }
    // Problems get the trace id here, on the way out (http/problem.ts); proxied answers are the upstream's.
    const finished = meta.finished === response ? response : await finishResponse(request, withTraceId(response, trace.traceId), meta);
    // Awaited, so a client that guesses one credential after another is refused from its next request on.
    // An upstream's own 401 (proxied, meta.service set) is not ours to count.
    if (meta.service === undefined && isFailedAuthentication(finished)) await chargeAuthFailure(env, meta.clientIp, meta.config, Date.now());
    logAccess(request, finished, meta);
    return finished;
  },
} satisfies ExportedHandler<Env>;

/** Proxied traffic returns the proxy's promise as it is (no extra async layer on the hot path); the orchestrator's own routes go through ownRoute. */
function route(
  request: Request,
  url: URL,
  { cls, service }: ReturnType<typeof rateLimitClass>,
  env: Env,
  ctx: ExecutionContext,
  meta: RequestMeta,
): Response | Promise<Response> {
  const policy = policyFor(meta.config, cls, service);
  const keepAlive = (work: Promise<unknown>) => ctx.waitUntil(work);
  // A signed-in dashboard's loads are counted per session, once its cookie checks out (middleware/rate-limit.ts).
  meta.rateLimit =
    service === null && isDashboardLoad(url.pathname)
      ? checkDashboardRateLimit(env, request, meta.clientIp, policy, meta.config, meta.receivedAt, keepAlive)
      : checkRateLimit(env, meta.clientIp, policy, meta.receivedAt, 1, keepAlive);
  if (service === null) return ownRoute(request, env, ctx, meta);
  if (!isValidServiceName(service)) {
    // Not a name any service can have: answered without touching routing state.
    return problem(404, ProblemType.unknownService, "Unknown service", "No service has that name.", { field: "service" });
  }
  // Proxied traffic is the hot path: it goes straight to the proxy instead of
  // being matched against every one of the orchestrator's own routes first.
  // The proxy awaits the rate-limit decision together with the registry pick.
  meta.service = service;
  const { rest } = splitServicePath(url.pathname);
  if (isReservedUnderService(rest)) {
    return problem(404, ProblemType.notFound, "Not found", "That path is reserved for the orchestrator's own calls to instances.", { field: "path" });
  }
  return proxyToService(request, service, rest, { env, ctx, meta });
}

async function ownRoute(request: Request, env: Env, ctx: ExecutionContext, meta: RequestMeta): Promise<Response> {
  // The orchestrator's own endpoints may change state, so they wait for the decision, and a
  // credential is checked only while its sender has failed-authentication budget left.
  const gate = presentsCredential(request, meta.url.pathname) ? authFailureGate(env, meta.clientIp, meta.config, meta.receivedAt) : null;
  const [outcome, refused] = await Promise.all([meta.rateLimit, gate]);
  if (outcome && !outcome.decision.allowed) return tooManyRequests(outcome, request);
  if (refused) {
    meta.rateLimit = refused;
    return tooManyFailures(refused, request);
  }
  if (request.method === "HEAD") {
    // HEAD on our own routes is GET without the body (RFC 9110 §9.3.2); proxied HEADs go upstream as they are.
    // Rebuilt from the URL and headers only: a HEAD may carry a body, which a GET cannot.
    // A HEAD cannot open a WebSocket: without Upgrade, the live route answers its 426 instead of
    // accepting a socket the client would never get.
    const headers = new Headers(request.headers);
    headers.delete("upgrade");
    const asGet = new Request(request.url, { method: "GET", headers });
    const response = (await router.fetch(asGet, env, ctx, meta)) ?? problem(404, ProblemType.notFound, "Not found");
    return new Response(null, response);
  }
  return (await router.fetch(request, env, ctx, meta)) ?? problem(404, ProblemType.notFound, "Not found");
}

/**
 * Whether a request to the orchestrator's own endpoints brings a credential to
 * check: a bearer token or session cookie for /admin, /debug or /registry,
 * or a dashboard sign-in. The dashboard's public files do not count.
 */
function presentsCredential(request: Request, pathname: string): boolean {
  if (!(pathname.startsWith("/admin") || pathname.startsWith("/registry") || pathname.startsWith("/debug"))) return false;
  if (pathname.startsWith("/admin/dashboard/assets/")) return false;
  if (request.method === "POST" && pathname === "/admin/login") return true;
  return request.headers.has("authorization") || sessionFrom(request) !== null;
}

/** A 401, or a dashboard sign-in sent back to the form with the wrong key. */
function isFailedAuthentication(response: Response): boolean {
  return response.status === 401 || (response.status === 303 && response.headers.get("location")?.includes("login=failed") === true);
}

