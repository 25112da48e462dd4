/**
 * Bad input on every endpoint: fast-check generates requests (methods, paths
 * built from the real routes with mutated segments, headers, bodies) and they
 * are sent, ~16 at a time over kept-alive connections, to a running
 * orchestrator. Every answer is checked against what the orchestrator
 * promises for any input whatsoever:
 *
 * - it never answers 5xx itself (a proxied path may answer 502/503/504 with an
 *   upstream-* or no-available-instance / service-stopped problem);
 * - it never hangs (a per-request timeout), never shows a stack trace or an
 *   exception's name;
 * - every 4xx/5xx of its own is application/problem+json with a matching status;
 * - requests it rejects leave the registry as it was (GET /registry/services
 *   before and after every batch, ignoring what changes by itself, and the
 *   services that an accepted request in that batch changed);
 * - a registration it accepts keeps its metadata exactly, keys named like
 *   Object.prototype's members ("__proto__", "constructor"…) included;
 * - a body the upstream receives is the client's, whole: never shortened,
 *   never past MAX_REQUEST_BODY_BYTES (chunked, with chunk extensions, too);
 * - some generated requests carry a promise of their own (CaseExpectation):
 *   weights naming no instance, lookaround in a silence and a bad metadata
 *   value are refused with 400; well-formed ones with prototype-like names
 *   and pathological (but RE2) regexes are accepted.
 *
 * Shared by the CI-sized test (fuzz.test.ts) and `npm run fuzz`.
 */
import { METHODS } from "node:http";
import fc from "fast-check";
import { Api, Connections, durableState, HangError, type RawRequest, type RawResponse, sendRaw, type Snapshot, totalInflight } from "./client";
import { type Bundle, Orchestrator, sleep } from "./workerd-harness";
import { type LoopbackUpstream, startLoopbackUpstream } from "./upstream";

// ------------------------------------------------------------------ what the target looks like

export interface FuzzContext {
  readonly baseUrl: string;
  readonly adminKey: string;
  readonly registrationToken: string;
  /** Services that exist (the seed services and the base service with live instances). */
  readonly serviceNames: readonly string[];
  /** Ids of registered instances, so mutated routes sometimes name real ones. */
  readonly instanceIds: readonly string[];
}

export interface FuzzCase extends RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Materialised when sent (a 10 MB body is not kept for every generated case). */
  readonly bodySpec: BodySpec | null;
  /** What this request must get on top of the rules every request is held to. */
  readonly expect?: CaseExpectation;
}

/**
 * A generated request's own promise, checked after the general rules:
 * - status: the Worker answers one of these statuses (its problem naming one of `fields`, when given);
 * - proxied-body: a chunked body of `bytes` sent to a live service reaches an instance whole, byte
 *   for byte, when it is within `limit`; past it the client gets 413 (or 404/503 when other cases
 *   left the service no instance to route to) and no instance ever reads it complete.
 */
export type CaseExpectation =
  | { readonly kind: "status"; readonly label: string; readonly statuses: readonly number[]; readonly fields?: readonly string[] }
  | { readonly kind: "proxied-body"; readonly bytes: number; readonly limit: number };

/** MAX_REQUEST_BODY_BYTES of the fuzz target: the filler bodies (at most 1,000,000 bytes) fit, the 10 MiB ones and the over-limit chunked ones do not. */
export const FUZZ_MAX_REQUEST_BODY_BYTES = 1024 * 1024;

export type BodySpec =
  | { readonly kind: "bytes"; readonly bytes: Buffer; readonly chunks: number }
  | { readonly kind: "filler"; readonly size: number; readonly byte: number; readonly chunks: number };

const RESERVED_FIRST_SEGMENTS = new Set(["health", "metrics", "registry", "admin", "debug", "openapi.json", "favicon.ico", "robots.txt", "__lifecycle"]);

/** Methods workerd's HTTP parser knows; it answers any other with its own 501 before the Worker runs. */
export const RUNTIME_KNOWN_METHODS = new Set(
  "GET HEAD POST PUT DELETE PATCH PURGE OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE QUERY BAN".split(" "),
);

/** Methods the loopback upstream's HTTP parser (node:http) accepts. */
const NODE_HTTP_METHODS = new Set(METHODS);

/** 5xx answers a proxied path may give: the upstream's fault or an operator's decision, not the gateway's. */
const GATEWAY_PROBLEMS = new Map<number, ReadonlySet<string>>([
  [502, new Set(["urn:orchestrator:problem:upstream-unreachable"])],
  [503, new Set(["urn:orchestrator:problem:no-available-instance", "urn:orchestrator:problem:service-stopped"])],
  [504, new Set(["urn:orchestrator:problem:upstream-timeout"])],
]);

// ------------------------------------------------------------------ generators

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const UNRESERVED = `${LOWER}${LOWER.toUpperCase()}${DIGITS}-._~`;
const SUB_DELIMS = "!$&'()*+,;=:@";
/** Printable ASCII that node:http sends unescaped in a path but URLs normally escape. */
const ODD_ASCII = `"<>[]\\^\`{|}#?`;
/** Bytes above 0x7f, sent raw (node:http writes the path as latin1): invalid UTF-8 on the wire. */
const HIGH = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join("");
const TOKEN = `${LOWER}${LOWER.toUpperCase()}${DIGITS}!#$%&'*+-.^_\`|~`;
const HEADER_VALUE = `\t${Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join("")}${HIGH}`;
/** Headers that define the message's framing or the connection: random values would break HTTP itself, not test the orchestrator. */
const FRAMING_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te", "trailer", "keep-alive", "proxy-connection", "http2-settings"]);

/**
 * What workerd's HTTP parser refuses in a request target with its own 400 "invalid URI", closing
 * the connection, before the Worker runs (since 1.20261117; measured byte by byte; earlier versions
 * percent-encoded them and passed them on): a byte above 0x7f anywhere, `<` `>` or a backtick in the
 * path, `"` `<` or `>` in the query. The edge in front of a deployed Worker encodes or refuses them too.
 */
