/**
 * The OpenAPI document (GET /openapi.json) against the real Worker:
 * - it documents every route of the router and OWN_ROUTES, with exactly the
 *   methods each allows (405's Allow), and no path the router lacks;
 * - each documented operation is called for its success status and a
 *   representative set of its error statuses, and every real answer must be
 *   documented for that operation (status, media type, required headers)
 *   and its body must validate against the documented JSON Schema, with
 *   every object closed (a member the document does not name fails).
 */
import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, inject, it } from "vitest";
import worker from "../../src/index";
import { buildOpenApiDocument } from "../../src/http/openapi";
import { OWN_ROUTES, router } from "../../src/http/router";
import { TEST_KEYS } from "./test-keys";

const BASE = "https://orchestrator.test";
const ADMIN = "test-admin-key-0123456789";
const REGISTRATION = "test-registration-token";
const DOC_ID = "https://orchestrator.test/openapi.json";
const port = inject("upstreamPort");
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

let nextIp = 0;
/** A client address of its own per request: rate limits and failed-authentication budgets never interfere. */
const ip = () => {
  nextIp++;
  return `198.19.${100 + Math.floor(nextIp / 250)}.${(nextIp % 250) + 1}`;
};
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

// ------------------------------------------------------------------ the document

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Operation {
  readonly path: string;
  readonly method: string;
  readonly operationId: string;
  readonly responses: Record<string, JsonObject>;
}

/** The document as the Worker builds it (the served one must be equal: checked below). */
const DOCUMENT = buildOpenApiDocument() as JsonObject;
const PATHS = DOCUMENT.paths as Record<string, Record<string, JsonObject>>;
const OPERATIONS: Operation[] = Object.entries(PATHS).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => ({ path, method, operationId: op.operationId as string, responses: op.responses as Record<string, JsonObject> })),
);
const PROXY_PATHS = new Set(["/{service}", "/{service}/{path}"]);

function resolve(node: JsonObject): JsonObject {
  const target = node.$ref;
  if (typeof target !== "string") return node;
  let found: Json = DOCUMENT;
  for (const part of target.slice(2).split("/")) found = (found as JsonObject)[part.replaceAll("~1", "/").replaceAll("~0", "~")] as Json;
  return found as JsonObject;
}

/**
 * Closes every object schema that does not say what else it allows: a real
 * answer with a member the document does not name then fails validation.
 * (Records and the debug config say `additionalProperties` and stay open.)
 */
function closed(node: Json): Json {
  if (Array.isArray(node)) return node.map(closed);
  if (node === null || typeof node !== "object") return node;
  const out: JsonObject = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, closed(value)]));
  if (out.type === "object" && out.properties !== undefined && out.additionalProperties === undefined && out.unevaluatedProperties === undefined) out.unevaluatedProperties = false;
  return out;
}

/** Local references point into the document, registered with ajv under DOC_ID. */
function anchored(node: Json): Json {
  if (Array.isArray(node)) return node.map(anchored);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, key === "$ref" && typeof value === "string" && value.startsWith("#/") ? `${DOC_ID}${value}` : anchored(value)]));
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: DOC_ID, components: { schemas: closed((DOCUMENT.components as JsonObject).schemas as Json) } });
const validators = new Map<string, ValidateFunction>();

function validatorFor(schema: JsonObject): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = ajv.compile(anchored(closed(schema)) as JsonObject);
    validators.set(key, validate);
  }
  return validate;
}

function operation(method: string, path: string): Operation {
  const found = OPERATIONS.find((op) => op.method === method && op.path === path);
  if (found === undefined) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
  return found;
}

// ------------------------------------------------------------------ calling the Worker

