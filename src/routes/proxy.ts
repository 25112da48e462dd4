/**
 * `/{workerName}/*`: proxies a request to one instance of the service.
 *
 * The instance comes from the isolate's edge router (src/edge): a pick from
 * the isolate's routing table, answered synchronously in steady state at any
 * load, and the rate-limit decision likewise comes from the isolate's token
 * pool; the request awaits a Durable Object only when the isolate has nothing
 * to decide from. The release comes once the response body has been
 * delivered (at once for small bodies of known length), cancelled by the
 * client, or failed, so in-flight counts cover the exchange and always come
 * back down. Bodies stream in both directions; nothing is buffered.
 *
 * An idempotent request without a body that fails to connect, times out, or
 * gets 502/503/504 is retried once on another instance, within the service's
 * retry budget (Envoy's retry policy with retry_on: connect-failure,
 * gateway-error and a retry budget).
 *
 * A WebSocket upgrade (a GET with `Upgrade: websocket`) takes the same path
 * (rate limit, pick, credential stripping, request id, retry of a failed
 * connect) and, once the upstream answers 101, becomes a relayed connection
 * (src/upstream/websocket-relay.ts) counted in flight on its instance until
 * it closes.
 */
import { isRetryable } from "../core/health";
import { dropHopByHop, upstreamRequestHeaders } from "../core/headers";
import { formatTraceparent } from "../core/trace-context";
import { type NoAnswerClass, timeoutError } from "../core/upstream-errors";
import { doCallCounts } from "../platform/do-calls";
import { carriesOrchestratorCredential } from "../middleware/auth";
import { finishProxiedResponse, noteUpstreamError } from "../middleware/response";
import { BodyTooLarge, BrokenBody, guardBodyStream } from "../middleware/hygiene";
import { type RateLimitOutcome, tooManyRequests } from "../middleware/rate-limit";
import { type Failure, problem, problemResponse, ProblemType } from "../http/problem";
import type { ReleaseOutcome, Target } from "../contracts/registry";
import type { EdgePick, LocalLease, PickOptions } from "../edge/edge-router";
import { edgeRouter, scheduleEdgeFlush } from "../edge/isolate-router";
import { callUpstream, type UpstreamResult } from "../upstream/call-upstream";
import { type RelayEnd, relayWebSocket } from "../upstream/websocket-relay";
import { recordOutcome, recordSocketClosed, recordSocketOpened } from "../edge/metrics-recorder";
import { mirror } from "./mirror";
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

/** One instance chosen for one attempt. `release` ends it exactly once, or `openSocket` turns it into a connection that `closeSocket` ends. */
interface Assignment {
  readonly instanceId: string;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly panic: boolean;
  release(outcome: AttemptOutcome, startedAt: number, bytes?: number): void;
  openSocket(startedAt: number): void;
  closeSocket(end: RelayEnd): void;
  inRotation(): boolean;
  /** A release copies this request to its canary (mirror.ts): the version, or null. */
  readonly mirrorTo: string | null;
}

/** How an attempt ended, as its instance is released with it; `cause` says why a connect failure got no answer (metrics count it by cause). */
type AttemptOutcome = Omit<ReleaseOutcome, "durationMs"> & { readonly cause?: NoAnswerClass | undefined };

type AssignResult = { readonly ok: true; readonly assignment: Assignment } | Failure;

