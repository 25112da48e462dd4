/**
 * Why an upstream call (a proxied request, a health probe, a lifecycle hook
 * call) got no usable answer, in a small fixed set of classes that lastError,
 * the metrics' gateway breakdown, alerts and the access log all speak:
 *
 *   dns      the host name did not resolve
 *   refused  nothing accepted the connection (refused, or the host unreachable)
 *   reset    a connection was made, then closed or reset before a complete response
 *   tls      the TLS handshake failed (protocol or certificate)
 *   timeout  no response headers within the timeout
 *   http     an answer, with a failing status (a probe: anything but 2xx)
 *   other    anything else: a binding that is not there, a URL the SSRF guard
 *            refused at call time, an error the runtime does not explain
 *
 * A message is `<class>: <what happened>` ("dns: lookup failed for
 * api.internal"): the class is a stable prefix, and errorClassOf reads it back.
 * Messages never carry a stack: one line, at most MAX_DETAIL characters of
 * whatever the runtime said.
 *
 * The runtime says little. workerd (wrangler dev and plain workerd; measured
 * with wrangler 4.164, compatibility date 2026-11-17) throws a bare Error with
 * no `cause` and no `code`:
 *   "Network connection lost."          a refused connection, a reset, a close
 *                                       before the response, a response that is
 *                                       not HTTP: all the same
 *   "internal error; reference = <id>"  a failed DNS lookup or TLS handshake; the
 *                                       cause ("failed to lookup address
 *                                       information: Name or service not known",
 *                                       "TLS handshake failed: invalid peer
 *                                       certificate…") is only in workerd's own log
 * Node's fetch (undici) says "fetch failed" with the cause in `cause.code`
 * (ENOTFOUND, ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, ERR_SSL_…, DEPTH_ZERO_…).
 * So a thrown error is classified in two steps: clueOf reads what the error
 * says; where that leaves two classes open, classifyThrown also takes whether a
 * plain TCP connection to the same host and port opens (the caller tries one,
 * src/upstream/call-upstream.ts): a lost connection to a port that accepts is a
 * reset, to one that does not a refusal; an opaque failure on https to a host
 * that accepts TCP is TLS, and otherwise DNS. Plain http cannot fail TLS, so
 * there an opaque failure to a host name is DNS without asking.
 *
 * Pure: no I/O, no clock.
 */

export const UPSTREAM_ERROR_CLASSES = ["dns", "refused", "reset", "tls", "timeout", "http", "other"] as const;
export type UpstreamErrorClass = (typeof UPSTREAM_ERROR_CLASSES)[number];

/** The classes of a call that got no response at all: all but http. */
export type NoAnswerClass = Exclude<UpstreamErrorClass, "http">;

export interface UpstreamError<C extends UpstreamErrorClass = UpstreamErrorClass> {
  readonly class: C;
  /** `<class>: <what happened>`, one line. */
  readonly message: string;
}

/** Where a URL target's call went, for the messages and the reachability check. Null for a service binding. */
export interface Endpoint {
  /** Host name or IP address as the URL has it, brackets included for IPv6. */
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
}

/** What a thrown error says by itself. */
export type Clue =
  /** A class the error names (Node's codes, a message that says it). `detail` is the runtime's own words, when they add something. */
  | { readonly kind: "known"; readonly class: NoAnswerClass; readonly detail: string | null }
  /** workerd's "Network connection lost.": refused or reset. */
  | { readonly kind: "lost" }
  /** workerd's "internal error; reference = …": DNS or TLS, the cause only in workerd's log. */
  | { readonly kind: "opaque"; readonly reference: string | null }
  | { readonly kind: "unknown"; readonly detail: string };

/** The longest piece of a runtime message kept in a message. */
export const MAX_DETAIL = 200;

const CODE_CLASSES: Readonly<Record<string, NoAnswerClass>> = {
  ENOTFOUND: "dns",
  EAI_AGAIN: "dns",
  EAI_NONAME: "dns",
  EAI_NODATA: "dns",
  EAI_FAIL: "dns",
  ECONNREFUSED: "refused",
  EHOSTUNREACH: "refused",
  ENETUNREACH: "refused",
  EHOSTDOWN: "refused",
  EADDRNOTAVAIL: "refused",
  ECONNRESET: "reset",
  ECONNABORTED: "reset",
  EPIPE: "reset",
  UND_ERR_SOCKET: "reset",
  UND_ERR_CLOSED: "reset",
  ETIMEDOUT: "timeout",
  UND_ERR_CONNECT_TIMEOUT: "timeout",
  UND_ERR_HEADERS_TIMEOUT: "timeout",
  EPROTO: "tls",
  DEPTH_ZERO_SELF_SIGNED_CERT: "tls",
  SELF_SIGNED_CERT_IN_CHAIN: "tls",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "tls",
  UNABLE_TO_GET_ISSUER_CERT: "tls",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "tls",
  CERT_HAS_EXPIRED: "tls",
  CERT_NOT_YET_VALID: "tls",
  CERT_UNTRUSTED: "tls",
  CERT_REVOKED: "tls",
};