const REFUSED_ANYWHERE = /[\u0080-\uffff]/;
const REFUSED_IN_PATH = /[<>`]/;
const REFUSED_IN_QUERY = /["<>]/;

function targetParts(target: string): { path: string; query: string; fragment: string } {
  const hash = target.indexOf("#");
  const beforeFragment = hash < 0 ? target : target.slice(0, hash);
  const question = beforeFragment.indexOf("?");
  return {
    path: question < 0 ? beforeFragment : beforeFragment.slice(0, question),
    query: question < 0 ? "" : beforeFragment.slice(question),
    fragment: hash < 0 ? "" : target.slice(hash),
  };
}

export function runtimeRefusesTarget(target: string): boolean {
  const { path, query } = targetParts(target);
  return REFUSED_ANYWHERE.test(target) || REFUSED_IN_PATH.test(path) || REFUSED_IN_QUERY.test(query);
}

/** The target with what workerd refuses percent-encoded byte for byte (latin1, as node:http sends it): what the Worker would see. */
export function encodeForRuntime(target: string): string {
  const encode = (part: string, refused: RegExp) => part.replace(new RegExp(`${refused.source}|${REFUSED_ANYWHERE.source}`, "g"), (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
  const { path, query, fragment } = targetParts(target);
  return `${encode(path, REFUSED_IN_PATH)}${encode(query, REFUSED_IN_QUERY)}${encode(fragment, /(?!)/)}`;
}

const chars = (alphabet: string) => fc.constantFrom(...alphabet.split(""));

const pctByte = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([b, upper]) => {
  const hex = b.toString(16).padStart(2, "0");
  return `%${upper ? hex.toUpperCase() : hex}`;
});

function segmentArb(real: readonly string[]): fc.Arbitrary<string> {
  const arbitraries: fc.WeightedArbitrary<string>[] = [
    { weight: 6, arbitrary: fc.string({ unit: chars(UNRESERVED), maxLength: 24 }) },
    { weight: 2, arbitrary: fc.array(fc.oneof(chars(UNRESERVED), pctByte), { maxLength: 12 }).map((parts) => parts.join("")) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(".", "..", "%2e", "%2E%2e", ".%2e", "%2e.", "%2f", "%2F", "%5c", "%00", "%ff", "%", "%zz", "%e0%a4%a", "a%2fb", "..%2f..%2fadmin", "%c0%ae%c0%ae", "", " "),
    },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }).map((s) => encodeURIComponent(s)) },
    { weight: 1, arbitrary: fc.string({ unit: chars(HIGH + UNRESERVED), minLength: 1, maxLength: 12 }) },
    { weight: 1, arbitrary: fc.string({ unit: chars(SUB_DELIMS + ODD_ASCII), minLength: 1, maxLength: 12 }) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 256, max: 20_000 }), chars(UNRESERVED)).map(([n, c]) => c.repeat(n)) },
  ];
  if (real.length > 0) arbitraries.push({ weight: 5, arbitrary: fc.constantFrom(...real) });
  return fc.oneof(...arbitraries).map((s) => s.replaceAll(" ", "%20"));
}

/** The orchestrator's own routes (src/http/router.ts), with placeholders for the variable segments. */
const ROUTES = [
  "/health",
  "/health/workers",
  "/openapi.json",
  "/registry/services",
  "/registry/instances",
  "/registry/instances/{id}",
  "/registry/instances/{id}/heartbeat",
  "/admin/services",
  "/admin/services/{name}",
  "/admin/workers/{name}/{action}",
  "/admin/workers/{name}/instances/{id}/{action}",
  "/admin/audit",
  "/admin/dashboard",
  "/admin/dashboard/state",
  "/admin/dashboard/live",
  "/admin/dashboard/assets/{file}",
  "/admin/login",
  "/admin/logout",
  "/admin/alerts",
  "/admin/silences",
  "/admin/silences/{sid}",
  "/metrics",
  "/metrics/worker/{name}",
  "/debug/config",
  "/debug/registry",
  "/debug/do-calls",
  "/",
  "/{name}",
  "/{name}/{rest}",
  "/{name}/{rest}/{rest}",
  "/favicon.ico",
  "/robots.txt",
  "/__lifecycle/restart",
];

const QUERY_KEYS = ["limit", "before", "format", "service", "x", "limit", "format", ""];
const QUERY_VALUES = ["1", "0", "1000", "1001", "-1", "abc", "prometheus", "json", "", "%ff", "%00", "1e3", "99999999999999999999", "a".repeat(3000), "1&limit=2", "json&format=prometheus"];

function queryArb(): fc.Arbitrary<string> {
  const key = fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ unit: chars(UNRESERVED + "%[]"), maxLength: 10 }));
  const value = fc.oneof(fc.constantFrom(...QUERY_VALUES), fc.string({ unit: chars(UNRESERVED + SUB_DELIMS + HIGH + "%"), maxLength: 20 }));
  return fc.array(fc.tuple(key, fc.option(value, { nil: undefined })), { minLength: 1, maxLength: 5 }).map(
    (pairs) => `?${pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join("&")}`,
  );
}

const MUTATIONS = ["trailing-slash", "double-slash", "dot-segment", "dotdot-segment", "encoded-dotdot", "upper", "encode-char", "query", "fragment", "drop-segment"] as const;

function mutatePath(path: string, mutation: (typeof MUTATIONS)[number], at: number, query: string): string {
  const segments = path.split("/");
  const i = segments.length > 1 ? 1 + (at % (segments.length - 1)) : 0;
  switch (mutation) {
    case "trailing-slash":
      return `${path}/`;
    case "double-slash":
      segments.splice(i, 0, "");
      return segments.join("/");
    case "dot-segment":
      segments.splice(i, 0, ".");
      return segments.join("/");
    case "dotdot-segment":
      segments.splice(i, 0, "x", "..");
      return segments.join("/");
    case "encoded-dotdot":
      segments.splice(i, 0, "x", "%2e%2e");
      return segments.join("/");
    case "upper":
      // ASCII only: toUpperCase() would turn some latin1 characters (ÿ) into ones node:http cannot send.
      return path.replace(/[a-z]/g, (c) => c.toUpperCase());
    case "encode-char": {
      const segment = segments[i] ?? "";
      if (segment.length === 0) return path;
      const j = at % segment.length;
      segments[i] = `${segment.slice(0, j)}%${segment.charCodeAt(j).toString(16).padStart(2, "0")}${segment.slice(j + 1)}`;
      return segments.join("/");
    }
    case "query":
      return `${path}${query}`;
    case "fragment":
      return `${path}#frag`;
    case "drop-segment":
      if (segments.length > 2) segments.splice(i, 1);
      return segments.join("/");
  }
}

function pathArb(ctx: FuzzContext): fc.Arbitrary<string> {
  const names = segmentArb([...ctx.serviceNames, "fuzz-a", "fuzz-b"]);
  const ids = segmentArb([...ctx.instanceIds, "static-api-api"]);
  const actions = segmentArb(["stop", "start", "restart", "stop", "start"]);
  const files = segmentArb(["app.js", "dashboard.css", "login.html", "dashboard.html", "vendor", "..", "%2e%2e"]);
  const plain = segmentArb([]);
  const routed = fc
    .tuple(fc.constantFrom(...ROUTES), names, ids, actions, files, plain, plain, fc.array(fc.tuple(fc.constantFrom(...MUTATIONS), fc.nat()), { maxLength: 2 }), queryArb(), fc.option(queryArb(), { nil: undefined }))
    .map(([route, name, id, action, file, sid, rest, mutations, mutationQuery, query]) => {
      let restUsed = 0;
      let path = route
        .replace("{name}", name)
        .replace("{id}", id)
        .replace("{action}", action)
        .replace("{file}", file)
        .replace("{sid}", sid)
        .replaceAll("{rest}", () => (restUsed++ === 0 ? rest : `${rest}x`));
      for (const [mutation, at] of mutations) path = mutatePath(path, mutation, at, mutationQuery);
      return query === undefined ? path : `${path}${query}`;
    });
  const random = fc.string({ unit: chars(UNRESERVED + SUB_DELIMS + ODD_ASCII + HIGH + "%/"), maxLength: 200 }).map((s) => `/${s}`);
  const long = fc.tuple(fc.integer({ min: 1_000, max: 30_000 }), fc.constantFrom("a/", "%2e%2e/", "./", "x", "%41")).map(([n, unit]) => `/${unit.repeat(Math.ceil(n / unit.length))}`);
  // Straight to the base service's live instances, so proxying itself gets bad input too.
  const proxied = fc
    .tuple(fc.array(plain, { maxLength: 3 }), fc.option(queryArb(), { nil: undefined }))
    .map(([rest, query]) => `/fuzz-base${rest.map((r) => `/${r}`).join("")}${query ?? ""}`);
  const target = fc.oneof({ weight: 16, arbitrary: routed }, { weight: 3, arbitrary: proxied }, { weight: 3, arbitrary: random }, { weight: 1, arbitrary: long });
  // Mostly encoded as the runtime would want, so the Worker sees these bytes (as %XX); one in ten raw, for workerd's refusal.
  return fc.tuple(target, fc.nat(9)).map(([t, draw]) => (draw === 0 ? t : encodeForRuntime(t)));
}

function methodArb(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 30, arbitrary: fc.constantFrom("GET", "GET", "HEAD", "POST", "POST", "PUT", "PUT", "DELETE", "PATCH", "OPTIONS") },
    { weight: 3, arbitrary: fc.constantFrom("TRACE", "PROPFIND", "MKCOL", "QUERY", "PURGE", "SEARCH", "COPY", "MOVE", "LOCK", "REPORT", "BAN") },
    // Random tokens: workerd knows a fixed list and answers others itself.
    { weight: 2, arbitrary: fc.string({ unit: chars(`${LOWER.toUpperCase()}${LOWER}-_!#$%&'*+.^\`|~`), minLength: 1, maxLength: 16 }) },
  );
}