export async function proxyToService(request: Request, service: string, rest: string, context: ProxyContext): Promise<Response> {
  const { env, ctx, meta } = context;
  const config = meta.config;
  doCallCounts.proxiedRequests++;
  const upgrade = isWebSocketUpgrade(request);
  // The rate-limit decision (started at the edge), the pick and the token check run side by side.
  // At load the first two are usually answered by the isolate itself, synchronously: then nothing is awaited here.
  // The request's headers and client IP, for a service with affinity.
  const keySource = { headers: request.headers, clientIp: meta.connectingIp };
  let assigned = assignInstance(service, { websocket: upgrade, request: keySource }, context);
  let limit = meta.rateLimit;
  // An Authorization header carrying one of our credentials, in any scheme or encoding, never goes upstream.
  let dropAuthorization: boolean | Promise<boolean> = meta.authorization !== null && carriesOrchestratorCredential(meta.authorization, config);
  if (assigned instanceof Promise || limit instanceof Promise || dropAuthorization instanceof Promise) {
    [assigned, limit, dropAuthorization] = await Promise.all([assigned, limit, dropAuthorization]);
  }
  if (limit && !limit.decision.allowed) {
    if (assigned.ok) assigned.assignment.release({ status: null, failure: "aborted" }, Date.now());
    return tooManyRequests(limit);
  }
  if (!assigned.ok) {
    const retryAfter = assigned.problem.retryAfterSeconds;
    return problemResponse(assigned.problem, typeof retryAfter === "number" ? { "retry-after": String(retryAfter) } : undefined);
  }

  const incoming = meta.url;
  const { body, overLimit } = requestBody(request, config.maxRequestBodyBytes);
  const headers = upstreamRequestHeaders(request.headers, {
    clientIp: meta.connectingIp,
    protocol: incoming.protocol === "https:" ? "https" : "http",
    host: incoming.host,
    requestId: meta.requestId,
    traceparent: formatTraceparent(meta.trace),
    tracestate: meta.trace.tracestate,
    dropAuthorization,
    present: meta.headersToDrop,
  });
  if (upgrade) asUpgradeHeaders(headers);
  const pathAndQuery = rest + incoming.search;
  const mirrorTo = assigned.assignment.mirrorTo;
  if (mirrorTo !== null && body === null && !upgrade && (request.method === "GET" || request.method === "HEAD")) {
    mirror(env, ctx, config, { service, version: mirrorTo, method: request.method, pathAndQuery, headers });
  }
  let tried: string[] | null = null;
  let assignment = assigned.assignment;
  // Time spent waiting for instances' response headers, over every attempt (Server-Timing).
  let upstreamMs = 0;
  for (let attempt = 0; ; attempt++) {
    meta.instance = assignment.instanceId;
    const startedAt = Date.now();
    const result = await callUpstream(env, config, assignment.target, pathAndQuery, { method: request.method, headers, body, signal: overLimit }, assignment.timeoutMs);
    const answeredAt = Date.now();
    upstreamMs += answeredAt - startedAt;
    const failure = retryableFailure(result);
    if (failure !== null && attempt < MAX_RETRIES && isRetryable(request.method, body !== null, failure.kind, failure.status)) {
      (tried ??= []).push(assignment.instanceId);
      const next = await assignInstance(service, { exclude: tried, retry: true, websocket: upgrade, request: keySource }, context);
      if (next.ok) {
        releaseFailed(result, assignment, startedAt);
        assignment = next.assignment;
        continue;
      }
    }
    const answer = upgrade && result.kind === "response" ? upgraded(request, result.response, assignment, startedAt, service, context, limit) : respond(request, result, assignment, startedAt, service, meta, ctx, limit);
    return withServerTiming(answer, answeredAt - meta.receivedAt - upstreamMs, upstreamMs);
  }
}

/**
 * Server-Timing (W3C) on what the proxy answers once it has tried an
 * instance: `edge` is the orchestrator's own time (receipt to response
 * headers, less the upstream's), `upstream` the wait for instances' response
 * headers over every attempt, in whole ms. Appended, so an upstream's own
 * metrics stay first. The runtime's clock moves only across I/O, so `edge` is
 * time spent waiting (a rate-limit or registry answer, a retry's pick), not CPU.
 */
function withServerTiming(response: Response, edgeMs: number, upstreamMs: number): Response {
  response.headers.append("server-timing", `edge;dur=${edgeMs > 0 ? edgeMs : 0}, upstream;dur=${upstreamMs}`);
  return response;
}


/** A pick from the isolate's routing table (src/edge), synchronous unless the isolate must wait for the registry. */
function assignInstance(service: string, options: PickOptions, context: ProxyContext): AssignResult | Promise<AssignResult> {
  const picked = edgeRouter(context.env).pick(service, options, (work) => context.ctx.waitUntil(work));
  if (picked instanceof Promise) return picked.then((settled) => fromPick(service, settled, context));
  return fromPick(service, picked, context);
}

function fromPick(service: string, picked: EdgePick, context: ProxyContext): AssignResult {
  if ("ok" in picked) return picked;
  scheduleEdgeFlush(context.env, context.ctx, edgeRouter(context.env).urgentReportDelay());
  return { ok: true, assignment: new LocalAssignment(service, picked, context) };
}

/**
 * One attempt's instance, released exactly once: the outcome goes to metrics,
 * then back to the isolate's counts, which the registry hears of in its next report.
 */
class LocalAssignment implements Assignment {
  private released = false;
  readonly instanceId: string;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly panic: boolean;
  readonly mirrorTo: string | null;

  constructor(
    private readonly service: string,
    private readonly lease: LocalLease,
    private readonly context: ProxyContext,
  ) {
    this.instanceId = lease.instanceId;
    this.target = lease.target;
    this.timeoutMs = lease.timeoutMs;
    this.panic = lease.panic;
    this.mirrorTo = lease.mirrorTo;
  }

