/**
 * CORS. Allowed origins come from CORS_ORIGINS: exact origins (credentials
 * allowed) or "*" (any origin, never with credentials). Preflights are
 * answered here for every path, proxied ones included, so upstreams never see
 * them; a disallowed origin simply gets no Access-Control-Allow-Origin.
 */
import type { Config } from "../config";

const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS = ["authorization", "content-type", "x-request-id", "accept", "accept-language", "content-language", "if-match", "if-none-match", "cache-control"];
const EXPOSED_HEADERS = "x-request-id, ratelimit, ratelimit-policy, retry-after";
const PREFLIGHT_MAX_AGE_SECONDS = "600";

type OriginDecision = { allowed: false } | { allowed: true; value: string; credentials: boolean };

function decideOrigin(origin: string | null, config: Config): OriginDecision {
  if (origin === null) return { allowed: false };
  if (config.corsOrigins.includes(origin)) return { allowed: true, value: origin, credentials: true };
  if (config.corsOrigins.includes("*")) return { allowed: true, value: "*", credentials: false };
  return { allowed: false };
}

export function isPreflight(request: Request): boolean {
  return request.method === "OPTIONS" && request.headers.has("origin") && request.headers.has("access-control-request-method");
}

export function preflightResponse(request: Request, config: Config): Response {
  const headers = new Headers({ vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" });
  const decision = decideOrigin(request.headers.get("origin"), config);
  if (decision.allowed) {
    headers.set("access-control-allow-origin", decision.value);
    headers.set("access-control-allow-methods", ALLOWED_METHODS);
    const requested = (request.headers.get("access-control-request-headers") ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== "");
    const granted = requested.filter((h) => ALLOWED_HEADERS.includes(h));
    headers.set("access-control-allow-headers", (granted.length > 0 ? granted : ALLOWED_HEADERS).join(", "));
    headers.set("access-control-max-age", PREFLIGHT_MAX_AGE_SECONDS);
    if (decision.credentials) headers.set("access-control-allow-credentials", "true");
  }
  return new Response(null, { status: 204, headers });
}

/** Adds CORS headers to an actual (non-preflight) response. The response must be mutable. */
export function applyCors(request: Request, response: Response, config: Config): void {
  if (config.corsOrigins.length === 0) return;
  appendVary(response.headers, "Origin");
  const decision = decideOrigin(request.headers.get("origin"), config);
  if (!decision.allowed) {
    // Whatever an upstream said, only our policy decides who may read the response.
    response.headers.delete("access-control-allow-origin");
    response.headers.delete("access-control-allow-credentials");
    return;
  }
  response.headers.set("access-control-allow-origin", decision.value);
  response.headers.set("access-control-expose-headers", EXPOSED_HEADERS);
  if (decision.credentials) response.headers.set("access-control-allow-credentials", "true");
  else response.headers.delete("access-control-allow-credentials");
}

function appendVary(headers: Headers, name: string): void {
  const current = headers.get("vary");
  if (!current) headers.set("vary", name);
  else if (!current.toLowerCase().split(",").some((v) => v.trim() === name.toLowerCase() || v.trim() === "*")) headers.set("vary", `${current}, ${name}`);
}