/** Codes by prefix: OpenSSL's and Node's TLS errors are a family each. */
const CODE_PREFIXES: readonly (readonly [string, NoAnswerClass])[] = [
  ["ERR_SSL_", "tls"],
  ["ERR_TLS_", "tls"],
  ["CERT_", "tls"],
];

/** Messages that say their class, as the runtimes word them; the first match wins. */
const MESSAGE_CLASSES: readonly (readonly [RegExp, NoAnswerClass])[] = [
  [/getaddrinfo|lookup address information|name or service not known|dns lookup failed|could not resolve|no such host|nodename nor servname/i, "dns"],
  [/connection refused|econnrefused|host is unreachable|network is unreachable/i, "refused"],
  [/\btls\b|\bssl\b|certificate|handshake/i, "tls"],
  [/connection reset|reset by peer|econnreset|socket hang up|other side closed|broken pipe|does not match the http\/1\.1 protocol/i, "reset"],
  [/timed out|timeout/i, "timeout"],
];

const LOST = /^network connection lost\.?$/i;
const OPAQUE = /^internal error(?:; reference = (\S+))?/i;

/** One line of at most MAX_DETAIL characters: no stack, no runaway message. */
export function oneLine(text: string): string {
  const line = (text.split(/\r?\n/, 1)[0] ?? "").trim();
  return line.length <= MAX_DETAIL ? line : `${line.slice(0, MAX_DETAIL - 1)}…`;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  return String(error);
}

function codeOf(error: unknown): string | null {
  if (typeof error !== "object" || error === null || !("code" in error)) return null;
  const code = (error as { code: unknown }).code;
  return typeof code === "string" ? code : null;
}

function classOfCode(code: string): NoAnswerClass | null {
  const exact = CODE_CLASSES[code];
  if (exact !== undefined) return exact;
  for (const [prefix, cls] of CODE_PREFIXES) if (code.startsWith(prefix)) return cls;
  return null;
}

function classOfMessage(message: string): NoAnswerClass | null {
  for (const [pattern, cls] of MESSAGE_CLASSES) if (pattern.test(message)) return cls;
  return null;
}

/** The error and its causes, outermost first (at most four deep: causes can be cyclic). */
function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && out.length < 4 && !out.includes(current)) {
    out.push(current);
    current = current instanceof Error || (typeof current === "object" && "cause" in current) ? (current as { cause?: unknown }).cause : undefined;
  }
  return out;
}

/** What a thrown error says about why there was no answer. */
export function clueOf(error: unknown): Clue {
  const links = chain(error);
  // The innermost message is the one that says what happened ("fetch failed" says nothing).
  const innermost = oneLine(messageOf(links[links.length - 1] ?? error));
  for (const link of links) {
    const code = codeOf(link);
    const cls = code === null ? null : classOfCode(code);
    if (cls !== null) return { kind: "known", class: cls, detail: innermost };
  }
  const outer = oneLine(messageOf(error));
  if (LOST.test(outer)) return { kind: "lost" };
  const opaque = OPAQUE.exec(outer);
  if (opaque !== null) return { kind: "opaque", reference: opaque[1] ?? null };
  for (const link of [...links].reverse()) {
    const message = oneLine(messageOf(link));
    const cls = classOfMessage(message);
    if (cls !== null) return { kind: "known", class: cls, detail: message };
  }
  return { kind: "unknown", detail: innermost };
}

