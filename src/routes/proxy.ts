/**
 * `/{workerName}/*`: proxies a request to one instance of the service.
 *
 * One RegistryDO call (acquire) sits on the critical path, side by side with
 * the rate-limit decision; the release runs in `ctx.waitUntil` once the
 * response body has been fully delivered, cancelled by the client, or failed,
 * so in-flight counts cover the whole exchange and always come back down.
 * Bodies stream in both directions; nothing is buffered.
 *
 * An idempotent request without a body that fails to connect, times out, or
 * gets 502/503/504 is retried once on another instance, within the service's
 * retry budget (Envoy's retry policy with retry_on: connect-failure,
 * gateway-error and a retry budget).
 */
import { isRetryable } from "../core/health";
import { clientResponseHeaders, upstreamRequestHeaders } from "../core/headers";
import { countDoCall, doCallCounts } from "../do-calls";
import { carriesOrchestratorToken } from "../middleware/auth";
import { BodyTooLarge, limitBodyStream } from "../middleware/hygiene";
import { tooManyRequests } from "../middleware/rate-limit";
import { type Failure, problem, problemResponse, ProblemType } from "../problem";
import { registryStub } from "../registry-client";
import type { ReleaseOutcome, Target } from "../registry-contract";
import { edgeRouter, scheduleEdgeFlush } from "../edge/isolate-router";
import { callUpstream, type UpstreamResult } from "../upstream";
import { recordOutcome } from "../metrics-recorder";
import type { RequestMeta } from "./context";

export interface ProxyContext {
  readonly env: Env;
  readonly ctx: ExecutionContext;
  readonly meta: RequestMeta;
}

const MAX_RETRIES = 1;
/** Bodies up to this size (with a Content-Length) are passed through without tracking their delivery. */
const SMALL_BODY_BYTES = 64 * 1024;
const RETRYABLE_STATUSES = new Set([502, 503, 504]);

/**
 * One instance chosen for one attempt, by either path: the registry's exact
 * acquire, or the isolate's snapshot (src/edge). `release` ends it exactly once.
 */
interface Assignment {
  readonly instanceId: string;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly panic: boolean;
  release(outcome: Omit<ReleaseOutcome, "durationMs">, startedAt: number, bytes?: number): void;
}

type AssignResult = { readonly ok: true; readonly assignment: Assignment } | Failure;

export async function proxyToService(request: Request, service: string, rest: string, context: ProxyContext): Promise<Response> {
  const { env, ctx, meta } = context;
  const config = meta.config;
  doCallCounts.proxiedRequests++;
  const assign = (options: { exclude?: readonly string[]; retry?: boolean }) => assignInstance(service, options, context);
  // The rate-limit decision (started at the edge), the pick and the token check run side by side.
  const [assigned, dropAuthorization, limit] = await Promise.all([assign({}), carriesOrchestratorToken(request, config), meta.rateLimit]);
  if (limit && !limit.decision.allowed) {
    if (assigned.ok) assigned.assignment.release({ status: null, failure: "aborted" }, Date.now());
    return tooManyRequests(limit);
  }
  if (!assigned.ok) {
    const retryAfter = assigned.problem.retryAfterSeconds;
    return problemResponse(assigned.problem, typeof retryAfter === "number" ? { "retry-after": String(retryAfter) } : undefined);
  }

  const incoming = meta.url;
  const body = requestBody(request, config.maxRequestBodyBytes);
  const headers = upstreamRequestHeaders(request.headers, {
    clientIp: request.headers.get("cf-connecting-ip"),
    protocol: incoming.protocol.replace(":", ""),
    host: incoming.host,
    requestId: meta.requestId,
    dropAuthorization,
  });
  const tried: string[] = [];
  let assignment = assigned.assignment;
  for (let attempt = 0; ; attempt++) {
    tried.push(assignment.instanceId);
    meta.instance = assignment.instanceId;
    const startedAt = Date.now();
    const result = await callUpstream(
      env,
      config,
      assignment.target,
      rest + incoming.search,
      { method: request.method, headers, body },
      assignment.timeoutMs,
      (error) => error instanceof BodyTooLarge,
    );
    const failure = retryableFailure(result);
    if (failure !== null && attempt < MAX_RETRIES && isRetryable(request.method, body !== null, failure.kind, failure.status)) {
      const next = await assign({ exclude: tried, retry: true });
      if (next.ok) {
        releaseFailed(result, assignment, startedAt);
        assignment = next.assignment;
        continue;
      }
    }
    return respond(result, assignment, startedAt, service, meta, ctx);
  }
}

