/**
 * Sending one request to one instance, by service binding or URL, with a
 * deadline for the response headers. Shared by the proxy and the health
 * prober so both obey the same SSRF rule (re-checked on every call) and
 * neither follows redirects.
 */
import { connect } from "cloudflare:sockets";
import { bindingByName, isFetcher } from "../platform/bindings";
import { type Config, upstreamUrlPolicy } from "../config";
import { PerOwnerCache } from "../core/per-owner-cache";
import { type Endpoint, type NoAnswerClass, type UpstreamError, classifyThrown, clueOf, endpointOf, needsReachability, upstreamError } from "../core/upstream-errors";
import { checkUpstreamUrl } from "../core/url-guard";
import type { Target } from "../contracts/registry";

export type UpstreamResult =
  | { readonly kind: "response"; readonly response: Response }
  | { readonly kind: "timeout" }
  /**
   * No answer, for a reason other than our deadline: `errorClass` is why
   * (core/upstream-errors.ts: dns, refused, reset, tls, other, or timeout when
   * the runtime itself gave up) and `error` says it in one line, prefixed with
   * the class ("dns: lookup failed for api.internal"). Never a stack.
   */
  | { readonly kind: "connect"; readonly error: string; readonly errorClass: NoAnswerClass }
  /** The caller's own signal stopped the call (e.g. its request body went over the limit); `reason` is that signal's. Not a connection refused: that is a "connect" with errorClass "refused". */
  | { readonly kind: "refused"; readonly reason: unknown };

/** The longest the reachability check behind an ambiguous failure may take: a refusal or a failed lookup answers in milliseconds. */
const REACHABILITY_TIMEOUT_MS = 1_000;

/**
 * Resolves to the upstream's response once its headers arrive, or to why
 * there is none. The deadline covers the wait for headers only: a long
 * streamed body that has started is not cut off. `init` is the caller's to
 * give: redirect and signal are set on it. A signal the caller put in `init`
 * still aborts the call, which then resolves as "refused" with that signal's
 * reason (the proxy's request-body guard uses it).
 *
 * A fetch that misses its deadline is aborted, not just abandoned: Workers
 * allow an invocation only a few simultaneous connections, so an abandoned
 * fetch to a hung instance would hold one of them (a health sweep's later
 * probes queued behind hung ones, in an earlier version that only raced a timer).
 */
export async function callUpstream(
  env: Env,
  config: Config,
  target: Target,
  pathAndQuery: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<UpstreamResult> {
  const callerSignal = init.signal ?? null;
  const deadline = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    deadline.abort(new Error("upstream timeout"));
  }, timeoutMs);
  let failure: unknown;
  try {
    init.redirect = "manual";
    init.signal = callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal;
    const response = await send(env, config, target, pathAndQuery, init);
    return { kind: "response", response };
  } catch (error) {
    if (callerSignal?.aborted) return { kind: "refused", reason: callerSignal.reason };
    if (timedOut) return { kind: "timeout" };
    failure = error;
  } finally {
    clearTimeout(timer);
  }
  const explained = await explainFailure(failure, target, Math.min(REACHABILITY_TIMEOUT_MS, timeoutMs));
  return { kind: "connect", error: explained.message, errorClass: explained.class };
}

/** A target this call will not try: a binding that is not there, or a URL the SSRF guard refuses now. */
class TargetUnavailable extends Error {}

/**
 * Why a call that threw got no answer (core/upstream-errors.ts). Where the
 * runtime's error leaves two classes open (workerd says "Network connection
 * lost." for a refusal and a reset alike, and hides a failed DNS lookup and a
 * failed TLS handshake behind "internal error"), one plain TCP connection to the
 * same host and port tells them apart. It is made only after a failure, so it
 * costs nothing while an upstream answers, and the connection the failed call
 * held is already gone (the six-connection limit is not strained).
 */
async function explainFailure(error: unknown, target: Target, budgetMs: number): Promise<UpstreamError<NoAnswerClass>> {
  if (error instanceof TargetUnavailable) return upstreamError("other", error.message);
  const endpoint = target.kind === "url" ? endpointOf(new URL(target.url)) : null;
  const clue = clueOf(error);
  const reachable = endpoint !== null && needsReachability(clue, endpoint) ? await tcpReachable(endpoint, budgetMs) : null;
  return classifyThrown(clue, endpoint, reachable, target.kind === "binding" ? `binding ${target.binding}` : target.url);
}

/** Whether a plain TCP connection to the endpoint opens within `budgetMs`; null when that cannot be told (no socket API, no answer in time). */
async function tcpReachable(endpoint: Endpoint, budgetMs: number): Promise<boolean | null> {
  const hostname = endpoint.host.startsWith("[") ? endpoint.host.slice(1, -1) : endpoint.host;
  let socket: Socket;
  try {
    socket = connect({ hostname, port: endpoint.port });
  } catch {
    return null;
  }
  // A failed open also rejects `closed`; nobody else waits on it.
  socket.closed.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      socket.opened.then(
        () => true,
        () => false,
      ),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), budgetMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    socket.close().catch(() => undefined);
  }
}

/** Not async: it hands back fetch's own promise (an extra async layer would cost microtask turns per request). Throws synchronously when the target is refused. */
function send(env: Env, config: Config, target: Target, pathAndQuery: string, init: RequestInit): Promise<Response> {
  if (target.kind === "binding") {
    const binding = bindingByName(env, target.binding);
    if (!isFetcher(binding)) throw new TargetUnavailable(`binding ${target.binding} is not available`);
    return binding.fetch(new Request(new URL(pathAndQuery, "https://upstream.invalid"), init));
  }
  // Checked on every call: the registry entry is only as trustworthy as the token that wrote it.
  const base = upstreamBase(config, target.url);
  if (!base.ok) throw new TargetUnavailable(`upstream url refused: ${base.message}`);
  return fetch(base.prefix + pathAndQuery, init);
}

type UpstreamBase = { readonly ok: true; readonly prefix: string } | { readonly ok: false; readonly message: string };

/**
 * The SSRF verdict and the URL prefix for one instance URL. The check is a
 * pure function of the URL and the configuration, so its answer is kept per
 * configuration (bounded) instead of re-parsing the URL on every request.
 */
const MAX_CACHED_VERDICTS = 10_000;
const verdicts = new PerOwnerCache(verdictFor, MAX_CACHED_VERDICTS);

function upstreamBase(config: Config, url: string): UpstreamBase {
  return verdicts.get(config, url);
}

function verdictFor(config: Config, url: string): UpstreamBase {
  const check = checkUpstreamUrl(url, upstreamUrlPolicy(config));
  return check.ok ? { ok: true, prefix: basePrefix(check.url) } : { ok: false, message: check.message };
}

/** The instance's origin and base path, without a trailing slash: the request's path goes after it. */
function basePrefix(base: URL): string {
  return `${base.origin}${basePath(base)}`;
}

function basePath(base: URL): string {
  return base.pathname.endsWith("/") ? base.pathname.slice(0, -1) : base.pathname;
}

/**
 * The path and query `callUpstream` puts on the wire for `pathAndQuery`: after
 * the base path of a URL target (https://host/base gets /base/…), as it is for
 * a binding. What a signed lifecycle hook call signs, so the receiver can
 * check it against the path it sees.
 */
export function pathOnTheWire(target: Target, pathAndQuery: string): string {
  if (target.kind === "binding") return pathAndQuery;
  return basePath(new URL(target.url)) + pathAndQuery;
}
