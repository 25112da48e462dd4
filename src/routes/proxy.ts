/**
 * `/{workerName}/*`: proxies a request to one instance of the service.
 *
 * One RegistryDO call (acquire) sits on the critical path; the release runs in
 * `ctx.waitUntil` once the response body has been fully delivered, cancelled
 * by the client, or failed, so in-flight counts cover the whole exchange and
 * always come back down. Bodies stream in both directions; nothing is buffered.
 */
import { type Config, upstreamUrlPolicy } from "../config";
import { checkUpstreamUrl } from "../core/url-guard";
import { clientResponseHeaders, upstreamRequestHeaders } from "../core/headers";
import { carriesOrchestratorToken } from "../middleware/auth";
import { problem, problemResponse, ProblemType } from "../problem";
import type { Lease, ReleaseOutcome } from "../registry-contract";
import { registryStub } from "../registry-client";
import { BodyTooLarge, limitBodyStream } from "../middleware/hygiene";
import { tooManyRequests } from "../middleware/rate-limit";
import type { RequestMeta } from "./context";
import { countDoCall, doCallCounts } from "../do-calls";
import { bindingByName, isFetcher } from "../bindings";

export interface ProxyContext {
  readonly env: Env;
  readonly ctx: ExecutionContext;
  readonly meta: RequestMeta;
}

export async function proxyToService(request: Request, service: string, rest: string, context: ProxyContext): Promise<Response> {
  const { env, ctx, meta } = context;
  const config = meta.config;
  const registry = registryStub(env);
  doCallCounts.proxiedRequests++;
  countDoCall("registry");
  // The rate-limit decision (started at the edge), the pick and the token check run side by side.
  const [acquired, dropAuthorization, limit] = await Promise.all([
    registry.acquire(service),
    carriesOrchestratorToken(request, config),
    meta.rateLimit,
  ]);
  if (limit && !limit.decision.allowed) {
    if (acquired.ok) {
      countDoCall("registry");
      ctx.waitUntil(registry.release(acquired.leaseId, { status: null, durationMs: 0, failure: "aborted" }));
    }
    return tooManyRequests(limit);
  }
  if (!acquired.ok) {
    const retryAfter = acquired.problem.retryAfterSeconds;
    return problemResponse(acquired.problem, typeof retryAfter === "number" ? { "retry-after": String(retryAfter) } : undefined);
  }
  const lease: Lease = acquired;
  meta.instance = lease.instanceId;
  const startedAt = Date.now();
  let released = false;
  const release = (outcome: Omit<ReleaseOutcome, "durationMs">) => {
    if (released) return;
    released = true;
    countDoCall("registry");
    ctx.waitUntil(
      registry.release(lease.leaseId, { ...outcome, durationMs: Date.now() - startedAt }).catch((error: unknown) => {
        // The lease expires on its own (LEASE_TTL_SECONDS), so a lost release only delays the count.
        console.error(JSON.stringify({ level: "error", message: "release failed", leaseId: lease.leaseId, error: String(error) }));
      }),
    );
  };

  const incoming = new URL(request.url);
  let upstream: Response;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new UpstreamTimeout()), lease.timeoutMs);
  try {
    const init: RequestInit = {
      method: request.method,
      headers: upstreamRequestHeaders(request.headers, {
        clientIp: request.headers.get("cf-connecting-ip"),
        protocol: incoming.protocol.replace(":", ""),
        host: incoming.host,
        requestId: meta.requestId,
        dropAuthorization,
      }),
      body: requestBody(request, config.maxRequestBodyBytes),
      redirect: "manual",
      signal: abort.signal,
    };
    upstream = await sendToTarget(lease, rest + incoming.search, init, env, config);
  } catch (error) {
    clearTimeout(timer);
    if (error instanceof UpstreamTimeout || abort.signal.reason instanceof UpstreamTimeout) {
      release({ status: null, failure: "timeout" });
      return problem(504, ProblemType.upstreamTimeout, "Upstream timeout", `${service} did not answer within ${lease.timeoutMs} ms.`, {
        service,
        instance: lease.instanceId,
        timeoutMs: lease.timeoutMs,
      });
    }
    if (error instanceof BodyTooLarge) {
      release({ status: null, failure: "aborted" });
      return problem(413, ProblemType.payloadTooLarge, "Payload too large", `Request bodies may be at most ${error.maxBytes} bytes.`, {
        field: "(body)",
        maxBytes: error.maxBytes,
      });
    }
    if (request.signal?.aborted) {
      release({ status: null, failure: "aborted" });
      return new Response(null, { status: 499 });
    }
    release({ status: null, failure: "connect" });
    return problem(502, ProblemType.upstreamUnreachable, "Bad gateway", `${service} could not be reached.`, {
      service,
      instance: lease.instanceId,
    });
  }
  clearTimeout(timer);

  const headers = clientResponseHeaders(upstream.headers);
  headers.set("x-request-id", meta.requestId);
  if (lease.panic) headers.set("x-orchestrator-panic", "1");
  if (!upstream.body) {
    release({ status: upstream.status, failure: null });
    return new Response(null, { status: upstream.status, statusText: upstream.statusText, headers });
  }
  // Count the request as in flight until its body is delivered (or the client goes away).
  const { readable, writable } = new IdentityTransformStream();
  ctx.waitUntil(
    upstream.body.pipeTo(writable).then(
      () => release({ status: upstream.status, failure: null }),
      () => release({ status: upstream.status, failure: "aborted" }),
    ),
  );
  return new Response(readable, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** Streams the body through; one without a declared length is capped as it flows. */
function requestBody(request: Request, maxBytes: number): ReadableStream<Uint8Array> | null {
  if (request.method === "GET" || request.method === "HEAD" || request.body === null) return null;
  return request.headers.has("content-length") ? request.body : limitBodyStream(request.body, maxBytes);
}

class UpstreamTimeout extends Error {
  constructor() {
    super("upstream timeout");
    this.name = "UpstreamTimeout";
  }
}

async function sendToTarget(lease: Lease, pathAndQuery: string, init: RequestInit, env: Env, config: Config): Promise<Response> {
  if (lease.target.kind === "binding") {
    const binding = bindingByName(env, lease.target.binding);
    if (!isFetcher(binding)) throw new Error(`binding ${lease.target.binding} is not available`);
    return binding.fetch(new Request(new URL(pathAndQuery, "https://upstream.invalid"), init));
  }
  // Re-checked on every call: the registry entry is only as trustworthy as the token that wrote it.
  const check = checkUpstreamUrl(lease.target.url, upstreamUrlPolicy(config));
  if (!check.ok) throw new Error(`upstream url refused: ${check.message}`);
  return fetch(joinUrl(check.url, pathAndQuery), init);
}

/** Appends the request's remaining path to the instance's base URL, keeping any base path. */
export function joinUrl(base: URL, pathAndQuery: string): string {
  const basePath = base.pathname.endsWith("/") ? base.pathname.slice(0, -1) : base.pathname;
  return `${base.origin}${basePath}${pathAndQuery}`;
}
