/**
 * Header rules at the proxy boundary (RFC 9110 §7.6.1): hop-by-hop headers and
 * any header the Connection header names belong to one connection and are
 * dropped; forwarding headers are rebuilt from what the edge itself knows and
 * never copied from the client, so a client cannot spoof its address; the
 * trace context headers are the edge's own, continuing the client's trace.
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

/**
 * W3C trace context: the edge sends a traceparent of its own (the client's
 * trace continued with the edge's span, or a new trace), and the client's
 * tracestate only alongside a continued one (core/trace-context.ts).
 * Listed here so the header scan notes whether a request carries them.
 */
const TRACE_CONTEXT = ["traceparent", "tracestate"];

/** Every request header the proxy drops before forwarding, whether or not Connection names it (the trace context headers are written anew). */
export const DROPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set([...HOP_BY_HOP, ...CLIENT_FORWARDING, ...TRACE_CONTEXT]);

/** The header names a Connection header value lists (lower-case, without empties). */
function connectionNamed(connection: string | null): Set<string> {
  const named = new Set<string>();
  for (const token of (connection ?? "").split(",")) {
    const name = token.trim().toLowerCase();
    if (name) named.add(name);
  }
  return named;
}

export interface ForwardingFacts {
  /** CF-Connecting-IP, the only client address the edge trusts. */
  readonly clientIp: string | null;
  readonly protocol: string;
  readonly host: string;
  readonly requestId: string;
  /** The traceparent to send (core/trace-context.ts formatTraceparent). */
  readonly traceparent: string;
  /** The client's tracestate to pass on, or null to send none. */
  readonly tracestate: string | null;
  /** Whether the client's Authorization header carried one of our own tokens and must not leave. */
  readonly dropAuthorization: boolean;
  /**
   * The request's headers that are in DROPPED_REQUEST_HEADERS, as the hygiene
   * check found them on its one pass over the headers. Copying natively and
   * deleting only these is far cheaper than re-appending every header from
   * script or deleting every name that might be there.
   */
  readonly present: readonly string[];
}

export function upstreamRequestHeaders(client: Headers, facts: ForwardingFacts): Headers {
  const headers = new Headers(client);
  for (const name of facts.present) headers.delete(name);
  if (facts.present.includes("connection")) for (const name of connectionNamed(client.get("connection"))) headers.delete(name);
  if (facts.dropAuthorization) headers.delete("authorization");
  if (facts.clientIp) headers.set("x-forwarded-for", facts.clientIp);
  headers.set("x-forwarded-proto", facts.protocol);
  headers.set("x-forwarded-host", facts.host);
  headers.set("x-request-id", facts.requestId);
  headers.set("traceparent", facts.traceparent);
  if (facts.tracestate !== null) headers.set("tracestate", facts.tracestate);
  return headers;
}

/**
 * Connection-level headers the runtime itself removes from every response it
 * writes to a client (workerd's HTTP layer owns them; checked by the e2e
 * header tests), so the proxy does not spend a call on each.
 */
const MANAGED_BY_RUNTIME = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"]);

/**
 * Drops, in place, the hop-by-hop response headers the runtime does not
 * (Proxy-Authenticate, Proxy-Connection) and those the upstream's Connection
 * header names (RFC 9110 §7.6.1): they belong to the upstream's hop.
 */
export function dropHopByHop(headers: Headers): void {
  // Hop-by-hop by definition, and the runtime passes them through: a proxy's challenge is the upstream's business.
  headers.delete("proxy-authenticate");
  headers.delete("proxy-connection");
  const connection = headers.get("connection");
  // What nearly every upstream sends names no other header: nothing to parse.
  if (connection === null || connection === "keep-alive" || connection === "close") return;
  for (const name of connectionNamed(connection)) if (name !== "close" && !MANAGED_BY_RUNTIME.has(name)) headers.delete(name);
}
