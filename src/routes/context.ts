/** What every route handler receives besides the request. */
import type { IRequest } from "itty-router";
import type { Config } from "../config";
import type { Principal, Role } from "../core/credentials";
import type { TraceContext } from "../core/trace-context";
import type { RateLimitOutcome } from "../middleware/rate-limit";

export interface RequestMeta {
  readonly config: Config;
  readonly requestId: string;
  /**
   * The request's W3C trace context: `trace.traceId` is the trace an operator
   * follows into upstream logs (the access log, problem bodies and every call
   * the edge makes for the request carry it); `trace.spanId` is the edge's
   * span, the parent-id upstreams see.
   */
  readonly trace: TraceContext;
  readonly receivedAt: number;
  /** The request's URL, parsed once. */
  readonly url: URL;
  /** CF-Connecting-IP, the only client address the edge trusts ("unknown" without one: the rate-limit key). */
  readonly clientIp: string;
  /** The request's CF-Connecting-IP and Authorization values as sent (null when absent), read once by the edge's header scan. */
  readonly connectingIp: string | null;
  readonly authorization: string | null;
  /** The rate-limit decision, started before routing so it runs alongside routing work (settled already when the isolate could answer it). */
  rateLimit?: RateLimitOutcome | Promise<RateLimitOutcome>;
  /** The settled decision, once the response is being finished. */
  rateLimitOutcome?: RateLimitOutcome;
  /** Who is acting, once an admin or registry endpoint has authenticated the request (audit log, access log). */
  principal?: Principal;
  /** For the access log: set by the proxy route. */
  service?: string;
  instance?: string;
  /**
   * Request headers the proxy must drop before forwarding (hop-by-hop and
   * client-supplied forwarding headers), noted by the hygiene check's pass over
   * the headers so the proxy does not look for each one again.
   */
  readonly headersToDrop: string[];
  /** A response the proxy already finished (request id, rate-limit and CORS headers): finishResponse leaves it as is. */
  finished?: Response;
}

/** The audit log's "who": the acting key's fingerprint and role (set once the request is authorized). */
export function auditActor(meta: RequestMeta): { actor: string; role: Role | null } {
  return { actor: meta.principal?.fingerprint ?? "anonymous", role: meta.principal?.role ?? null };
}

export type RouteArgs = [env: Env, ctx: ExecutionContext, meta: RequestMeta];
export type Handler = (request: IRequest, ...args: RouteArgs) => Promise<Response | undefined> | Response | undefined;

export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(body), { status, headers });
  response.headers.set("content-type", "application/json; charset=utf-8");
  return response;
}