function headersArb(ctx: FuzzContext, withUpgradeAllowed: boolean): fc.Arbitrary<Array<[string, string]>> {
  const name = fc.string({ unit: chars(TOKEN), minLength: 1, maxLength: 24 }).filter((n) => !FRAMING_HEADERS.has(n.toLowerCase()));
  const value = fc.oneof(
    { weight: 20, arbitrary: fc.string({ unit: chars(HEADER_VALUE), maxLength: 64 }) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1_000, max: 20_000 }), chars(UNRESERVED)).map(([n, c]) => c.repeat(n)) },
  );
  const extra = fc.oneof(
    { weight: 24, arbitrary: fc.array(fc.tuple(name, value), { maxLength: 6 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 160 }).map((n) => Array.from({ length: n }, (_, i): [string, string] => [`x-many-${i}`, "v"])) },
    // One huge value, past MAX_HEADER_BYTES (32 KiB) but under what workerd itself accepts (~128 KiB).
    { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 100_000 }).map((n): Array<[string, string]> => [["x-huge", "h".repeat(n)]]) },
    // Underscores: refused (some upstreams fold X_Forwarded_For into X-Forwarded-For).
    { weight: 2, arbitrary: fc.constantFrom<Array<[string, string]>>([["x_forwarded_for", "1.2.3.4"]], [["X_Real_IP", "10.0.0.1"]], [["_", "x"]]) },
  );
  const auth = fc.oneof(
    { weight: 6, arbitrary: fc.constant<string | null>(null) },
    { weight: 5, arbitrary: fc.constant(`Bearer ${ctx.adminKey}`) },
    { weight: 4, arbitrary: fc.constant(`Bearer ${ctx.registrationToken}`) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        "Bearer",
        "Bearer ",
        `bearer ${ctx.adminKey}`,
        `Bearer  ${ctx.adminKey}`,
        `Bearer ${ctx.adminKey} `,
        `Bearer ${ctx.adminKey}x`,
        `Basic ${Buffer.from(`admin:${ctx.adminKey}`).toString("base64")}`,
        `Bearer ${"k".repeat(5000)}`,
        "Bearer a b",
        `Bearer ${ctx.registrationToken.slice(0, -1)}`,
      ),
    },
  );
  const contentType = fc.option(
    fc.constantFrom(
      "application/json",
      "application/json",
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/merge-patch+json",
      "application/problem+json",
      "application/jsonx",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "",
      "json",
      "application/json;;;",
    ),
    { nil: null, freq: 3 },
  );
  const specials = fc.array(
    fc.oneof(
      fc.constantFrom<[string, string]>(
        ["cf-connecting-ip", "203.0.113.7"],
        ["cf-connecting-ip", "198.51.100.1"],
        ["cf-connecting-ip", "2001:db8::1"],
        ["cf-connecting-ip", "not-an-ip"],
        ["cf-connecting-ip", " 10.0.0.1 "],
        ["x-forwarded-for", "1.2.3.4, 5.6.7.8"],
        ["x-real-ip", "127.0.0.1"],
        ["forwarded", "for=1.2.3.4;proto=https"],
        ["origin", "http://evil.example"],
        ["origin", "null"],
        ["origin", ctx.baseUrl],
        ["access-control-request-method", "POST"],
        ["access-control-request-headers", "authorization, x-evil"],
        ["cookie", "orch_session=1.2.3"],
        ["cookie", "orch_session="],
        ["cookie", `a=b; orch_session=${"z".repeat(300)}`],
        ["accept", "text/plain"],
        ["accept", "application/openmetrics-text"],
        ["accept", "*/*"],
        ["x-request-id", "fuzz-request-0001"],
        ["x-request-id", "bad id with spaces"],
        ["x-request-id", "x".repeat(500)],
        ["content-encoding", "gzip"],
        ["range", "bytes=0-1"],
        ["if-none-match", "*"],
      ),
    ),
    { maxLength: 3 },
  );
  const upgrade = withUpgradeAllowed
    ? fc.oneof(
        { weight: 30, arbitrary: fc.constant<Array<[string, string]>>([]) },
        {
          weight: 1,
          arbitrary: fc.constant<Array<[string, string]>>([
            ["upgrade", "websocket"],
            ["connection", "Upgrade"],
            ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="],
            ["sec-websocket-version", "13"],
          ]),
        },
      )
    : fc.constant<Array<[string, string]>>([]);
  return fc.tuple(auth, contentType, specials, extra, upgrade).map(([a, ct, sp, ex, up]) => {
    const headers: Array<[string, string]> = [];
    if (a !== null) headers.push(["authorization", a]);
    if (ct !== null) headers.push(["content-type", ct]);
    return [...headers, ...sp, ...ex, ...up];
  });
}

/** Values that are wrong for almost any field. */
const badValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, "", "x", "1", -1, 0, 1.5, -0, 1e308, -1e308, 2 ** 53 + 1, 1e21, [], {}, [1, 2], { a: 1 }, "a".repeat(5000), "http://", "javascript:alert(1)", "http://169.254.169.254/", "\u0000", "\ud800"),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const NEAR_VALID: ReadonlyArray<Record<string, unknown>> = [
  { service: "fuzz-a", url: "http://127.0.0.1:9/", weight: 1, metadata: { zone: "a" }, ttlSeconds: 30 },
  { service: "fuzz-b", binding: "API" },
  { inflight: 1, cpu: 50 },
  { strategy: "weighted", timeoutMs: 1000, weights: { x: 2 }, healthCheck: { intervalMs: 1000, timeoutMs: 100, retries: 2, path: "/health" }, lifecycleHook: { url: "http://127.0.0.1:9/" } },
  { matchers: [{ name: "service", value: "api", isRegex: false }], durationSeconds: 60, comment: "fuzz", createdBy: "fuzz" },
  { matchers: [{ name: "service", value: "(a+)+$", isRegex: true }], endsAt: "2000-01-01T00:00:00Z", comment: "fuzz" },
  // Members named like Object.prototype's (security review finding 2), as JSON.parse makes them: own keys, "__proto__" too.
  JSON.parse('{"service":"constructor","url":"http://127.0.0.1:9/","metadata":{"__proto__":"x","constructor":"y","toString":"z"},"ttlSeconds":30}') as Record<string, unknown>,
  JSON.parse('{"weights":{"__proto__":2,"constructor":"x","hasOwnProperty":3}}') as Record<string, unknown>,
  JSON.parse('{"matchers":[{"name":"__proto__","value":"constructor"},{"name":"service","value":"constructor"}],"durationSeconds":60,"comment":"fuzz","__proto__":{"isRegex":true}}') as Record<string, unknown>,
];

/** A plausible body with one thing wrong: a field replaced, removed or added, at the top or one level down. */
const nearValidBody: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...NEAR_VALID), fc.constantFrom("replace", "remove", "add", "nested"), fc.nat(), badValue)
  .map(([template, how, at, value]) => {
    const body: Record<string, unknown> = structuredClone(template);
    const keys = Object.keys(body);
    const key = keys[at % keys.length] as string;
    if (how === "replace") body[key] = value;
    else if (how === "remove") delete body[key];
    else if (how === "add") body[`extra${at % 3}`] = value;
    else {
      const inner = body[key];
      if (inner !== null && typeof inner === "object") {
        const target = Array.isArray(inner) ? (inner[0] as Record<string, unknown>) : (inner as Record<string, unknown>);
        if (target && typeof target === "object") target[Object.keys(target)[at % Math.max(1, Object.keys(target).length)] ?? "x"] = value;
      } else body[key] = { value };
    }
    return JSON.stringify(body) ?? "null";
  });

const deepNesting = fc.tuple(fc.integer({ min: 100, max: 5_000 }), fc.constantFrom("array", "object", "metadata")).map(([depth, shape]) => {
  if (shape === "array") return `${"[".repeat(depth)}${"]".repeat(depth)}`;
  if (shape === "object") return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  return `{"service":"fuzz-a","url":"http://127.0.0.1:9/","metadata":${'{"a":'.repeat(Math.min(depth, 2_000))}"v"${"}".repeat(Math.min(depth, 2_000))}}`;
});

