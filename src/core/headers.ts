/**
 * Header rules at the proxy boundary (RFC 9110 §7.6.1): hop-by-hop headers and
 * any header the Connection header names belong to one connection and are
 * dropped; forwarding headers are rebuilt from what the edge itself knows and
 * never copied from the client, so a client cannot spoof its address.
 */

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Client-supplied forwarding headers: the edge writes its own instead. */
const CLIENT_FORWARDING = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded", "host"]);

function connectionNamed(headers: Headers): Set<string> {
  const named = new Set<string>();
  for (const token of (headers.get("connection") ?? "").split(",")) {
    const name = token.trim().toLowerCase();
    if (name) named.add(name);
  }
  return named;
}

function withoutHopByHop(source: Headers, alsoDrop: ReadonlySet<string>): Headers {
  // Copy natively, then delete the few names that must go: far cheaper than
  // re-appending every header from script, and this runs twice per proxied request.
  const result = new Headers(source);
  for (const name of HOP_BY_HOP) result.delete(name);
  for (const name of alsoDrop) result.delete(name);
  for (const name of connectionNamed(source)) result.delete(name);
  return result;
}

export interface ForwardingFacts {
  /** CF-Connecting-IP, the only client address the edge trusts. */
  readonly clientIp: string | null;
  readonly protocol: string;
  readonly host: string;
  readonly requestId: string;
  /** Whether the client's Authorization header carried one of our own tokens and must not leave. */
  readonly dropAuthorization: boolean;
}

export function upstreamRequestHeaders(client: Headers, facts: ForwardingFacts): Headers {
  const headers = withoutHopByHop(client, CLIENT_FORWARDING);
  if (facts.dropAuthorization) headers.delete("authorization");
  if (facts.clientIp) headers.set("x-forwarded-for", facts.clientIp);
  headers.set("x-forwarded-proto", facts.protocol);
  headers.set("x-forwarded-host", facts.host);
  headers.set("x-request-id", facts.requestId);
  return headers;
}

export function clientResponseHeaders(upstream: Headers): Headers {
  return withoutHopByHop(upstream, new Set());
}