interface Call {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The real Worker with DEV_MODE=true (the pool's Worker runs without it). */
  readonly devMode?: true;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const jsonHeaders = (key: string) => ({ ...bearer(key), "content-type": "application/json" });

async function send(call: Call): Promise<Response> {
  const init = { method: call.method, headers: { "cf-connecting-ip": ip(), ...call.headers }, body: call.body, redirect: "manual" as const };
  if (!call.devMode) return SELF.fetch(`${BASE}${call.path}`, init);
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request<unknown, IncomingRequestCfProperties>(`${BASE}${call.path}`, init), { ...env, DEV_MODE: "true" } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** Which statuses each operation was seen answering with, for the coverage check at the end. */
const seen = new Map<string, Set<number>>();

/**
 * Fails unless the answer is one the operation documents: its status, its
 * media type, its required headers, and a body valid against the schema.
 * The body is consumed.
 */
async function expectDocumented(op: Operation, response: Response): Promise<void> {
  const where = `${op.method.toUpperCase()} ${op.path} → ${response.status}`;
  const documented = op.responses[String(response.status)];
  const contentType = response.headers.get("content-type");
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase() ?? null;
  const spec = documented === undefined ? op.responses.default : resolve(documented);
  if (spec === undefined) throw new Error(`${where}: status not documented (documented: ${Object.keys(op.responses).join(", ")}); body ${await response.text()}`);
  // `default` is an instance's own answer passed through; the orchestrator's own problems are listed by status.
  if (documented === undefined) expect(mediaType, `${where}: an orchestrator problem under \`default\``).not.toBe("application/problem+json");
  (seen.get(op.operationId) ?? seen.set(op.operationId, new Set()).get(op.operationId))?.add(response.status);

  for (const [name, reference] of Object.entries((spec.headers ?? {}) as Record<string, JsonObject>)) {
    const header = resolve(reference);
    const value = response.headers.get(name);
    if (header.required === true) expect(value, `${where}: required header ${name}`).not.toBeNull();
    if (value !== null && header.schema !== undefined) expect(validatorFor(header.schema as JsonObject)(value), `${where}: header ${name}: ${value}`).toBe(true);
  }
  if (response.status === 101) {
    // Only through SELF.fetch, which turns any request with Upgrade: websocket into a GET upgrade
    // (the Worker itself answers a HEAD with 426: test/workers/own-routes.test.ts).
    if (op.method === "head") return;
    const socket = response.webSocket;
    expect(socket, `${where}: a WebSocket`).not.toBeNull();
    socket?.accept();
    socket?.close(1000, "done");
    return;
  }
  const text = await response.text();
  const content = spec.content as Record<string, JsonObject> | undefined;
  if (op.method === "head" || content === undefined) {
    if (documented !== undefined) expect(text, `${where}: no body documented`).toBe("");
    return;
  }
  expect(mediaType, `${where}: content type`).not.toBeNull();
  const media = content[mediaType as string] ?? content[`${(mediaType as string).split("/")[0]}/*`];
  if (media === undefined) throw new Error(`${where}: content type ${contentType} not documented (documented: ${Object.keys(content).join(", ")})`);
  const schema = media.schema as JsonObject | undefined;
  if (schema === undefined) return;
  const body = mediaType === "application/json" || mediaType === "application/problem+json" ? (JSON.parse(text) as unknown) : text;
  const validate = validatorFor(schema);
  if (!validate(body)) throw new Error(`${where}: body does not match the documented schema: ${ajv.errorsText(validate.errors, { separator: "\n  " })}\n${text.slice(0, 2000)}`);
}

// ------------------------------------------------------------------ fixtures

async function control(name: string, mode: string) {
  await (await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}`)).arrayBuffer();
}

async function apiJson(method: string, path: string, key: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await send({ method, path, headers: body === undefined ? bearer(key) : jsonHeaders(key), ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** A service with one instance on the loopback upstream, registered through the API (so this isolate routes it at once). */
async function serviceOn(upstreamName: string | null, mode = "ok"): Promise<{ service: string; id: string; url: string }> {
  const service = unique("oa");
  if (upstreamName !== null) await control(upstreamName, mode);
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const url = upstreamName === null ? "http://127.0.0.1:1/" : `http://127.0.0.1:${port}/i/${upstreamName}`;
  const registered = await apiJson("POST", "/registry/instances", REGISTRATION, { service, url, ttlSeconds: 3600 });
  return { service, id: registered.id as string, url };
}

/** A fresh service with a stable (v1) and a canary (v2) instance on the loopback upstream. */
async function versionedService(): Promise<string> {
  const service = unique("oa-rel");
  for (const version of ["v1", "v2"]) await apiJson("POST", "/registry/instances", REGISTRATION, { service, url: `http://127.0.0.1:${port}/i/${unique("oa-rel")}`, ttlSeconds: 3600, version });
  return service;
}

/** A dry run (never routed) with hour-long steps: nothing moves while the test looks at it. */
const RELEASE = { version: "v2", steps: [10, 50, 100], stepIntervalSeconds: 3600, analysis: { minRequests: 20, maxErrorRatePercent: 5, maxP95VsStable: 1.5 }, stickiness: { source: "header", name: "X-User" }, pinHeader: "X-Version", mirrorPercent: 5, dryRun: true };

/** The path of a release on a fresh service, left running, paused or aborted. */
async function releasePath(state: "running" | "paused" | "aborted" = "running"): Promise<string> {
  const service = await versionedService();
  const release = await apiJson("POST", `/admin/services/${service}/releases`, ADMIN, RELEASE);
  const path = `/admin/services/${service}/releases/${release.id as string}`;
  if (state !== "running") await apiJson("POST", `${path}/${state === "paused" ? "pause" : "abort"}`, ADMIN);
  return path;
}

const fx = {
  ok: { service: "", id: "", url: "" },
  unreachable: { service: "", id: "" },
  hanging: { service: "", id: "" },
  stopped: { service: "", id: "" },
  drained: { service: "", id: "" },
  noSockets: { service: "", id: "" },
  life: { service: "", id: "" },
  silence: "",
};

beforeAll(async () => {
  // The unreachable and hanging fixtures would fire alerts at the shared webhook receivers, which other files read.
  await apiJson("POST", "/admin/silences", ADMIN, { matchers: [{ name: "service", value: "oa-.*", isRegex: true }], durationSeconds: 600, comment: "openapi test fixtures" });
  fx.ok = await serviceOn(unique("oa-ok"));
  fx.unreachable = await serviceOn(null);
  fx.hanging = await serviceOn(unique("oa-hang"), "hang");
  await apiJson("PUT", `/admin/services/${fx.hanging.service}`, ADMIN, { timeoutMs: 100 });
  fx.stopped = await serviceOn(unique("oa-stopped"));
  await apiJson("POST", `/admin/workers/${fx.stopped.service}/stop`, ADMIN);
  fx.drained = await serviceOn(unique("oa-drained"));
  await apiJson("POST", `/admin/workers/${fx.drained.service}/instances/${fx.drained.id}/stop`, ADMIN);
  fx.noSockets = await serviceOn(unique("oa-nows"));
  await apiJson("PUT", `/admin/services/${fx.noSockets.service}`, ADMIN, { websockets: false });
  fx.life = await serviceOn(unique("oa-life"));
  await apiJson("PUT", `/admin/services/${fx.life.service}/autoscaling`, ADMIN, { minInstances: 1, maxInstances: 2, targets: { cpuPercent: 50 }, mode: "dry-run" });
  fx.silence = (await apiJson("POST", "/admin/silences", ADMIN, { matchers: [{ name: "service", value: fx.life.service }], durationSeconds: 600, comment: "openapi test" })).id as string;
});

// ------------------------------------------------------------------ what to call, per operation

interface Case {
  readonly status: number;
  readonly call: () => Call | Promise<Call>;
}

const get = (path: string, headers: Record<string, string> = {}): Call => ({ method: "GET", path, headers });
const withBody = (method: string, path: string, key: string, body: unknown): Call => ({ method, path, headers: jsonHeaders(key), body: JSON.stringify(body) });

async function signIn(): Promise<string> {
  const response = await send({ method: "POST", path: "/admin/login", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `key=${ADMIN}` });
  await response.arrayBuffer();
  return (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

const manyHeaders = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`x-filler-${i}`, "1"]));

const CASES: Record<string, readonly Case[]> = {
  getHealth: [
    { status: 200, call: () => get("/health") },
    { status: 400, call: () => get("/health", { x_forwarded_for: "1.2.3.4" }) },
    { status: 431, call: () => get("/health", manyHeaders) },
  ],
  getWorkersHealth: [{ status: 200, call: () => get("/health/workers") }],
  getOpenApi: [{ status: 200, call: () => get("/openapi.json") }],
  getRoot: [{ status: 404, call: () => get("/") }],

  getMetrics: [
    { status: 200, call: () => get("/metrics") },
    { status: 200, call: () => get("/metrics?format=prometheus") },
    { status: 200, call: () => get("/metrics", { accept: "text/plain" }) },
    { status: 400, call: () => get("/metrics?format=xml") },
  ],
  getWorkerMetrics: [
    { status: 200, call: () => get(`/metrics/worker/${fx.ok.service}`) },
    { status: 200, call: () => get(`/metrics/worker/${fx.ok.service}?format=prometheus`) },
    { status: 400, call: () => get("/metrics/worker/Not_A_Name") },
    { status: 404, call: () => get(`/metrics/worker/${unique("oa-none")}`) },
  ],

  listRegistryServices: [
    { status: 200, call: () => get("/registry/services", bearer(REGISTRATION)) },
    { status: 200, call: () => get("/registry/services", bearer(TEST_KEYS.banking)) },
    { status: 401, call: () => get("/registry/services") },
  ],
  registerInstance: [
    { status: 201, call: () => withBody("POST", "/registry/instances", REGISTRATION, { service: fx.ok.service, url: `http://127.0.0.1:${port}/i/${unique("oa-extra")}`, weight: 2, metadata: { zone: "a" }, ttlSeconds: 3600 }) },
    { status: 400, call: () => withBody("POST", "/registry/instances", REGISTRATION, { service: fx.ok.service }) },
    { status: 400, call: () => ({ method: "POST", path: "/registry/instances", headers: jsonHeaders(REGISTRATION), body: "{not json" }) },
    { status: 401, call: () => withBody("POST", "/registry/instances", "wrong-token-0123456789", { service: fx.ok.service, url: "http://127.0.0.1:9/" }) },
    { status: 403, call: () => withBody("POST", "/registry/instances", TEST_KEYS.banking, { service: fx.ok.service, url: "http://127.0.0.1:9/" }) },
    { status: 403, call: () => withBody("POST", "/registry/instances", TEST_KEYS.viewer, { service: fx.ok.service, url: "http://127.0.0.1:9/" }) },
    { status: 409, call: () => withBody("POST", "/registry/instances", REGISTRATION, { service: fx.ok.service, url: fx.ok.url }) },
    { status: 413, call: () => withBody("POST", "/registry/instances", REGISTRATION, { service: fx.ok.service, url: "http://127.0.0.1:9/", comment: "x".repeat(20_000) }) },
    { status: 415, call: () => ({ method: "POST", path: "/registry/instances", headers: { ...bearer(REGISTRATION), "content-type": "text/plain" }, body: "{}" }) },
  ],
  heartbeatInstance: [
    { status: 200, call: () => withBody("PUT", `/registry/instances/${fx.ok.id}/heartbeat`, REGISTRATION, { inflight: 1, cpu: 12.5 }) },
    { status: 200, call: () => ({ method: "PUT", path: `/registry/instances/${fx.ok.id}/heartbeat`, headers: bearer(REGISTRATION) }) },
    { status: 400, call: () => withBody("PUT", `/registry/instances/${fx.ok.id}/heartbeat`, REGISTRATION, { cpu: 101 }) },
    { status: 404, call: () => ({ method: "PUT", path: `/registry/instances/${crypto.randomUUID()}/heartbeat`, headers: bearer(REGISTRATION) }) },
  ],
  deregisterInstance: [
    {
      status: 200,
      call: async () => {
        const { id } = await apiJson("POST", "/registry/instances", REGISTRATION, { service: fx.ok.service, url: `http://127.0.0.1:${port}/i/${unique("oa-gone")}`, ttlSeconds: 3600 });
        return { method: "DELETE", path: `/registry/instances/${id as string}`, headers: bearer(REGISTRATION) };
      },
    },
    { status: 404, call: () => ({ method: "DELETE", path: `/registry/instances/${crypto.randomUUID()}`, headers: bearer(REGISTRATION) }) },
    { status: 401, call: () => ({ method: "DELETE", path: `/registry/instances/${fx.ok.id}` }) },
  ],

  listServices: [
    { status: 200, call: () => get("/admin/services", bearer(TEST_KEYS.viewer)) },
    { status: 401, call: () => get("/admin/services") },
  ],
  configureService: [
    { status: 201, call: () => withBody("PUT", `/admin/services/${unique("oa-new")}`, ADMIN, { strategy: "weighted", websockets: false, affinity: { source: "header", name: "X-User-Id" } }) },
    { status: 200, call: () => withBody("PUT", `/admin/services/${fx.ok.service}`, ADMIN, { healthCheck: { path: "/", intervalMs: 60000 }, weights: { [fx.ok.id]: 3 } }) },
    { status: 400, call: () => withBody("PUT", `/admin/services/${fx.ok.service}`, ADMIN, {}) },
    { status: 403, call: () => withBody("PUT", `/admin/services/${fx.ok.service}`, TEST_KEYS.operator, { strategy: "weighted" }) },
    { status: 415, call: () => ({ method: "PUT", path: `/admin/services/${fx.ok.service}`, headers: { ...bearer(ADMIN), "content-type": "text/plain" }, body: "{}" }) },
  ],
  setAutoscalePolicy: [
    { status: 200, call: () => withBody("PUT", `/admin/services/${fx.life.service}/autoscaling`, ADMIN, { minInstances: 1, maxInstances: 3, targets: { inflightPerInstance: 10, p95Ms: 500 }, mode: "dry-run", scaleUp: { maxInstancesPer15s: 2 } }) },
    { status: 400, call: () => withBody("PUT", `/admin/services/${fx.life.service}/autoscaling`, ADMIN, { minInstances: 3, maxInstances: 1, targets: {} }) },
    { status: 404, call: () => withBody("PUT", `/admin/services/${unique("oa-none")}/autoscaling`, ADMIN, { minInstances: 1, maxInstances: 2, targets: { cpuPercent: 50 } }) },
  ],
  removeAutoscalePolicy: [
    {
      status: 200,
      call: async () => {
        const { service } = await serviceOn(unique("oa-scale"));
        return { method: "DELETE", path: `/admin/services/${service}/autoscaling`, headers: bearer(ADMIN) };
      },
    },
    { status: 404, call: () => ({ method: "DELETE", path: `/admin/services/${unique("oa-none")}/autoscaling`, headers: bearer(ADMIN) }) },
    { status: 400, call: () => ({ method: "DELETE", path: "/admin/services/Bad_Name/autoscaling", headers: bearer(ADMIN) }) },
  ],
  listAutoscaling: [{ status: 200, call: () => get("/admin/autoscaling", bearer(ADMIN)) }],

  startRelease: [
    { status: 201, call: async () => withBody("POST", `/admin/services/${await versionedService()}/releases`, ADMIN, RELEASE) },
    { status: 400, call: () => withBody("POST", `/admin/services/${fx.ok.service}/releases`, ADMIN, { ...RELEASE, steps: [50, 40, 100] }) },
    { status: 403, call: () => withBody("POST", `/admin/services/${fx.ok.service}/releases`, TEST_KEYS.operator, RELEASE) },
    { status: 404, call: () => withBody("POST", `/admin/services/${unique("oa-none")}/releases`, ADMIN, RELEASE) },
    { status: 409, call: async () => withBody("POST", (await releasePath()).replace(/\/[^/]+$/, ""), ADMIN, RELEASE) },
    { status: 415, call: () => ({ method: "POST", path: `/admin/services/${fx.ok.service}/releases`, headers: { ...bearer(ADMIN), "content-type": "text/plain" }, body: "{}" }) },
  ],
  listReleases: [
    { status: 200, call: async () => get((await releasePath("aborted")).replace(/\/[^/]+$/, ""), bearer(TEST_KEYS.viewer)) },
    { status: 400, call: () => get("/admin/services/Bad_Name/releases", bearer(ADMIN)) },
    { status: 404, call: () => get(`/admin/services/${unique("oa-none")}/releases`, bearer(ADMIN)) },
  ],
  getRelease: [
    { status: 200, call: async () => get(await releasePath(), bearer(TEST_KEYS.viewer)) },
    { status: 400, call: () => get(`/admin/services/Bad_Name/releases/${crypto.randomUUID()}`, bearer(ADMIN)) },
    { status: 404, call: () => get(`/admin/services/${fx.ok.service}/releases/${crypto.randomUUID()}`, bearer(ADMIN)) },
  ],
  promoteRelease: [
    { status: 200, call: async () => ({ method: "POST", path: `${await releasePath()}/promote`, headers: bearer(TEST_KEYS.operator) }) },
    { status: 404, call: () => ({ method: "POST", path: `/admin/services/${fx.ok.service}/releases/${crypto.randomUUID()}/promote`, headers: bearer(ADMIN) }) },
    { status: 409, call: async () => ({ method: "POST", path: `${await releasePath("aborted")}/promote`, headers: bearer(ADMIN) }) },
  ],
  abortRelease: [
    { status: 200, call: async () => ({ method: "POST", path: `${await releasePath("paused")}/abort`, headers: bearer(TEST_KEYS.operator) }) },
    { status: 403, call: async () => ({ method: "POST", path: `${await releasePath()}/abort`, headers: bearer(TEST_KEYS.viewer) }) },
    { status: 409, call: async () => ({ method: "POST", path: `${await releasePath("aborted")}/abort`, headers: bearer(ADMIN) }) },
  ],
  pauseRelease: [
    { status: 200, call: async () => ({ method: "POST", path: `${await releasePath()}/pause`, headers: bearer(TEST_KEYS.operator) }) },
    { status: 409, call: async () => ({ method: "POST", path: `${await releasePath("paused")}/pause`, headers: bearer(ADMIN) }) },
  ],
  resumeRelease: [
    { status: 200, call: async () => ({ method: "POST", path: `${await releasePath("paused")}/resume`, headers: bearer(TEST_KEYS.operator) }) },
    { status: 400, call: () => ({ method: "POST", path: `/admin/services/Bad_Name/releases/${crypto.randomUUID()}/resume`, headers: bearer(ADMIN) }) },
    { status: 409, call: async () => ({ method: "POST", path: `${await releasePath()}/resume`, headers: bearer(ADMIN) }) },
  ],

  serviceLifecycle: [
    { status: 200, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/stop`, headers: bearer(TEST_KEYS.operator) }) },
    { status: 200, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/start`, headers: bearer(TEST_KEYS.operator) }) },
    { status: 200, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/restart`, headers: bearer(ADMIN) }) },
    { status: 403, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/stop`, headers: bearer(TEST_KEYS.viewer) }) },
    { status: 404, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/jump`, headers: bearer(ADMIN) }) },
    { status: 404, call: () => ({ method: "POST", path: `/admin/workers/${unique("oa-none")}/stop`, headers: bearer(ADMIN) }) },
  ],
  instanceLifecycle: [
    { status: 200, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/instances/${fx.life.id}/stop`, headers: bearer(ADMIN) }) },
    { status: 200, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/instances/${fx.life.id}/start`, headers: bearer(ADMIN) }) },
    { status: 404, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/instances/${crypto.randomUUID()}/stop`, headers: bearer(ADMIN) }) },
    { status: 401, call: () => ({ method: "POST", path: `/admin/workers/${fx.life.service}/instances/${fx.life.id}/stop` }) },
  ],
  getAudit: [
    { status: 200, call: () => get("/admin/audit?limit=5", bearer(ADMIN)) },
    { status: 400, call: () => get("/admin/audit?limit=0", bearer(ADMIN)) },
  ],

  getAlerts: [{ status: 200, call: () => get("/admin/alerts", bearer(TEST_KEYS.viewer)) }],
  listSilences: [{ status: 200, call: () => get("/admin/silences", bearer(ADMIN)) }],
  createSilence: [
    { status: 201, call: () => withBody("POST", "/admin/silences", TEST_KEYS.operator, { matchers: [{ name: "alertname", value: "High.*", isRegex: true }, { name: "service", value: fx.ok.service }], durationSeconds: 60, comment: "openapi test" }) },
    { status: 400, call: () => withBody("POST", "/admin/silences", ADMIN, { matchers: [], comment: "" }) },
    { status: 403, call: () => withBody("POST", "/admin/silences", TEST_KEYS.viewer, { matchers: [{ name: "service", value: "x" }], durationSeconds: 60, comment: "no" }) },
  ],
  expireSilence: [
    { status: 200, call: () => ({ method: "DELETE", path: `/admin/silences/${fx.silence}`, headers: bearer(ADMIN) }) },
    { status: 404, call: () => ({ method: "DELETE", path: `/admin/silences/${crypto.randomUUID()}`, headers: bearer(ADMIN) }) },
  ],

  getDashboard: [
    { status: 200, call: () => get("/admin/dashboard") },
    { status: 200, call: () => get("/admin/dashboard", bearer(TEST_KEYS.viewer)) },
  ],
  signIn: [
    { status: 303, call: () => ({ method: "POST", path: "/admin/login", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `key=${TEST_KEYS.viewer}` }) },
    { status: 303, call: () => ({ method: "POST", path: "/admin/login", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "key=wrong" }) },
    { status: 415, call: () => ({ method: "POST", path: "/admin/login", headers: { "content-type": "application/json" }, body: "{}" }) },
  ],
  signOut: [
    { status: 303, call: async () => ({ method: "POST", path: "/admin/logout", headers: { cookie: await signIn(), origin: BASE } }) },
    { status: 403, call: async () => ({ method: "POST", path: "/admin/logout", headers: { cookie: await signIn(), origin: "https://evil.example" } }) },
  ],
  getDashboardState: [
    // With a release on the dashboard (running, and one ended), so their summaries are checked against the document too.
    {
      status: 200,
      call: async () => {
        await releasePath();
        await releasePath("aborted");
        return get("/admin/dashboard/state", { cookie: await signIn() });
      },
    },
    { status: 401, call: () => get("/admin/dashboard/state") },
  ],
  getDashboardLive: [
    { status: 101, call: () => get("/admin/dashboard/live", { ...bearer(ADMIN), upgrade: "websocket" }) },
    { status: 426, call: () => get("/admin/dashboard/live", bearer(ADMIN)) },
    { status: 403, call: async () => get("/admin/dashboard/live", { cookie: await signIn(), upgrade: "websocket", origin: "https://evil.example" }) },
    { status: 401, call: () => get("/admin/dashboard/live", { upgrade: "websocket" }) },
  ],
  getDashboardAsset: [
    { status: 200, call: () => get("/admin/dashboard/assets/app.js") },
    { status: 200, call: () => get("/admin/dashboard/assets/dashboard.css") },
    { status: 404, call: () => get("/admin/dashboard/assets/nothing.js") },
  ],
  getDashboardVendorAsset: [
    { status: 200, call: () => get("/admin/dashboard/assets/vendor/uPlot.min.css") },
    { status: 404, call: () => get("/admin/dashboard/assets/vendor/nothing.js") },
  ],

  getDebugConfig: [
    { status: 200, call: () => ({ ...get("/debug/config", bearer(ADMIN)), devMode: true }) },
    { status: 403, call: () => ({ ...get("/debug/config", bearer(TEST_KEYS.operator)), devMode: true }) },
    { status: 404, call: () => get("/debug/config", bearer(ADMIN)) },
  ],
  getDebugRegistry: [
    { status: 200, call: () => ({ ...get("/debug/registry", bearer(ADMIN)), devMode: true }) },
    { status: 401, call: () => ({ ...get("/debug/registry"), devMode: true }) },
  ],
  getDebugDoCalls: [{ status: 200, call: () => ({ ...get("/debug/do-calls", bearer(ADMIN)), devMode: true }) }],

  proxyGetPath: [
    { status: 200, call: () => get(`/${fx.ok.service}/users/7?expand=1`) },
    { status: 400, call: () => get(`/${fx.ok.service}/a%2fb`) },
    { status: 404, call: () => get(`/${unique("oa-none")}/x`) },
    { status: 404, call: () => get(`/${fx.ok.service}/__lifecycle/restart`) },
    { status: 502, call: () => get(`/${fx.unreachable.service}/x`) },
    { status: 503, call: () => get(`/${fx.stopped.service}/x`) },
    { status: 503, call: () => get(`/${fx.drained.service}/x`) },
    { status: 504, call: () => get(`/${fx.hanging.service}/x`) },
    { status: 101, call: () => get(`/${fx.ok.service}/ws/echo`, { upgrade: "websocket" }) },
    { status: 403, call: () => get(`/${fx.noSockets.service}/ws/echo`, { upgrade: "websocket" }) },
  ],
  proxyGetRoot: [{ status: 200, call: () => get(`/${fx.ok.service}`) }],
  proxyOptionsPath: [
    { status: 200, call: () => ({ method: "OPTIONS", path: `/${fx.ok.service}/x` }) },
    { status: 204, call: () => ({ method: "OPTIONS", path: `/${fx.ok.service}/x`, headers: { origin: "https://app.example.com", "access-control-request-method": "PUT" } }) },
  ],
};