const hugeNumbers = fc.constantFrom(
  '{"weight": 1e400}',
  '{"weight": -1e400}',
  '{"weight": 123456789012345678901234567890}',
  '{"ttlSeconds": 5.0000000000000001}',
  '{"inflight": 1e6, "cpu": 100.00000000000001}',
  '{"timeoutMs": 0.1e3}',
  '{"service":"fuzz-a","url":"http://127.0.0.1:9/","weight":1000.0000000000001}',
  '{"durationSeconds": 9007199254740993, "matchers":[{"name":"a","value":"b"}], "comment":"x"}',
  "-0",
  "1e999",
);

/** JSON text with raw bytes that are not UTF-8 (lone continuation bytes, overlong forms, surrogates, truncated sequences). */
const invalidUtf8 = fc
  .tuple(fc.oneof(nearValidBody, fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? "null")), fc.constantFrom([0x80], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xfe, 0xff]), fc.nat())
  .map(([text, bytes, at]) => {
    const base = Buffer.from(text, "utf8");
    const i = base.length === 0 ? 0 : at % base.length;
    return Buffer.concat([base.subarray(0, i), Buffer.from(bytes), base.subarray(i)]);
  });

function bodyArb(ctx: FuzzContext): fc.Arbitrary<BodySpec | null> {
  const text = (arb: fc.Arbitrary<string>) => arb.map((s) => Buffer.from(s, "utf8"));
  const content: fc.Arbitrary<Buffer | { size: number; byte: number }> = fc.oneof(
    { weight: 200, arbitrary: text(fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null")) },
    { weight: 300, arbitrary: text(nearValidBody) },
    { weight: 60, arbitrary: text(deepNesting) },
    { weight: 40, arbitrary: text(hugeNumbers) },
    { weight: 80, arbitrary: invalidUtf8 },
    { weight: 40, arbitrary: text(fc.constantFrom("", " ", "\n", "null", "[]", '""', "{}", "{", '{"a":1,}', "\ufeff{}", "true", "[{}]")) },
    { weight: 40, arbitrary: fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)) },
    { weight: 20, arbitrary: text(fc.constantFrom(`key=${encodeURIComponent(ctx.adminKey)}`, "key=", "key=%ff", "a=b&key=1&key=2", `key=${"k".repeat(5000)}`)) },
    { weight: 16, arbitrary: fc.record({ size: fc.integer({ min: 16_000, max: 1_000_000 }), byte: fc.constantFrom(0x7b, 0x20, 0x61, 0xff) }) },
    // Occasionally 10 MB.
    { weight: 1, arbitrary: fc.constant({ size: 10 * 1024 * 1024, byte: 0x7b }) },
  );
  const chunks = fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 4 }) });
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    {
      weight: 3,
      arbitrary: fc.tuple(content, chunks).map(([c, n]): BodySpec => (Buffer.isBuffer(c) ? { kind: "bytes", bytes: c, chunks: n } : { kind: "filler", size: c.size, byte: c.byte, chunks: n })),
    },
  );
}

// ------------------------------------------------------------------ well-formed requests with a promise of their own

/** Object.prototype's members, as metadata keys, weights keys, label names and values (all valid there). */
const PROTOTYPE_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "prototype", "valueOf", "isPrototypeOf", "__defineGetter__"] as const;
/** The same as valid service names (a-z 0-9 -, starting with a letter). */
const PROTOTYPE_SERVICE_NAMES = ["constructor", "tostring", "hasownproperty", "valueof", "prototype", "proto"] as const;

