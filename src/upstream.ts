/**
 * Sending one request to one instance, by service binding or URL, with a
 * deadline for the response headers. Shared by the proxy and the health
 * prober so both obey the same SSRF rule (re-checked on every call) and
 * neither follows redirects.
 */
import { bindingByName, isFetcher } from "./bindings";
import { type Config, upstreamUrlPolicy } from "./config";
import { checkUpstreamUrl } from "./core/url-guard";
import type { Target } from "./registry-contract";

export type UpstreamResult =
  | { readonly kind: "response"; readonly response: Response }
  | { readonly kind: "timeout" }
  | { readonly kind: "connect"; readonly error: string }
  | { readonly kind: "refused"; readonly error: unknown };

/**
 * Resolves to the upstream's response once its headers arrive, or to why
 * there is none. The deadline covers the wait for headers only: a long
 * streamed body that has started is not cut off. `classifyError` lets the
 * caller claim errors of its own (e.g. a request body over the limit).
 */
export async function callUpstream(
  env: Env,
  config: Config,
  target: Target,
  pathAndQuery: string,
  init: RequestInit,
  timeoutMs: number,
  claimError: (error: unknown) => boolean = () => false,
): Promise<UpstreamResult> {
  const deadline = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    deadline.abort(new Error("upstream timeout"));
  }, timeoutMs);
  try {
    const response = await send(env, config, target, pathAndQuery, { ...init, redirect: "manual", signal: deadline.signal });
    return { kind: "response", response };
  } catch (error) {
    if (claimError(error)) return { kind: "refused", error };
    if (timedOut) return { kind: "timeout" };
    return { kind: "connect", error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function send(env: Env, config: Config, target: Target, pathAndQuery: string, init: RequestInit): Promise<Response> {
  if (target.kind === "binding") {
    const binding = bindingByName(env, target.binding);
    if (!isFetcher(binding)) throw new Error(`binding ${target.binding} is not available`);
    return binding.fetch(new Request(new URL(pathAndQuery, "https://upstream.invalid"), init));
  }
  // Re-checked on every call: the registry entry is only as trustworthy as the token that wrote it.
  const check = checkUpstreamUrl(target.url, upstreamUrlPolicy(config));
  if (!check.ok) throw new Error(`upstream url refused: ${check.message}`);
  return fetch(joinUrl(check.url, pathAndQuery), init);
}

/** Appends the request's remaining path to the instance's base URL, keeping any base path. */
export function joinUrl(base: URL, pathAndQuery: string): string {
  const basePath = base.pathname.endsWith("/") ? base.pathname.slice(0, -1) : base.pathname;
  return `${base.origin}${basePath}${pathAndQuery}`;
}