/** Exact path at low load (one acquire, one release on RegistryDO); the isolate's snapshot at load. */
async function assignInstance(service: string, options: { exclude?: readonly string[]; retry?: boolean }, { env, ctx, meta }: ProxyContext): Promise<AssignResult> {
  const record = (instanceId: string, outcome: ReleaseOutcome, bytes: number) =>
    recordOutcome(env, ctx, meta.config.metricsFlushIntervalMs, { service, instance: instanceId, outcome, bytes });
  const router = edgeRouter(env);
  const picked = await router.pick(service, options);
  if (!("mode" in picked)) return picked;
  if (picked.mode === "local") {
    let released = false;
    return {
      ok: true,
      assignment: {
        ...picked,
        release(outcome, startedAt, bytes = 0) {
          if (released) return;
          released = true;
          const settled: ReleaseOutcome = { ...outcome, durationMs: Date.now() - startedAt };
          record(picked.instanceId, settled, bytes);
          router.release(picked, settled);
          scheduleEdgeFlush(env, ctx);
        },
      },
    };
  }
  const registry = registryStub(env);
  countDoCall("registry");
  const lease = await registry.acquire(service, options);
  if (!lease.ok) return lease;
  let released = false;
  return {
    ok: true,
    assignment: {
      instanceId: lease.instanceId,
      target: lease.target,
      timeoutMs: lease.timeoutMs,
      panic: lease.panic,
      release(outcome, startedAt, bytes = 0) {
        if (released) return;
        released = true;
        const settled: ReleaseOutcome = { ...outcome, durationMs: Date.now() - startedAt };
        record(lease.instanceId, settled, bytes);
        countDoCall("registry");
        ctx.waitUntil(
          registry.release(lease.leaseId, settled).catch((error: unknown) => {
            // The lease expires on its own (LEASE_TTL_SECONDS), so a lost release only delays the count.
            console.error(JSON.stringify({ level: "error", message: "release failed", leaseId: lease.leaseId, error: String(error) }));
          }),
        );
      },
    },
  };
}

function retryableFailure(result: UpstreamResult): { kind: "connect" | "timeout" | "status"; status?: number } | null {
  if (result.kind === "timeout") return { kind: "timeout" };
  if (result.kind === "connect") return { kind: "connect" };
  if (result.kind === "response" && RETRYABLE_STATUSES.has(result.response.status)) return { kind: "status", status: result.response.status };
  return null;
}

/** Ends a failed attempt that is about to be retried elsewhere. */
function releaseFailed(result: UpstreamResult, assignment: Assignment, startedAt: number): void {
  if (result.kind === "response") {
    void result.response.body?.cancel();
    assignment.release({ status: result.response.status, failure: null }, startedAt);
  } else {
    assignment.release({ status: null, failure: result.kind === "timeout" ? "timeout" : "connect" }, startedAt);
  }
}

function respond(result: UpstreamResult, lease: Assignment, startedAt: number, service: string, meta: RequestMeta, ctx: ExecutionContext): Response {
  switch (result.kind) {
    case "timeout":
      lease.release({ status: null, failure: "timeout" }, startedAt);
      return problem(504, ProblemType.upstreamTimeout, "Upstream timeout", `${service} did not answer within ${lease.timeoutMs} ms.`, {
        service,
        instance: lease.instanceId,
        timeoutMs: lease.timeoutMs,
      });
    case "connect":
      lease.release({ status: null, failure: "connect" }, startedAt);
      return problem(502, ProblemType.upstreamUnreachable, "Bad gateway", `${service} could not be reached.`, { service, instance: lease.instanceId });
    case "refused": {
      lease.release({ status: null, failure: "aborted" }, startedAt);
      const maxBytes = result.error instanceof BodyTooLarge ? result.error.maxBytes : meta.config.maxRequestBodyBytes;
      return problem(413, ProblemType.payloadTooLarge, "Payload too large", `Request bodies may be at most ${maxBytes} bytes.`, { field: "(body)", maxBytes });
    }
    case "response":
      return streamBack(result.response, lease, startedAt, meta, ctx);
  }
}

function streamBack(upstream: Response, lease: Assignment, startedAt: number, meta: RequestMeta, ctx: ExecutionContext): Response {
  const headers = clientResponseHeaders(upstream.headers);
  headers.set("x-request-id", meta.requestId);
  if (lease.panic) headers.set("x-orchestrator-panic", "1");
  if (!upstream.body) {
    lease.release({ status: upstream.status, failure: null }, startedAt);
    return new Response(null, { status: upstream.status, statusText: upstream.statusText, headers });
  }
  // Bytes are what the upstream declared; chunked bodies count as 0 rather than paying to count them.
  const declared = upstream.headers.get("content-length");
  const bytes = Number(declared ?? "0") || 0;
  if (declared !== null && bytes <= SMALL_BODY_BYTES) {
    // A small body of known length is delivered in the time it takes to write it: the request is
    // done as far as the instance is concerned, so release now and pass the body straight through.
    lease.release({ status: upstream.status, failure: null }, startedAt, bytes);
    return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers });
  }
  // Otherwise count the request as in flight until its body is delivered (or the client goes away).
  const { readable, writable } = new IdentityTransformStream();
  ctx.waitUntil(
    upstream.body.pipeTo(writable).then(
      () => lease.release({ status: upstream.status, failure: null }, startedAt, bytes),
      () => lease.release({ status: upstream.status, failure: "aborted" }, startedAt),
    ),
  );
  return new Response(readable, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** Streams the body through; one without a declared length is capped as it flows. */
function requestBody(request: Request, maxBytes: number): ReadableStream<Uint8Array> | null {
  if (request.method === "GET" || request.method === "HEAD" || request.body === null) return null;
  return request.headers.has("content-length") ? request.body : limitBodyStream(request.body, maxBytes);
}