  release(outcome: AttemptOutcome, startedAt: number, bytes = 0): void {
    if (this.released) return;
    this.released = true;
    const { env, ctx, meta } = this.context;
    const settled: ReleaseOutcome = { status: outcome.status, failure: outcome.failure, durationMs: Date.now() - startedAt };
    recordOutcome(env, ctx, meta.config.metricsFlushIntervalMs, { service: this.service, instance: this.instanceId, outcome: settled, bytes, cause: outcome.cause });
    scheduleEdgeFlush(env, ctx, edgeRouter(env).release(this.lease, settled));
  }

  private openedAt = 0;

  /** The upgrade succeeded: the handshake is recorded as a request (101), and the connection stays counted until closeSocket. */
  openSocket(startedAt: number): void {
    if (this.released) return;
    this.released = true;
    const { env, ctx, meta } = this.context;
    this.openedAt = Date.now();
    const handshake: ReleaseOutcome = { status: 101, failure: null, durationMs: this.openedAt - startedAt };
    const flushMs = meta.config.metricsFlushIntervalMs;
    recordOutcome(env, ctx, flushMs, { service: this.service, instance: this.instanceId, outcome: handshake, bytes: 0 });
    recordSocketOpened(env, ctx, flushMs, { service: this.service, instance: this.instanceId });
    scheduleEdgeFlush(env, ctx, edgeRouter(env).openSocket(this.lease, handshake));
  }

  closeSocket(end: RelayEnd): void {
    const { env, ctx, meta } = this.context;
    const durationMs = Date.now() - this.openedAt;
    recordSocketClosed(env, ctx, meta.config.metricsFlushIntervalMs, { service: this.service, instance: this.instanceId, durationMs, closeCode: end.code });
    scheduleEdgeFlush(env, ctx, edgeRouter(env).closeSocket(this.lease));
  }

  inRotation(): boolean {
    return edgeRouter(this.context.env).inRotation(this.instanceId);
  }
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
    assignment.release({ status: null, failure: result.kind === "timeout" ? "timeout" : "connect", cause: result.kind === "connect" ? result.errorClass : undefined }, startedAt);
  }
}

function respond(
  request: Request,
  result: UpstreamResult,
  lease: Assignment,
  startedAt: number,
  service: string,
  meta: RequestMeta,
  ctx: ExecutionContext,
  limit: RateLimitOutcome | undefined,
): Response {
  switch (result.kind) {
    case "timeout":
      lease.release({ status: null, failure: "timeout" }, startedAt);
      noteUpstreamError(meta, timeoutError(lease.timeoutMs).message);
      return problem(504, ProblemType.upstreamTimeout, "Upstream timeout", `${service} did not answer within ${lease.timeoutMs} ms.`, {
        service,
        instance: lease.instanceId,
        cause: "timeout",
        timeoutMs: lease.timeoutMs,
      });
    case "connect":
      // The client learns the class; the host and the runtime's words stay in the access log.
      lease.release({ status: null, failure: "connect", cause: result.errorClass }, startedAt);
      noteUpstreamError(meta, result.error);
      return problem(502, ProblemType.upstreamUnreachable, "Bad gateway", `${service} could not be reached (${result.errorClass}).`, { service, instance: lease.instanceId, cause: result.errorClass });
    case "refused": {
      lease.release({ status: null, failure: "aborted" }, startedAt);
      if (result.reason instanceof BrokenBody) {
        return problem(400, ProblemType.badBody, "Bad request body", "The request body could not be read to its end (malformed chunked framing, or the connection was lost); nothing complete was forwarded.", { field: "(body)" });
      }
      const maxBytes = result.reason instanceof BodyTooLarge ? result.reason.maxBytes : meta.config.maxRequestBodyBytes;
      return problem(413, ProblemType.payloadTooLarge, "Payload too large", `Request bodies may be at most ${maxBytes} bytes.`, { field: "(body)", maxBytes });
    }
    case "response":
      return finishProxiedResponse(request, streamBack(result.response, lease, startedAt, meta, ctx), meta, limit);
  }
}

function streamBack(upstream: Response, lease: Assignment, startedAt: number, meta: RequestMeta, ctx: ExecutionContext): Response {
  const status = upstream.status;
  const body = upstream.body;
  if (!body) {
    lease.release({ status, failure: null }, startedAt);
    return withClientHeaders(new Response(null, upstream), lease);
  }
  // Bytes are what the upstream declared; chunked bodies count as 0 rather than paying to count them.
  const declared = upstream.headers.get("content-length");
  const bytes = Number(declared ?? "0") || 0;
  if (declared !== null && bytes <= SMALL_BODY_BYTES) {
    // A small body of known length is delivered in the time it takes to write it: the request is
    // done as far as the instance is concerned, so release now and pass the body straight through.
    lease.release({ status, failure: null }, startedAt, bytes);
    return withClientHeaders(new Response(body, upstream), lease);
  }
  // Otherwise count the request as in flight until its body is delivered (or the client goes away).
  const { readable, writable } = new IdentityTransformStream();
  ctx.waitUntil(
    body.pipeTo(writable).then(
      () => lease.release({ status, failure: null }, startedAt, bytes),
      () => lease.release({ status, failure: "aborted" }, startedAt),
    ),
  );
  return withClientHeaders(new Response(readable, upstream), lease);
}

