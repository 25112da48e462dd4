/**
 * The upstream failure classifier (src/core/upstream-errors.ts) over the errors
 * the runtimes really throw. Each fixture is what was observed, not invented:
 *
 * - workerd (wrangler 4.164 dev, compatibility date 2026-11-17), fetch() from a
 *   Worker: a plain Error with own properties `remote` (and `retryable`), no
 *   `cause`, no `code`. The cause of an "internal error" was only in workerd's
 *   own log ("failed to lookup address information: Name or service not
 *   known", "TLS handshake failed: received corrupt message of type
 *   InvalidContentType", "…invalid peer certificate: …CaUsedAsEndEntity").
 * - Node 24's fetch (undici): TypeError "fetch failed" with the cause's code.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Clue,
  classifyThrown,
  clueOf,
  endpointOf,
  errorClassOf,
  httpStatusError,
  MAX_DETAIL,
  needsReachability,
  oneLine,
  timeoutError,
  UPSTREAM_ERROR_CLASSES,
  withClassPrefix,
} from "../../src/core/upstream-errors";

function workerdError(message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { remote: true, ...extra });
}

/** workerd: a refused port, a reset after the request, a close before the response, a response that is not HTTP. */
const networkLost = () => workerdError("Network connection lost.", { retryable: true });
/** workerd: a host under .invalid (DNS), https to a plain-http port, a self-signed certificate (TLS). */
const internalError = () => workerdError("internal error; reference = 0no7vpruf2lbt6fandjqr0nq");

function undiciError(cause: Error & { code?: string }): TypeError {
  return new TypeError("fetch failed", { cause });
}

function withCode(name: string, message: string, code?: string): Error & { code?: string } {
  const error = new Error(message) as Error & { code?: string };
  error.name = name;
  if (code !== undefined) error.code = code;
  return error;
}

const undici = {
  dns: undiciError(withCode("Error", "getaddrinfo ENOTFOUND nx-probe.invalid", "ENOTFOUND")),
  refused: undiciError(withCode("Error", "connect ECONNREFUSED 127.0.0.1:9399", "ECONNREFUSED")),
  reset: undiciError(withCode("Error", "read ECONNRESET", "ECONNRESET")),
  closed: undiciError(withCode("SocketError", "other side closed", "UND_ERR_SOCKET")),
  notHttp: undiciError(withCode("HTTPParserError", "Response does not match the HTTP/1.1 protocol (Expected HTTP/, RTSP/ or ICE/)")),
  tlsToPlain: undiciError(
    withCode(
      "Error",
      "40ED0CDEC27F0000:error:0A00010B:SSL routines:tls_validate_record_header:wrong version number:../deps/openssl/openssl/ssl/record/methods/tlsany_meth.c:77:\n",
      "ERR_SSL_WRONG_VERSION_NUMBER",
    ),
  ),
  selfSigned: undiciError(withCode("Error", "self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca", "DEPTH_ZERO_SELF_SIGNED_CERT")),
  timeout: Object.assign(new Error("The operation was aborted due to timeout"), { name: "TimeoutError", code: 23 }),
};

const http = endpointOf(new URL("http://nx-probe.invalid:8080/base"));
const https = endpointOf(new URL("https://api.example.com/"));
const loopback = endpointOf(new URL("http://127.0.0.1:9399"));