/** A bare host name (not an IP address literal): only those can fail DNS. */
function isHostName(host: string): boolean {
  return !host.startsWith("[") && !/^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

/** Whether classifyThrown could tell more with a TCP reachability check of the endpoint. */
export function needsReachability(clue: Clue, endpoint: Endpoint | null): boolean {
  if (endpoint === null) return false;
  if (clue.kind === "lost") return true;
  // On plain http an opaque failure is DNS for a host name and unexplained for an address; only https has two candidates.
  return clue.kind === "opaque" && endpoint.secure && isHostName(endpoint.host);
}

function where(endpoint: Endpoint): string {
  return `${endpoint.host}:${endpoint.port}`;
}

export function upstreamError<C extends UpstreamErrorClass>(cls: C, what: string): UpstreamError<C> {
  return { class: cls, message: `${cls}: ${oneLine(what)}` };
}

/** The usual sentence for a class, about an endpoint (or a binding, named by `target`). */
function sentence(cls: NoAnswerClass, endpoint: Endpoint | null, target: string): string {
  const at = endpoint === null ? target : where(endpoint);
  switch (cls) {
    case "dns":
      return `lookup failed for ${endpoint === null ? target : endpoint.host}`;
    case "refused":
      return `connection to ${at} refused`;
    case "reset":
      return `connection to ${at} closed before a complete response`;
    case "tls":
      return `TLS handshake with ${at} failed`;
    case "timeout":
      return `no answer from ${at} in time`;
    case "other":
      return `${at} gave no answer`;
  }
}

/**
 * The class and message of a thrown error. `reachable` is whether a plain TCP
 * connection to the endpoint opened (null: not tried, or no answer either way);
 * `target` names a binding in messages when there is no endpoint.
 */
export function classifyThrown(clue: Clue, endpoint: Endpoint | null, reachable: boolean | null, target = "the upstream"): UpstreamError<NoAnswerClass> {
  switch (clue.kind) {
    case "known": {
      const base = sentence(clue.class, endpoint, target);
      // The runtime's words add something (a certificate problem, an unknown code's text) unless they are the sentence already.
      return upstreamError(clue.class, clue.detail === null || clue.detail === "" ? base : `${base} (${clue.detail})`);
    }
    case "lost":
      if (reachable === false) return upstreamError("refused", sentence("refused", endpoint, target));
      if (reachable === true) return upstreamError("reset", sentence("reset", endpoint, target));
      return upstreamError("other", `connection to ${endpoint === null ? target : where(endpoint)} lost (refused or reset: the runtime does not say which)`);
    case "opaque": {
      const ref = clue.reference === null ? "" : `; runtime reference ${clue.reference}`;
      if (endpoint === null) return upstreamError("other", `${target} failed with an internal error${ref}`);
      if (!isHostName(endpoint.host)) {
        // No lookup for an address: on https it is the handshake, on http the runtime does not say.
        return endpoint.secure ? upstreamError("tls", sentence("tls", endpoint, target)) : upstreamError("other", `${where(endpoint)} failed with an internal error${ref}`);
      }
      if (!endpoint.secure || reachable === false) return upstreamError("dns", sentence("dns", endpoint, target));
      if (reachable === true) return upstreamError("tls", sentence("tls", endpoint, target));
      return upstreamError("other", `${where(endpoint)}: DNS lookup or TLS handshake failed (the runtime does not say which${ref})`);
    }
    case "unknown":
      return upstreamError("other", clue.detail === "" ? sentence("other", endpoint, target) : clue.detail);
  }
}

export function timeoutError(timeoutMs: number): UpstreamError<"timeout"> {
  return upstreamError("timeout", `no answer within ${timeoutMs} ms`);
}

export function httpStatusError(status: number): UpstreamError<"http"> {
  return upstreamError("http", `HTTP ${status}`);
}

/** The endpoint of an upstream URL: its host and port (the scheme's default when it names none). */
export function endpointOf(url: URL): Endpoint {
  const secure = url.protocol === "https:";
  return { host: url.hostname, port: url.port === "" ? (secure ? 443 : 80) : Number(url.port), secure };
}

const PREFIX = new RegExp(`^(${UPSTREAM_ERROR_CLASSES.join("|")}): `);

/**
 * The class of a lastError text: its prefix, or for texts written before
 * classes existed (persisted state) what they say: "HTTP 503", "no answer
 * within 5000 ms", a runtime message, each possibly after a vantage point
 * ("wnam: HTTP 503"). Null for null.
 */
export function errorClassOf(text: string | null | undefined): UpstreamErrorClass | null {
  if (text === null || text === undefined) return null;
  return prefixClassOf(text) ?? legacyClassOf(text) ?? withoutVantagePoint(text) ?? "other";
}

function prefixClassOf(text: string): UpstreamErrorClass | null {
  const prefixed = PREFIX.exec(text);
  return prefixed === null ? null : (prefixed[1] as UpstreamErrorClass);
}

function legacyClassOf(text: string): UpstreamErrorClass | null {
  if (/^HTTP \d{3}$/.test(text)) return "http";
  if (/^no answer within /.test(text)) return "timeout";
  const clue = clueOf(new Error(text));
  return clue.kind === "known" ? clue.class : null;
}

/** Older multi-vantage texts put the vantage point first ("wnam: HTTP 503"). */
function withoutVantagePoint(text: string): UpstreamErrorClass | null {
  const match = /^[a-z]{2,8}: (.*)$/s.exec(text);
  if (match === null) return null;
  const rest = match[1] ?? "";
  return prefixClassOf(rest) ?? legacyClassOf(rest);
}

/**
 * A lastError as it is published: texts written before classes existed
 * (persisted state: "HTTP 503", "wnam: no answer within 5000 ms") get their
 * class in front, so every published lastError starts with one.
 */
export function withClassPrefix(text: string | null): string | null {
  if (text === null || prefixClassOf(text) !== null) return text;
  return `${errorClassOf(text) ?? "other"}: ${oneLine(text)}`;
}