/**
 * The upstream's headers as the client gets them. `new Response(body, upstream)`
 * copies status and headers natively into a mutable set; hop-by-hop ones are
 * then dropped in place.
 */
function withClientHeaders(response: Response, lease: Assignment): Response {
  dropHopByHop(response.headers);
  if (lease.panic) response.headers.set("x-orchestrator-panic", "1");
  return response;
}

/**
 * The upstream's answer to an upgrade. 101 with a socket: relay it and hand
 * the client its end. An error status is the application's answer (401, 404,
 * 503…) and goes back as any response would; any other answer means the
 * instance does not speak WebSocket there: 502 upstream-refused-upgrade.
 */
function upgraded(request: Request, upstream: Response, lease: Assignment, startedAt: number, service: string, context: ProxyContext, limit: RateLimitOutcome | undefined): Response {
  const { env, ctx, meta } = context;
  const socket = upstream.status === 101 ? upstream.webSocket : null;
  if (socket === null) {
    if (upstream.status >= 400) return respond(request, { kind: "response", response: upstream }, lease, startedAt, service, meta, ctx, limit);
    void upstream.body?.cancel();
    lease.release({ status: upstream.status, failure: null }, startedAt);
    return problem(502, ProblemType.upstreamRefusedUpgrade, "Upgrade refused", `${service} answered the WebSocket upgrade with ${upstream.status} instead of 101.`, {
      service,
      instance: lease.instanceId,
      upstreamStatus: upstream.status,
    });
  }
  const pair = new WebSocketPair();
  const [clientEnd, ourEnd] = [pair[0], pair[1]];
  lease.openSocket(startedAt);
  const router = edgeRouter(env);
  relayWebSocket({
    client: ourEnd,
    upstream: socket,
    tickMs: meta.config.edge.softTtlMs,
    idleTimeoutMs: meta.config.websocketIdleTimeoutMs,
    drainTimeoutMs: meta.config.drainTimeoutMs,
    now: Date.now,
    inRotation: () => lease.inRotation(),
    onTick: () => router.maintain((work) => ctx.waitUntil(work)),
    onEnd: (end) => lease.closeSocket(end),
  });
  const headers = new Headers();
  const protocol = upstream.headers.get("sec-websocket-protocol");
  if (protocol !== null) headers.set("sec-websocket-protocol", protocol);
  for (const cookie of upstream.headers.getSetCookie()) headers.append("set-cookie", cookie);
  const response = new Response(null, { status: 101, webSocket: clientEnd, headers });
  if (lease.panic) response.headers.set("x-orchestrator-panic", "1");
  return finishProxiedResponse(request, response, meta, limit);
}

/** A GET asking for `Upgrade: websocket` (the token may sit in a list; case does not matter). Other upgrades are plain requests: Upgrade is hop-by-hop and dropped. */
function isWebSocketUpgrade(request: Request): boolean {
  if (request.method !== "GET") return false;
  const upgrade = request.headers.get("upgrade");
  return upgrade !== null && upgrade.split(",").some((token) => token.trim().toLowerCase() === "websocket");
}

/**
 * The upgrade as the upstream gets it: the runtime makes its own handshake on
 * that leg (key, version, and compression negotiated per leg), so only the
 * client's subprotocol offer goes through with the request's other headers.
 */
function asUpgradeHeaders(headers: Headers): void {
  for (const name of ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"]) headers.delete(name);
  headers.set("upgrade", "websocket");
}

interface OutgoingBody {
  readonly body: ReadableStream<Uint8Array> | null;
  /** Aborts the upstream call when a body without a declared length passes the cap or breaks off. */
  readonly overLimit: AbortSignal | null;
}

const NO_BODY: OutgoingBody = { body: null, overLimit: null };

/** Streams the body through; one without a declared length is capped as it flows. */
function requestBody(request: Request, maxBytes: number): OutgoingBody {
  if (request.method === "GET" || request.method === "HEAD" || request.body === null) return NO_BODY;
  if (request.headers.has("content-length")) return { body: request.body, overLimit: null };
  const overLimit = new AbortController();
  return { body: guardBodyStream(request.body, maxBytes, (reason) => overLimit.abort(reason)), overLimit: overLimit.signal };
}