describe("clueOf: what an error says by itself", () => {
  it("reads workerd's two messages as the ambiguities they are", () => {
    expect(clueOf(networkLost())).toEqual({ kind: "lost" });
    expect(clueOf(internalError())).toEqual({ kind: "opaque", reference: "0no7vpruf2lbt6fandjqr0nq" });
    expect(clueOf(workerdError("internal error"))).toEqual({ kind: "opaque", reference: null });
  });

  it("reads undici's codes and messages", () => {
    const classes = Object.fromEntries(Object.entries(undici).map(([name, error]) => [name, (clueOf(error) as Extract<Clue, { kind: "known" }>).class]));
    expect(classes).toEqual({ dns: "dns", refused: "refused", reset: "reset", closed: "reset", notHttp: "reset", tlsToPlain: "tls", selfSigned: "tls", timeout: "timeout" });
  });

  it("keeps the innermost message, one line, as the detail", () => {
    expect(clueOf(undici.dns)).toEqual({ kind: "known", class: "dns", detail: "getaddrinfo ENOTFOUND nx-probe.invalid" });
    const tls = clueOf(undici.tlsToPlain) as Extract<Clue, { kind: "known" }>;
    expect(tls.detail).not.toContain("\n");
  });

  it("leaves anything else unknown, with its message", () => {
    expect(clueOf(new Error("binding API is not available"))).toEqual({ kind: "unknown", detail: "binding API is not available" });
    expect(clueOf("a string")).toEqual({ kind: "unknown", detail: "a string" });
  });

  it("survives a cyclic cause chain", () => {
    const a = new Error("outer") as Error & { cause?: unknown };
    const b = new Error("inner", { cause: a });
    a.cause = b;
    expect(clueOf(a).kind).toBe("unknown");
  });
});