/** A JSON object's text with these members in this order: "__proto__" stays a member, as a client may send it. */
function objectText(entries: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`;
}

function jsonCase(method: string, path: string, token: string, body: string, expect: CaseExpectation): FuzzCase {
  return {
    method,
    path,
    headers: [
      ["authorization", `Bearer ${token}`],
      ["content-type", "application/json"],
    ],
    bodySpec: { kind: "bytes", bytes: Buffer.from(body, "utf8"), chunks: 1 },
    expect,
    timeoutMs: 10_000,
  };
}

const status = (label: string, statuses: readonly number[], ...fields: string[]): CaseExpectation => ({ kind: "status", label, statuses, ...(fields.length === 0 ? {} : { fields }) });

/** Regexes that backtracking engines take exponential time on, and a long alternation: valid RE2, so accepted (and matched in linear time). */
const PATHOLOGICAL_REGEXES = [
  "(a+)+b",
  "(a|a)*$",
  "(a|aa)+$",
  "^(a?){25}a{25}$",
  "(.*a){20}",
  "(x+x+)+y",
  "((((((((((a*)*)*)*)*)*)*)*)*)*)*b",
  "((a{10}){10}){10}",
  "(\\w+\\s?)+$",
  "(?i)CONSTRUCTOR|__PROTO__",
  Array.from({ length: 40 }, (_, i) => `s${i}x`).join("|"),
  `(${Array.from({ length: 60 }, (_, i) => "a".repeat((i % 3) + 1)).join("|")})*$`,
];

/** Lookaround and backreferences (not RE2), broken syntax, repeats past RE2's limit, and a pattern past the 256-character value limit: each a 400 naming the value. */
const REFUSED_REGEXES = ["(?=a)a", "(?!constructor).*", "(?<=a)b", "(?<!a)b", "(a)\\1", "(?=(a+))\\1b", "(a", "*", "a{1001}", "(a{100}){100}", `(${Array.from({ length: 90 }, (_, i) => `c${i}`).join("|")})`];

/** Chunk extensions (RFC 9112 §7.1.1) and trailers: legal framing the orchestrator must read through. */
const CHUNK_EXTENSIONS = ["", "", ";name=value", ";flag", ';a=b;c="d"', ';q="quoted;semicolon"', `;long=${"x".repeat(200)}`, ";__proto__=constructor"];
const TRAILERS = [undefined, undefined, "x-trailer: 1", "x-checksum: deadbeef"];

function specialCaseArb(ctx: FuzzContext): fc.Arbitrary<FuzzCase> {
  const protoKey = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_KEYS) }, { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/) });
  const metadataValue = fc.oneof(fc.constantFrom<string>(...PROTOTYPE_KEYS, ""), fc.string({ maxLength: 12 }));

  // Registrations whose metadata keys are prototype members: accepted (or 409 for a URL already registered), kept whole; one bad value refused naming its key.
  const registration = fc
    .record({
      service: fc.constantFrom<string>(...PROTOTYPE_SERVICE_NAMES, "fuzz-a", "__proto__"),
      slot: fc.nat(7),
      metadata: fc.uniqueArray(fc.tuple(protoKey, metadataValue), { selector: ([key]) => key, maxLength: 6 }),
      bad: fc.option(fc.tuple(fc.nat(), fc.constantFrom<unknown>(5, null, { x: "y" }, ["a"], "v".repeat(257))), { freq: 4 }),
    })
    .map(({ service, slot, metadata, bad }) => {
      const entries: Array<readonly [string, unknown]> = [...metadata];
      let expect = status("proto-registration", [201, 409]);
      if (service === "__proto__") expect = status("proto-service-refused", [400], "service");
      else if (bad !== null && entries.length > 0) {
        const at = bad[0] % entries.length;
        const key = (entries[at] as readonly [string, unknown])[0];
        entries[at] = [key, bad[1]];
        expect = status("proto-metadata-refused", [400], `metadata.${key}`);
      }
      const body = `{"service":${JSON.stringify(service)},"url":"http://127.0.0.1:9/proto-${slot}","ttlSeconds":3600,"metadata":${objectText(entries)}}`;
      return jsonCase("POST", "/registry/instances", ctx.registrationToken, body, expect);
    });

  // Weights naming a prototype member, alone or beside a real instance id: never an instance, so 400, and nothing changes. The
  // problem names that key, or the real id when it comes first and is not (or no longer) an instance of that service.
  const weights = fc
    .record({
      service: fc.constantFrom<string>("fuzz-base", ...PROTOTYPE_SERVICE_NAMES),
      key: fc.constantFrom(...PROTOTYPE_KEYS),
      value: fc.constantFrom<unknown>(1, 5, 1000, "x", 0),
      real: fc.option(fc.constantFrom(...(ctx.instanceIds.length > 0 ? ctx.instanceIds : ["none"])), { freq: 2 }),
      realFirst: fc.boolean(),
    })
    .map(({ service, key, value, real, realFirst }) => {
      const entries: Array<readonly [string, unknown]> = [[key, value]];
      const fields = [`weights.${key}`];
      if (real !== null) {
        entries[realFirst ? "unshift" : "push"]([real, 3]);
        if (realFirst && typeof value === "number" && value >= 1 && value <= 1000) fields.push(`weights.${real}`);
      }
      return jsonCase("PUT", `/admin/services/${service}`, ctx.adminKey, `{"weights":${objectText(entries)}}`, status("proto-weights-refused", [400], ...fields));
    });

  // Silences on prototype-like names and label names: accepted; a "__proto__" member where none belongs is an unknown field.
  const silence = fc
    .record({
      service: fc.constantFrom<string>(...PROTOTYPE_SERVICE_NAMES, "__proto__", "fuzz-base"),
      regex: fc.boolean(),
      extra: fc.option(fc.record({ name: fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "instance"), value: fc.constantFrom<string>(...PROTOTYPE_KEYS), isEqual: fc.boolean() }), { freq: 2 }),
      smuggle: fc.constantFrom<"none" | "top" | "matcher">("none", "none", "none", "top", "matcher"),
    })
    .map(({ service, regex, extra, smuggle }) => {
      const first = regex ? `{"name":"service","value":${JSON.stringify(`${service.slice(0, 4)}.*`)},"isRegex":true${smuggle === "matcher" ? ',"__proto__":{"isEqual":false}' : ""}}` : `{"name":"service","value":${JSON.stringify(service)}${smuggle === "matcher" ? ',"__proto__":{"isRegex":true}' : ""}}`;
      const matchers = [first, ...(extra === null ? [] : [JSON.stringify(extra)])];
      const body = `{"matchers":[${matchers.join(",")}],"durationSeconds":30,"comment":"fuzz: prototype names"${smuggle === "top" ? ',"__proto__":{"createdBy":"x"}' : ""}}`;
      return jsonCase("POST", "/admin/silences", ctx.adminKey, body, smuggle === "none" ? status("proto-silence", [201]) : status("proto-silence-smuggled", [400]));
    });

  // Pathological regexes in silences: RE2 ones accepted (matched in linear time by the alert loop), the rest refused.
  const regexSilence = fc.tuple(fc.oneof(fc.constantFrom(...PATHOLOGICAL_REGEXES).map((r) => [r, true] as const), fc.constantFrom(...REFUSED_REGEXES).map((r) => [r, false] as const)), fc.constantFrom("service", "alertname", "instance")).map(([[pattern, valid], name]) => {
    // A second matcher that needs a value, so a pattern that also matches "" is not refused for that.
    const body = `{"matchers":[{"name":${JSON.stringify(name)},"value":${JSON.stringify(pattern)},"isRegex":true},{"name":"severity","value":"critical"}],"durationSeconds":30,"comment":"fuzz: pathological regex"}`;
    return jsonCase("POST", "/admin/silences", ctx.adminKey, body, valid ? status("regex-accepted", [201]) : status("regex-refused", [400], "matchers.0.value"));
  });

  // The alert loop with all of the above in force still answers.
  const alerts = fc.constantFrom("/admin/alerts", "/admin/silences", "/admin/dashboard/state", "/metrics/worker/constructor", "/metrics/worker/constructor?format=prometheus").map(
    (path): FuzzCase => ({ method: "GET", path, headers: [["authorization", `Bearer ${ctx.adminKey}`]], bodySpec: null, expect: status("read-after-proto", path.startsWith("/metrics") ? [200, 404] : [200]), timeoutMs: 10_000 }),
  );

  // Chunked bodies to a live service, with chunk extensions and trailers, within and past MAX_REQUEST_BODY_BYTES.
  const limit = FUZZ_MAX_REQUEST_BODY_BYTES;
  const chunked = fc
    .record({
      method: fc.constantFrom("POST", "PUT", "PATCH"),
      size: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 64 * 1024 }) }, { weight: 2, arbitrary: fc.constantFrom(limit - 1, limit, limit + 1, limit + 64 * 1024, 2 * limit) }),
      chunks: fc.integer({ min: 1, max: 16 }),
      extensions: fc.array(fc.constantFrom(...CHUNK_EXTENSIONS), { minLength: 17, maxLength: 17 }),
      trailer: fc.constantFrom(...TRAILERS),
      rest: fc.constantFrom("", "/a", "/a/b?x=1"),
      byte: fc.constantFrom(0x00, 0x7b, 0xff),
    })
    .map(({ method, size, chunks, extensions, trailer, rest, byte }): FuzzCase => {
      const n = size === 0 ? 0 : Math.min(chunks, size);
      return {
        method,
        path: `/fuzz-base/chunked${rest}`,
        headers: [["content-type", "application/octet-stream"]],
        bodySpec: { kind: "filler", size, byte, chunks: Math.max(1, n) },
        framing: { extensions: extensions.slice(0, n + 1), ...(trailer === undefined ? {} : { trailer }) },
        expect: { kind: "proxied-body", bytes: size, limit },
        timeoutMs: 20_000,
      };
    });

  return fc.oneof({ weight: 3, arbitrary: registration }, { weight: 2, arbitrary: weights }, { weight: 2, arbitrary: silence }, { weight: 3, arbitrary: regexSilence }, { weight: 1, arbitrary: alerts }, { weight: 3, arbitrary: chunked });
}

export function caseArb(ctx: FuzzContext): fc.Arbitrary<FuzzCase> {
  const general = fc
    .tuple(methodArb(), pathArb(ctx), bodyArb(ctx))
    .chain(([method, path, bodySpec]) =>
      headersArb(ctx, method === "GET" && bodySpec === null).map((headers): FuzzCase => ({ method, path, headers, bodySpec, timeoutMs: 10_000 })),
    );
  return fc.oneof({ weight: 9, arbitrary: general }, { weight: 1, arbitrary: specialCaseArb(ctx) });
}

export function materialise(c: FuzzCase): RawRequest {
  const spec = c.bodySpec;
  if (spec === null) return { method: c.method, path: c.path, headers: c.headers, timeoutMs: c.timeoutMs };
  const framing = c.framing === undefined ? {} : { framing: c.framing };
  const whole = spec.kind === "bytes" ? spec.bytes : Buffer.alloc(spec.size, spec.byte);
  let body: Buffer | Buffer[] = whole;
  if (spec.chunks > 1) {
    const size = Math.ceil(whole.length / spec.chunks) || 1;
    body = [];
    for (let offset = 0; offset < whole.length; offset += size) body.push(whole.subarray(offset, offset + size));
    if (body.length === 0) body.push(Buffer.alloc(0));
  }
  // Hand-written framing sends a list of chunks, even of one.
  if (c.framing !== undefined && Buffer.isBuffer(body)) body = [body];
  return { method: c.method, path: c.path, headers: c.headers, body, ...framing, timeoutMs: c.timeoutMs };
}

/** The request line and headers, roughly as they go on the wire. */
export function requestHeadBytes(c: FuzzCase): number {
  return c.method.length + c.path.length + 12 + c.headers.reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0);
}

export function bodyLength(c: FuzzCase): number {
  if (c.bodySpec === null) return 0;
  return c.bodySpec.kind === "bytes" ? c.bodySpec.bytes.length : c.bodySpec.size;
}

// ------------------------------------------------------------------ the oracle

export type Outcome =
  | { readonly ok: true; readonly kind: string }
  | { readonly ok: false; readonly kind: string; readonly reason: string };

/** The orchestrator's view of the path: WHATWG URL parsing, like the Worker's `new URL(request.url)`. */
export function pathnameOf(path: string): string | null {
  try {
    return new URL(path, "http://orchestrator.invalid").pathname;
  } catch {
    return null;
  }
}

function isProxiedPath(path: string): boolean {
  const pathname = pathnameOf(path);
  if (pathname === null) return false;
  const first = pathname.split("/")[1] ?? "";
  return first !== "" && !RESERVED_FIRST_SEGMENTS.has(first);
}

const STACK_LINE = /\n\s+at [^\n]*(:\d+:\d+|\(native\)|<anonymous>)/;
const EXCEPTION_NAME = /\b(?:[A-Z][A-Za-z]*)?Error: /g;

/** Whether the text shows an exception, other than words the request itself put there (echoed paths, values). */
function leaksException(text: string, request: FuzzCase): string | null {
  if (STACK_LINE.test(text)) return "a stack trace";
  const requestText = `${request.path}\n${request.headers.map(([n, v]) => `${n}: ${v}`).join("\n")}\n${request.bodySpec?.kind === "bytes" ? request.bodySpec.bytes.toString("latin1") : ""}`;
  for (const match of text.matchAll(EXCEPTION_NAME)) if (!requestText.includes(match[0])) return `an exception name (${match[0].trim()})`;
  return null;
}

/**
 * Known orchestrator bugs, tolerated by name, counted and reported, never silently: a bug found
 * here goes in this list (with where it is and the input that shows it) until it is fixed, so the
 * suite stays green without hiding it. Empty: the ones found so far are fixed (README.md here).
 */
export const KNOWN_BUGS: ReadonlyArray<{ readonly id: string; readonly matches: (c: FuzzCase, r: RawResponse) => boolean }> = [];


/** The rules every request is held to, then the request's own promise, if it has one. */
export function judge(c: FuzzCase, result: RawResponse | Error): Outcome {
  const general = judgeAny(c, result);
  if (!general.ok || c.expect === undefined || result instanceof Error) return general;
  return judgeExpectation(c.expect, result);
}

function judgeExpectation(expect: CaseExpectation, result: RawResponse): Outcome {
  const fromUpstream = result.headers["x-upstream-name"] !== undefined;
  if (expect.kind === "proxied-body") {
    const over = expect.bytes > expect.limit;
    if (fromUpstream) {
      const received = Number(result.headers["x-upstream-body-bytes"]);
      if (over) return { ok: false, kind: "over-limit-forwarded", reason: `a ${expect.bytes}-byte chunked body (limit ${expect.limit}) reached the upstream whole (${received} bytes)` };
      return { ok: true, kind: "proxied-body-whole" };
    }
    if (over) {
      if (result.status === 413) return { ok: true, kind: "proxied-body-413" };
      // Nothing to forward to: the service lost its instances to other cases (404) or none is in rotation (503).
      if (result.status === 404 || result.status === 503) return { ok: true, kind: `proxied-body-${result.status}` };
      return { ok: false, kind: "over-limit-not-413", reason: `a ${expect.bytes}-byte chunked body (limit ${expect.limit}) got ${result.status}: ${result.body.toString("latin1").slice(0, 200)}` };
    }
    if (result.status === 413 || result.status === 400) return { ok: false, kind: "within-limit-refused", reason: `a ${expect.bytes}-byte chunked body (limit ${expect.limit}) got ${result.status}: ${result.body.toString("latin1").slice(0, 200)}` };
    return { ok: true, kind: `proxied-body-${result.status}` };
  }
  const kind = `${expect.label}-${result.status}`;
  if (!expect.statuses.includes(result.status)) {
    return { ok: false, kind: `${expect.label}-unexpected`, reason: `expected ${expect.statuses.join(" or ")}, got ${result.status}: ${result.body.toString("utf8").slice(0, 300)}` };
  }
  if (expect.fields !== undefined && result.status >= 400) {
    let field: unknown;
    try {
      field = (JSON.parse(result.body.toString("utf8")) as { field?: unknown }).field;
    } catch {
      field = undefined;
    }
    if (typeof field !== "string" || !expect.fields.includes(field)) {
      return { ok: false, kind: `${expect.label}-wrong-field`, reason: `expected the problem to name ${expect.fields.join(" or ")}, it names ${String(field)}: ${result.body.toString("utf8").slice(0, 300)}` };
    }
  }
  return { ok: true, kind };
}

function judgeAny(c: FuzzCase, result: RawResponse | Error): Outcome {
  if (result instanceof HangError) return { ok: false, kind: "hang", reason: result.message };
  if (result instanceof Error) {
    const code = (result as NodeJS.ErrnoException).code ?? "";
    // The server answered early and closed while a large body was still being uploaded; the reset
    // (RST) can reach the client before it reads the answer. A transport race, not a verdict.
    if ((code === "ECONNRESET" || code === "EPIPE") && bodyLength(c) >= 256 * 1024) return { ok: true, kind: "reset-during-upload" };
    // workerd refuses a method it does not know while parsing (501, Connection: close), before any
    // body is read: a body still being written then meets a closed socket.
    if ((code === "ECONNRESET" || code === "EPIPE") && c.bodySpec !== null && !RUNTIME_KNOWN_METHODS.has(c.method.toUpperCase())) return { ok: true, kind: "runtime-501-reset" };
    // The loopback upstream (node:http) refuses a method it does not know with a bare 400 and closes the
    // connection while our request body may still be streaming to it; that reset can tear down the proxied
    // response mid-way (seen once in a CI-sized run on workerd 1.20261117). The upstream's doing, as with
    // 400-upstream-parser below.
    if (result.message.endsWith("response aborted") && c.bodySpec !== null && isProxiedPath(c.path) && !NODE_HTTP_METHODS.has(c.method.toUpperCase())) return { ok: true, kind: "upstream-parser-reset" };
    // The same early refusal of a request target that is not a URI (below): a body still being written meets a closed socket.
    if ((code === "ECONNRESET" || code === "EPIPE") && c.bodySpec !== null && runtimeRefusesTarget(c.path)) return { ok: true, kind: "runtime-400-invalid-uri-reset" };
    return { ok: false, kind: "transport-error", reason: `${code || result.name}: ${result.message}` };
  }
  const fromWorker = result.headers["x-request-id"] !== undefined;
  if (!fromWorker) {
    // workerd's own answers never reach the Worker: only an unknown method is expected here.
    if (result.status === 501 && !RUNTIME_KNOWN_METHODS.has(c.method.toUpperCase())) return { ok: true, kind: "runtime-501-unknown-method" };
    // workerd's own limit on the request head (about 128 KiB); the orchestrator's (MAX_HEADER_BYTES) is far lower.
    if (result.status === 431 && requestHeadBytes(c) > 96 * 1024) return { ok: true, kind: "runtime-431-head-too-large" };
    const invalidUriAnswer = result.body.toString("latin1") === "invalid URI" || (c.method.toUpperCase() === "HEAD" && result.body.length === 0);
    if (result.status === 400 && runtimeRefusesTarget(c.path) && invalidUriAnswer) return { ok: true, kind: "runtime-400-invalid-uri" };
    return { ok: false, kind: "not-from-worker", reason: `HTTP ${result.status} without x-request-id (the Worker threw, or workerd refused the request): ${result.body.toString("latin1").slice(0, 200)}` };
  }
  if (result.upgraded) return { ok: true, kind: "101-upgrade" };
  const contentType = String(result.headers["content-type"] ?? "");
  const fromUpstream = result.headers["x-upstream-name"] !== undefined;
  const text = result.body.toString("latin1");
  if (fromUpstream) {
    if (result.status >= 500) return { ok: false, kind: "upstream-5xx", reason: `the loopback upstream only answers 200, got ${result.status}` };
    // A body is forwarded whole or not at all (GET and HEAD go without one): the upstream counts what it read.
    const method = c.method.toUpperCase();
    const received = Number(result.headers["x-upstream-body-bytes"]);
    if (method !== "GET" && method !== "HEAD" && Number.isFinite(received) && received !== bodyLength(c)) {
      return { ok: false, kind: "body-altered", reason: `sent ${bodyLength(c)} body bytes, the upstream read ${received}` };
    }
    return { ok: true, kind: `${result.status}-upstream` };
  }
  if (result.status === 400 && !contentType && isProxiedPath(c.path) && !NODE_HTTP_METHODS.has(c.method.toUpperCase())) {
    // The loopback upstream is node:http, whose parser refuses methods it does not know (BAN…) with a
    // bare 400 before our handler runs; the orchestrator passed that answer through, as it should.
    return { ok: true, kind: "400-upstream-parser" };
  }
  const textual = /json|text\/plain/i.test(contentType);
  if (textual) {
    const leak = leaksException(text, c);
    if (leak) return { ok: false, kind: "leak", reason: `body shows ${leak}: ${text.slice(0, 300)}` };
  }
  if (result.status < 400) return { ok: true, kind: String(result.status) };

  let problemType: string | null = null;
  if (!contentType.startsWith("application/problem+json")) {
    return { ok: false, kind: "not-problem-json", reason: `HTTP ${result.status} with content-type ${contentType || "(none)"}: ${text.slice(0, 200)}` };
  }
  if (c.method.toUpperCase() !== "HEAD") {
    let body: { type?: unknown; title?: unknown; status?: unknown };
    try {
      body = JSON.parse(result.body.toString("utf8")) as typeof body;
    } catch {
      return { ok: false, kind: "bad-problem", reason: `problem+json body is not JSON: ${text.slice(0, 200)}` };
    }
    if (typeof body.type !== "string" || !body.type.startsWith("urn:orchestrator:problem:") || typeof body.title !== "string" || body.status !== result.status) {
      return { ok: false, kind: "bad-problem", reason: `not a problem document for ${result.status}: ${text.slice(0, 200)}` };
    }
    problemType = body.type;
  }
  if (result.status >= 500) {
    for (const bug of KNOWN_BUGS) if (bug.matches(c, result)) return { ok: true, kind: `known-bug:${bug.id}` };
    const allowed = GATEWAY_PROBLEMS.get(result.status);
    // A HEAD's problem has no body to read the type from; the status and the path decide.
    if (allowed && isProxiedPath(c.path) && (problemType === null || allowed.has(problemType))) return { ok: true, kind: `${result.status}-gateway` };
    return { ok: false, kind: "5xx", reason: `HTTP ${result.status} ${problemType ?? ""}: ${text.slice(0, 300)}` };
  }
  return { ok: true, kind: String(result.status) };
}

// ------------------------------------------------------------------ registry state across a batch

/**
 * Which services an accepted request may have changed, or null when that
 * cannot be told (the batch is then not compared).
 */
function touchedServices(c: FuzzCase, r: RawResponse, idToService: ReadonlyMap<string, string>): string[] | null {
  const method = c.method.toUpperCase();
  if (method === "GET" || method === "HEAD" || method === "OPTIONS" || r.status >= 400) return [];
  if (r.headers["x-upstream-name"] !== undefined || isProxiedPath(c.path)) return [];
  const pathname = pathnameOf(c.path);
  if (pathname === null) return null;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  if (/^\/admin\/(silences(\/[^/]+)?|login|logout)$/.test(pathname)) return [];
  let m = /^\/admin\/(?:services|workers)\/([^/]+)(?:\/|$)/.exec(pathname);
  if (m) return [decode(m[1] as string)];
  if (pathname === "/registry/instances") {
    try {
      const body = JSON.parse(r.body.toString("utf8")) as { service?: unknown };
      return typeof body.service === "string" ? [body.service] : null;
    } catch {
      return null;
    }
  }
  m = /^\/registry\/instances\/([^/]+)(?:\/heartbeat)?$/.exec(pathname);
  if (m) {
    const service = idToService.get(decode(m[1] as string));
    return service === undefined ? null : [service];
  }
  return null;
}

/**
 * The metadata a registration the orchestrator accepted (201) was sent with, read from the body
 * as the Worker reads it (UTF-8, JSON.parse: "__proto__" is an own key), or null for any other case.
 */
function acceptedRegistration(c: FuzzCase, r: RawResponse): { id: string; metadata: object } | null {
  if (c.method.toUpperCase() !== "POST" || r.status !== 201 || c.bodySpec?.kind !== "bytes" || pathnameOf(c.path) !== "/registry/instances") return null;
  try {
    const sent = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(c.bodySpec.bytes)) as { metadata?: unknown };
    const { id } = JSON.parse(r.body.toString("utf8")) as { id?: unknown };
    const metadata = sent.metadata ?? {};
    return typeof id === "string" && typeof metadata === "object" && metadata !== null ? { id, metadata } : null;
  } catch {
    return null;
  }
}

const sortedEntries = (record: object) => JSON.stringify(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

// ------------------------------------------------------------------ running

export interface FuzzOptions {
  readonly ctx: FuzzContext;
  readonly api: Api;
  readonly cases: number;
  readonly seed: number;
  readonly concurrency?: number;
  readonly batchSize?: number;
  /** Stop starting new batches after this many ms (the cases run so far are reported). */
  readonly budgetMs?: number;
  readonly onBatch?: (progress: { done: number; elapsedMs: number; failures: number }) => void;
}

export interface FuzzFailure {
  readonly seed: number;
  readonly batch: number;
  readonly index: number;
  readonly kind: string;
  readonly reason: string;
  readonly request: string;
}

export interface FuzzReport {
  readonly seed: number;
  readonly casesRun: number;
  readonly elapsedMs: number;
  readonly requestsPerSecond: number;
  readonly statuses: Record<string, number>;
  readonly outcomes: Record<string, number>;
  readonly methods: Record<string, number>;
  readonly bodies: { readonly none: number; readonly withBody: number; readonly over1MB: number; readonly tenMB: number; readonly chunked: number; readonly framed: number };
  readonly maxLatencyMs: number;
  readonly batches: { readonly total: number; readonly compared: number; readonly notComparable: number; readonly servicesExcluded: number; readonly metadataChecked: number };
  readonly stateFailures: string[];
  readonly failures: FuzzFailure[];
  readonly failureCount: number;
}

export function describeCase(c: FuzzCase): string {
  const headers = c.headers.map(([n, v]) => `${n}: ${v.length > 80 ? `${v.slice(0, 60)}…(${v.length} chars)` : v}`);
  const body = c.bodySpec === null ? "no body" : c.bodySpec.kind === "bytes" ? `body ${c.bodySpec.bytes.length} B ${JSON.stringify(c.bodySpec.bytes.toString("latin1").slice(0, 120))}` : `body ${c.bodySpec.size} B of 0x${c.bodySpec.byte.toString(16)}`;
  const path = c.path.length > 300 ? `${c.path.slice(0, 300)}…(${c.path.length} chars)` : c.path;
  const framing = c.framing === undefined ? "" : ` (chunk extensions ${JSON.stringify(c.framing.extensions.map((e) => (e.length > 40 ? `${e.slice(0, 20)}…(${e.length})` : e)))}${c.framing.trailer === undefined ? "" : `, trailer ${JSON.stringify(c.framing.trailer)}`})`;
  return `${c.method} ${JSON.stringify(path)} | ${headers.length > 8 ? `${headers.slice(0, 8).join(" | ")} | …${headers.length} headers` : headers.join(" | ")} | ${body}${c.bodySpec && c.bodySpec.chunks > 1 ? ` (chunked x${c.bodySpec.chunks})` : ""}${framing}`;
}

async function pool<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

const count = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1;
};

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { ctx, api, seed } = options;
  const concurrency = options.concurrency ?? 16;
  const batchSize = options.batchSize ?? 500;
  const arbitrary = caseArb(ctx);
  const connections = new Connections(concurrency);
  const started = Date.now();
  const statuses: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  const methods: Record<string, number> = {};
  const bodies = { none: 0, withBody: 0, over1MB: 0, tenMB: 0, chunked: 0, framed: 0 };
  const failures: FuzzFailure[] = [];
  const stateFailures: string[] = [];
  let failureCount = 0;
  let casesRun = 0;
  let maxLatencyMs = 0;
  const batches = { total: 0, compared: 0, notComparable: 0, servicesExcluded: 0, metadataChecked: 0 };
  let before: Snapshot = await api.snapshot();
  try {
    for (let batch = 0; casesRun < options.cases; batch++) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) break;
      const size = Math.min(batchSize, options.cases - casesRun);
      const batchSeed = seed + batch;
      const cases = fc.sample(arbitrary, { numRuns: size, seed: batchSeed });
      const idToService = new Map(before.services.flatMap((s) => s.instances.map((i) => [i.id, s.name] as const)));
      const touched = new Set<string>();
      const registered = new Map<string, { metadata: object; request: string }>();
      let comparable = true;
      await pool(cases, concurrency, async (c, index) => {
        const length = bodyLength(c);
        if (length === 0) bodies.none++;
        else bodies.withBody++;
        if (length >= 1024 * 1024) bodies.over1MB++;
        if (length >= 10 * 1024 * 1024) bodies.tenMB++;
        if (c.bodySpec !== null && (c.bodySpec.chunks > 1 || c.framing !== undefined)) bodies.chunked++;
        if (c.framing !== undefined) bodies.framed++;
        const method = c.method.toUpperCase();
        count(methods, RUNTIME_KNOWN_METHODS.has(method) ? method : "(other token)");
        let result: RawResponse | Error;
        try {
          result = await sendRaw(ctx.baseUrl, connections, materialise(c));
        } catch (error) {
          result = error instanceof Error ? error : new Error(String(error));
        }
        casesRun++;
        if (!(result instanceof Error)) {
          count(statuses, String(result.status));
          maxLatencyMs = Math.max(maxLatencyMs, result.durationMs);
          const changed = touchedServices(c, result, idToService);
          if (changed === null) comparable = false;
          else for (const name of changed) touched.add(name);
          const accepted = acceptedRegistration(c, result);
          if (accepted !== null) registered.set(accepted.id, { metadata: accepted.metadata, request: describeCase(c) });
        }
        const outcome = judge(c, result);
        count(outcomes, outcome.kind);
        if (!outcome.ok) {
          failureCount++;
          if (failures.length < 25) failures.push({ seed: batchSeed, batch, index, kind: outcome.kind, reason: outcome.reason, request: describeCase(c) });
        }
      });
      const after = await api.snapshot();
      batches.total++;
      // Every registration accepted in the batch and still there keeps its metadata exactly.
      const instances = new Map(after.services.flatMap((s) => s.instances.map((i) => [i.id, i] as const)));
      for (const [id, sent] of registered) {
        const stored = instances.get(id);
        if (stored === undefined) continue; // deregistered since, by a later case of the batch
        batches.metadataChecked++;
        if (sortedEntries(stored.metadata) !== sortedEntries(sent.metadata) && stateFailures.length < 10) {
          stateFailures.push(`batch ${batch} (seed ${batchSeed}): instance ${id} stored metadata ${sortedEntries(stored.metadata)}, was sent ${sortedEntries(sent.metadata)}: ${sent.request}`);
        }
      }
      if (!comparable) {
        batches.notComparable++;
      } else {
        batches.compared++;
        batches.servicesExcluded += touched.size;
        const expected = JSON.stringify(durableState(before, touched));
        const actual = JSON.stringify(durableState(after, touched));
        if (expected !== actual && stateFailures.length < 10) {
          stateFailures.push(`batch ${batch} (seed ${batchSeed}): registry changed by rejected requests:\n  before ${expected.slice(0, 1500)}\n  after  ${actual.slice(0, 1500)}`);
        }
      }
      before = after;
      options.onBatch?.({ done: casesRun, elapsedMs: Date.now() - started, failures: failureCount + stateFailures.length });
    }
  } finally {
    connections.destroy();
  }
  const elapsedMs = Date.now() - started;
  return {
    seed,
    casesRun,
    elapsedMs,
    requestsPerSecond: Math.round((casesRun / Math.max(1, elapsedMs)) * 1000),
    statuses,
    outcomes,
    methods,
    bodies,
    maxLatencyMs,
    batches,
    stateFailures,
    failures,
    failureCount,
  };
}

// ------------------------------------------------------------------ a target to fuzz

export interface FuzzTarget {
  readonly orchestrator: Orchestrator;
  readonly upstreams: LoopbackUpstream[];
  readonly api: Api;
  readonly ctx: FuzzContext;
  close(): Promise<void>;
}

/**
 * The orchestrator on plain workerd with rate limits out of the way, a base
 * service "fuzz-base" with two live loopback instances (so some proxied paths
 * reach a real upstream), and nothing registered under any random name.
 */
export async function startFuzzTarget(bundle: Bundle, extraVars: Record<string, string> = {}): Promise<FuzzTarget> {
  const orchestrator = new Orchestrator({
    bundle,
    vars: {
      // Stops wait for in-flight requests at most this long (a fuzzed stop must not look like a hang).
      DRAIN_TIMEOUT_MS: "1000",
      MAX_REQUEST_BODY_BYTES: String(FUZZ_MAX_REQUEST_BODY_BYTES),
      HEALTH_CHECK_INTERVAL_MS: "2000",
      HEALTH_CHECK_TIMEOUT_MS: "1000",
      ...extraVars,
    },
  });
  const upstreams: LoopbackUpstream[] = [];
  try {
    await orchestrator.start();
    const api = new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const upstream = await startLoopbackUpstream(`fuzz-base-${i}`);
      upstreams.push(upstream);
      const registered = await api.register({ service: "fuzz-base", url: upstream.url, ttlSeconds: 3600 });
      if (registered.status !== 201) throw new Error(`registering fuzz-base: ${registered.status} ${registered.text}`);
      ids.push(registered.json.id);
    }
    const snapshot = await api.snapshot();
    const ctx: FuzzContext = {
      baseUrl: orchestrator.baseUrl,
      adminKey: orchestrator.adminKey,
      registrationToken: orchestrator.registrationToken,
      serviceNames: snapshot.services.map((s) => s.name),
      instanceIds: ids,
    };
    return {
      orchestrator,
      upstreams,
      api,
      ctx,
      async close() {
        await orchestrator.dispose();
        await Promise.all(upstreams.map((u) => u.close()));
      },
    };
  } catch (error) {
    await orchestrator.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
    throw error;
  }
}

/** Waits until nothing is counted in flight anywhere (leases released, edge reports expired). */
export async function waitForZeroInflight(api: Api, timeoutMs: number): Promise<{ inflight: number; waitedMs: number }> {
  const started = Date.now();
  let inflight = Number.POSITIVE_INFINITY;
  while (Date.now() - started < timeoutMs) {
    inflight = totalInflight(await api.snapshot());
    if (inflight === 0) break;
    await sleep(250);
  }
  return { inflight, waitedMs: Date.now() - started };
}

export function formatReport(report: FuzzReport): string {
  const sorted = (record: Record<string, number>) =>
    Object.entries(record)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ");
  const lines = [
    `cases ${report.casesRun} in ${(report.elapsedMs / 1000).toFixed(1)} s (${report.requestsPerSecond} req/s), seed ${report.seed}, slowest answer ${report.maxLatencyMs} ms`,
    `statuses   ${sorted(report.statuses)}`,
    `outcomes   ${sorted(report.outcomes)}`,
    `methods    ${sorted(report.methods)}`,
    `bodies     none ${report.bodies.none}, with body ${report.bodies.withBody} (chunked ${report.bodies.chunked}, with chunk extensions ${report.bodies.framed}, >= 1 MiB ${report.bodies.over1MB}, 10 MiB ${report.bodies.tenMB})`,
    `registry   batches ${report.batches.total}: compared ${report.batches.compared} (services changed by accepted requests left out: ${report.batches.servicesExcluded}), not comparable ${report.batches.notComparable}; metadata of ${report.batches.metadataChecked} accepted registrations checked`,
    `failures   ${report.failureCount} request(s), ${report.stateFailures.length} state change(s)`,
  ];
  for (const f of report.failures) lines.push(`  - [${f.kind}] seed ${f.seed} #${f.index}: ${f.reason}\n      ${f.request}`);
  for (const s of report.stateFailures) lines.push(`  - ${s}`);
  return lines.join("\n");
}
