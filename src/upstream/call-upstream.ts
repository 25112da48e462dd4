/**
 * Sending one request to one instance, by service binding or URL, with a
 * deadline for the response headers. Shared by the proxy and the health
 * prober so both obey the same SSRF rule (re-checked on every call) and
 * neither follows redirects.
 */
import { bindingByName, isFetcher } from "../platform/bindings";
import { type Config, upstreamUrlPolicy } from "../config";
import { PerOwnerCache } from "../core/per-owner-cache";
import { checkUpstreamUrl } from "../core/url-guard";
import type { Target } from "../contracts/registry";

export type UpstreamResult =
  | { readonly kind: "response"; readonly response: Response }
  | { readonly kind: "timeout" }
  | { readonly kind: "connect"; readonly error: string }
  /** The caller's own signal stopped the call (e.g. its request body went over the limit); `reason` is that signal's. */
  | { readonly kind: "refused"; readonly reason: unknown };

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
  try {
    init.redirect = "manual";
    init.signal = callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal;
    const response = await send(env, config, target, pathAndQuery, init);
    return { kind: "response", response };
  } catch (error) {
    if (callerSignal?.aborted) return { kind: "refused", reason: callerSignal.reason };
    if (timedOut) return { kind: "timeout" };
    return { kind: "connect", error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** Not async: it hands back fetch's own promise (an extra async layer would cost microtask turns per request). Throws synchronously when the target is refused. */
function send(env: Env, config: Config, target: Target, pathAndQuery: string, init: RequestInit): Promise<Response> {
  if (target.kind === "binding") {
    const binding = bindingByName(env, target.binding);
    if (!isFetcher(binding)) throw new Error(`binding ${target.binding} is not available`);
    return binding.fetch(new Request(new URL(pathAndQuery, "https://upstream.invalid"), init));
  }
  // Checked on every call: the registry entry is only as trustworthy as the token that wrote it.
  const base = upstreamBase(config, target.url);
  if (!base.ok) throw new Error(`upstream url refused: ${base.message}`);
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