describe("classifyThrown: the class, with a reachability check where the error is ambiguous", () => {
  it("workerd's lost connection: refused when nothing accepts TCP, reset when something does", () => {
    expect(needsReachability(clueOf(networkLost()), loopback)).toBe(true);
    expect(classifyThrown(clueOf(networkLost()), loopback, false)).toEqual({ class: "refused", message: "refused: connection to 127.0.0.1:9399 refused" });
    expect(classifyThrown(clueOf(networkLost()), loopback, true)).toEqual({ class: "reset", message: "reset: connection to 127.0.0.1:9399 closed before a complete response" });
    expect(classifyThrown(clueOf(networkLost()), loopback, null).class).toBe("other");
  });

  it("workerd's internal error on plain http to a host name is DNS, without a check", () => {
    expect(needsReachability(clueOf(internalError()), http)).toBe(false);
    expect(classifyThrown(clueOf(internalError()), http, null)).toEqual({ class: "dns", message: "dns: lookup failed for nx-probe.invalid" });
  });

  it("workerd's internal error on https: TLS when the host accepts TCP, DNS when it cannot be reached", () => {
    expect(needsReachability(clueOf(internalError()), https)).toBe(true);
    expect(classifyThrown(clueOf(internalError()), https, true)).toEqual({ class: "tls", message: "tls: TLS handshake with api.example.com:443 failed" });
    expect(classifyThrown(clueOf(internalError()), https, false)).toEqual({ class: "dns", message: "dns: lookup failed for api.example.com" });
    expect(classifyThrown(clueOf(internalError()), https, null).class).toBe("other");
  });

  it("an internal error to an IP address is never DNS", () => {
    const ip = endpointOf(new URL("https://127.0.0.1:9405/"));
    expect(needsReachability(clueOf(internalError()), ip)).toBe(false);
    expect(classifyThrown(clueOf(internalError()), ip, null).class).toBe("tls");
    expect(classifyThrown(clueOf(internalError()), loopback, null).class).toBe("other");
  });

  it("undici's errors need no check, and keep the runtime's words", () => {
    for (const error of Object.values(undici)) expect(needsReachability(clueOf(error), http)).toBe(false);
    expect(classifyThrown(clueOf(undici.refused), loopback, null).message).toBe("refused: connection to 127.0.0.1:9399 refused (connect ECONNREFUSED 127.0.0.1:9399)");
    expect(classifyThrown(clueOf(undici.selfSigned), https, null).message).toMatch(/^tls: TLS handshake with api\.example\.com:443 failed \(self-signed certificate/);
  });

  it("a binding has no endpoint: classes from the message, named by the binding", () => {
    expect(needsReachability(clueOf(networkLost()), null)).toBe(false);
    expect(classifyThrown(clueOf(networkLost()), null, null, "binding API").message).toBe("other: connection to binding API lost (refused or reset: the runtime does not say which)");
    expect(classifyThrown(clueOf(new Error("Worker threw: boom")), null, null, "binding API")).toEqual({ class: "other", message: "other: Worker threw: boom" });
  });

  it("timeouts and statuses have messages of their own", () => {
    expect(timeoutError(5000)).toEqual({ class: "timeout", message: "timeout: no answer within 5000 ms" });
    expect(httpStatusError(503)).toEqual({ class: "http", message: "http: HTTP 503" });
  });
});

describe("messages: one line, class first", () => {
  it("cuts a runaway or multi-line message to one line of MAX_DETAIL characters", () => {
    expect(oneLine(`first\n    at stack (file.js:1:1)`)).toBe("first");
    expect(oneLine("x".repeat(500))).toHaveLength(MAX_DETAIL);
  });

  it("every classified message starts with its class and has no line break (property)", () => {
    const clue = fc.oneof(
      fc.constant<Clue>({ kind: "lost" }),
      fc.record({ kind: fc.constant("opaque" as const), reference: fc.option(fc.string(), { nil: null }) }),
      fc.record({ kind: fc.constant("unknown" as const), detail: fc.string() }),
      fc.record({ kind: fc.constant("known" as const), class: fc.constantFrom("dns", "refused", "reset", "tls", "timeout", "other" as const), detail: fc.option(fc.string(), { nil: null }) }),
    );
    const url = fc.constantFrom("http://a.example:81/", "https://b.example/", "http://127.0.0.1:9/", "https://[::1]:8443/");
    fc.assert(
      fc.property(clue, fc.option(url, { nil: null }), fc.option(fc.boolean(), { nil: null }), (c, u, reachable) => {
        const error = classifyThrown(c, u === null ? null : endpointOf(new URL(u)), reachable);
        expect(error.message.startsWith(`${error.class}: `)).toBe(true);
        expect(error.message).not.toMatch(/[\r\n]/);
        expect(errorClassOf(error.message)).toBe(error.class);
      }),
    );
  });
});

describe("errorClassOf and withClassPrefix: reading a lastError back", () => {
  it("reads the prefix, with or without a vantage point after it", () => {
    for (const cls of UPSTREAM_ERROR_CLASSES) expect(errorClassOf(`${cls}: whatever`)).toBe(cls);
    expect(errorClassOf("dns: lookup failed for api.internal (from wnam)")).toBe("dns");
    expect(errorClassOf(null)).toBeNull();
  });

  it("reads texts persisted before classes existed", () => {
    expect(errorClassOf("HTTP 503")).toBe("http");
    expect(errorClassOf("no answer within 5000 ms")).toBe("timeout");
    expect(errorClassOf("wnam: HTTP 503")).toBe("http");
    expect(errorClassOf("enam: no answer within 5000 ms")).toBe("timeout");
    expect(errorClassOf("connect ECONNREFUSED 10.0.0.7:8080")).toBe("refused");
    expect(errorClassOf("internal error; reference = 0no7vpruf2lbt6fandjqr0nq")).toBe("other");
    expect(errorClassOf("Network connection lost.")).toBe("other");
    expect(errorClassOf("refused")).toBe("other");
  });

  it("puts the class in front of an old text, and leaves a new one as it is", () => {
    expect(withClassPrefix("HTTP 503")).toBe("http: HTTP 503");
    expect(withClassPrefix("wnam: no answer within 5000 ms")).toBe("timeout: wnam: no answer within 5000 ms");
    expect(withClassPrefix("Network connection lost.")).toBe("other: Network connection lost.");
    expect(withClassPrefix("dns: lookup failed for x.invalid")).toBe("dns: lookup failed for x.invalid");
    expect(withClassPrefix(null)).toBeNull();
  });
});