// Every other proxied method: one call through to the instance.
// (HEAD is called after every GET case, as the GET route's HEAD.)
for (const method of ["put", "post", "delete", "patch", "options"]) {
  for (const [suffix, path] of [["Path", "/x/y"], ["Root", ""]] as const) {
    const id = `proxy${method[0]?.toUpperCase()}${method.slice(1)}${suffix}`;
    CASES[id] ??= [];
    (CASES[id] as Case[]).push({ status: 200, call: () => ({ method: method.toUpperCase(), path: `/${fx.ok.service}${path}`, ...(method === "put" || method === "post" || method === "patch" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}) }) });
  }
}

/** Path templates with their parameters filled in: the first enum value, or a sample. */
function samplePath(template: string): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => ({ action: "stop", file: "app.js", path: "a/b", service: "svc" })[name] ?? "sample");
}

/** A regex matching the concrete paths of a template ({path} spans segments). */
function templatePattern(template: string): RegExp {
  const source = template.replace(/[.]/g, "\\.").replace(/\{(\w+)\}/g, (_m, name: string) => (name === "path" ? ".+" : "[^/]+"));
  return new RegExp(`^${source}$`);
}

// ------------------------------------------------------------------ the tests

describe("GET /openapi.json", () => {
  it("serves the OpenAPI 3.1 document, the same on every request", async () => {
    const first = await send(get("/openapi.json"));
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toMatch(/^application\/json/);
    const text = await first.text();
    expect(JSON.parse(text)).toEqual(DOCUMENT);
    const again = await send(get("/openapi.json"));
    expect(await again.text()).toBe(text);
    const head = await send({ method: "HEAD", path: "/openapi.json" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(DOCUMENT.openapi).toBe("3.1.0");
    // Every component schema compiles (draft 2020-12, formats included).
    for (const name of Object.keys((DOCUMENT.components as JsonObject).schemas as JsonObject)) expect(() => validatorFor({ $ref: `#/components/schemas/${name}` }), name).not.toThrow();
  });

  it("documents every route of OWN_ROUTES with exactly its methods, and every documented path is routed", () => {
    const own = OPERATIONS.filter((op) => !PROXY_PATHS.has(op.path));
    for (const [pattern, methods] of OWN_ROUTES) {
      const documented = new Set(own.filter((op) => pattern.test(samplePath(op.path))).map((op) => op.method.toUpperCase()));
      expect([...documented].sort(), String(pattern)).toEqual([...methods].sort());
    }
    // The router's own routes (not the catch-all proxy) each have a documented path and method…
    const routes = (router as unknown as { routes: Array<[string, RegExp, unknown, string]> }).routes;
    for (const [method, , , route] of routes) {
      if (route === "*") continue;
      // itty keeps "/" as "".
      const sample = (route || "/").replace(/:\w+/g, "sample").replace(/\*$/, "app.js");
      const documented = own.some((op) => op.method === method.toLowerCase() && templatePattern(op.path).test(sample));
      expect(documented, `${method} ${route}`).toBe(true);
    }
    expect(routes.filter(([, , , route]) => route === "*").map(([method]) => method)).toEqual(["ALL"]);
    // …and every documented path and method reaches a route of its own (HEAD is GET without the body), the proxy only the catch-all.
    for (const op of OPERATIONS) {
      const method = op.method === "head" ? "GET" : op.method.toUpperCase();
      const sample = samplePath(op.path);
      const matched = routes.find(([m, regex]) => (m === method || m === "ALL") && regex.test(sample));
      expect(matched?.[3], `${op.method} ${op.path}`).toBe(PROXY_PATHS.has(op.path) ? "*" : matched?.[3] === "*" ? "(not the proxy)" : matched?.[3]);
    }
  });

  it("answers a wrong method on every orchestrator path with 405 and Allow listing exactly the documented methods", async () => {
    // Not the debug routes, the dashboard's files or "/": OWN_ROUTES does not list them, and a wrong
    // method there answers 404 (the debug routes and files) or 404 unknown-service ("/"), not 405.
    const byPath = new Map<string, Set<string>>();
    for (const op of OPERATIONS) if (!PROXY_PATHS.has(op.path) && !op.path.startsWith("/debug/") && !op.path.startsWith("/admin/dashboard/assets/") && op.path !== "/") {
      (byPath.get(op.path) ?? byPath.set(op.path, new Set()).get(op.path))?.add(op.method.toUpperCase());
    }
    const problem = validatorFor({ $ref: "#/components/schemas/Problem" });
    for (const [path, methods] of byPath) {
      const response = await send({ method: "PATCH", path: samplePath(path) });
      const body = (await response.json()) as { type: string; allowed: string[] };
      expect(response.status, path).toBe(405);
      expect(problem(body), `${path}: ${ajv.errorsText(problem.errors)}`).toBe(true);
      expect(body.type).toBe("urn:orchestrator:problem:method-not-allowed");
      expect(response.headers.get("allow")?.split(", ").sort(), path).toEqual([...methods].sort());
      expect([...body.allowed].sort()).toEqual([...methods].sort());
    }
  });

  it("answers 429 with a documented problem once a rate-limit class is used up", async () => {
    const op = operation("get", "/admin/dashboard");
    const client = ip();
    let last: Response | undefined;
    for (let i = 0; i < 12; i++) {
      if (last) await last.arrayBuffer();
      last = await SELF.fetch(`${BASE}/admin/dashboard`, { headers: { "cf-connecting-ip": client } });
    }
    expect(last?.status).toBe(429);
    expect(last?.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    await expectDocumented(op, last as Response);
  });

  describe.each(OPERATIONS.filter((op) => op.method !== "head"))("$method $path ($operationId)", (op) => {
    const cases = CASES[op.operationId] ?? [];

    it("has a call for its success status", () => {
      const successes = Object.keys(op.responses).filter((status) => status !== "default" && Number(status) < 400).map(Number);
      if (successes.length === 0) expect(cases.length, `no call for ${op.operationId}`).toBeGreaterThan(0);
      else expect(cases.some((c) => successes.includes(c.status) || (op.responses.default !== undefined && c.status < 400)), `no success call for ${op.operationId}`).toBe(true);
    });

    it.each(cases.map((c, index) => ({ ...c, index })))("answers $status as documented (call $index)", async ({ status, call }) => {
      const request = await call();
      const response = await send(request);
      if (response.status !== status) throw new Error(`expected ${status}, got ${response.status}: ${await response.text()}`);
      await expectDocumented(op, response);
      // HEAD on a GET route: the same status, documented for HEAD, without a body. Not for a proxied
      // WebSocket upgrade: SELF.fetch would turn the HEAD into a GET upgrade, and a real HEAD is never one.
      const proxiedUpgrade = PROXY_PATHS.has(op.path) && request.headers?.upgrade !== undefined;
      if (op.method === "get" && !proxiedUpgrade) {
        const headOp = OPERATIONS.find((other) => other.path === op.path && other.method === "head");
        expect(headOp, `HEAD ${op.path} is documented`).toBeDefined();
        const head = await send({ ...request, method: "HEAD" });
        expect(head.status).toBe(status);
        await expectDocumented(headOp as Operation, head);
      }
    });
  });

  it("saw every documented operation answer, with its success status where it has one", () => {
    for (const op of OPERATIONS) {
      const statuses = seen.get(op.operationId);
      expect(statuses, `${op.operationId} was never called`).toBeDefined();
      const successes = Object.keys(op.responses).filter((s) => s !== "default" && Number(s) < 400);
      const passedThrough = op.responses.default !== undefined && [...(statuses ?? [])].some((s) => s < 400 && op.responses[String(s)] === undefined);
      if (successes.length > 0) expect(successes.some((s) => statuses?.has(Number(s))) || passedThrough, `${op.operationId}: no success seen`).toBe(true);
    }
  });
});
