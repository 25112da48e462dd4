/**
 * The bundled orchestrator on plain workerd for a bench run: its settings, its
 * workerd config (Durable Object SQLite files on disk or tmpfs), starting it with
 * the two "bench" instances registered, and a small client for its API.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { orchestratorWorkerdConfig } from "../workerd-config.mjs";
import { COMPATIBILITY_DATE, HOST, RATE_LIMIT, say } from "./config.mjs";
import { round } from "./format.mjs";
import { startWorkerd } from "./workerd.mjs";

/** The settings of every orchestrator row (ACCESS_LOG comes per row): development, rate limits out of the way. */
export function orchestratorVars(adminKey, registrationToken) {
  return {
    ENVIRONMENT: "development",
    DEV_MODE: "true",
    LB_STRATEGY: "round-robin",
    ORCHESTRATOR_API_KEY: adminKey,
    REGISTRATION_TOKEN: registrationToken,
    RATE_LIMIT_PERIOD_SECONDS: "60",
    RATE_LIMIT_GENERAL: RATE_LIMIT,
    RATE_LIMIT_HEALTH: RATE_LIMIT,
    RATE_LIMIT_REGISTRY: RATE_LIMIT,
    RATE_LIMIT_ADMIN: RATE_LIMIT,
    AUTH_FAILURE_LIMIT: RATE_LIMIT,
    RATE_LIMIT_METRICS: RATE_LIMIT,
    HEALTH_CHECK_INTERVAL_MS: "1000",
  };
}

export function redactedVars(vars) {
  return { ...vars, ORCHESTRATOR_API_KEY: "[random]", REGISTRATION_TOKEN: "[random]" };
}

function tmpfsRoot() {
  if (!existsSync("/dev/shm")) throw new Error("--storage=tmpfs needs /dev/shm");
  return "/dev/shm";
}

function orchestratorConfig(session, { name, port, storage: storageKind, accessLog, bundleDir, adminKey, registrationToken, extraVars }) {
  const dir = join(session.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(bundleDir, "index.js"), join(dir, "index.js"));
  // SQLite-backed Durable Objects need localDisk storage: workerd's inMemory storage has no SQL API.
  const storageDir = storageKind === "tmpfs" ? mkdtempSync(join(tmpfsRoot(), "orchestrator-bench-do-")) : join(dir, "do-storage");
  mkdirSync(storageDir, { recursive: true });
  if (storageKind === "tmpfs") session.addExtraDir(storageDir);
  const vars = { ...orchestratorVars(adminKey, registrationToken), ACCESS_LOG: accessLog, ...extraVars };
  return orchestratorWorkerdConfig({ host: HOST, port, storageDir, vars, uniqueKeyPrefix: "orchestrator-bench", compatibilityDate: COMPATIBILITY_DATE });
}

/**
 * Starts the bundled orchestrator on plain workerd and registers one instance of "bench" per upstream port
 * (none for an empty list). `extraVars` override orchestratorVars for this process (the health-sweep scale checks).
 *
 * @param {ReturnType<typeof import("./session.mjs").createSession>} session
 */
export async function startOrchestrator(session, name, port, storage, accessLog, bundleDir, upstreamPorts, extraVars = {}) {
  const adminKey = randomBytes(24).toString("hex");
  const registrationToken = randomBytes(24).toString("hex");
  say(`starting the orchestrator on workerd :${port} (Durable Object storage: ${storage})`);
  const entry = await startWorkerd(session, name, orchestratorConfig(session, { name, port, storage, accessLog, bundleDir, adminKey, registrationToken, extraVars }), `http://${HOST}:${port}/health`);
  const client = orchestratorClient(`http://${HOST}:${port}`, adminKey, registrationToken);
  const instanceIds = [];
  for (const upstreamPort of upstreamPorts) {
    // Two distinct URLs (two nginx ports), since one URL registers once per service.
    // ttlSeconds: the schema's maximum, so the instances stay passing for the whole run (heartbeats are sent too).
    const registered = await client.call("POST", "/registry/instances", "registration", { service: "bench", url: `http://${HOST}:${upstreamPort}`, ttlSeconds: 3600 });
    expectStatus(registered, [201], "registering an instance");
    instanceIds.push(registered.json.id);
  }
  if (instanceIds.length > 0) say(`registered ${instanceIds.length} instances of "bench": ${instanceIds.join(", ")}`);
  return { ...client, entry, instanceIds, port };
}

function orchestratorClient(baseUrl, adminKey, registrationToken) {
  const tokens = { admin: adminKey, registration: registrationToken };
  const call = async (method, path, auth, body) => {
    const headers = {};
    if (auth) headers.authorization = `Bearer ${tokens[auth]}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { method, path, status: response.status, text, json };
  };
  return {
    call,
    async doCalls() {
      const r = await call("GET", "/debug/do-calls", "admin");
      expectStatus(r, [200], "reading /debug/do-calls");
      return r.json;
    },
  };
}

export function expectStatus(response, statuses, what) {
  if (!statuses.includes(response.status)) {
    throw new Error(`${what}: ${response.method} ${response.path} answered ${response.status}: ${response.text.slice(0, 500)}`);
  }
}

/** Durable Object calls between two readings of GET /debug/do-calls, in all and per proxied request. */
export function doCallDelta(before, after) {
  const proxiedRequests = after.proxiedRequests - before.proxiedRequests;
  const calls = {};
  for (const kind of Object.keys(after.calls)) calls[kind] = after.calls[kind] - (before.calls[kind] ?? 0);
  // The "after" reading is itself rate-limited, so it made one RateLimiterDO call of its own.
  if (typeof calls.rateLimiter === "number") calls.rateLimiter = Math.max(0, calls.rateLimiter - 1);
  const perProxiedRequest = Object.fromEntries(Object.entries(calls).map(([kind, n]) => [kind, proxiedRequests > 0 ? round(n / proxiedRequests, 3) : null]));
  return { proxiedRequests, calls, perProxiedRequest };
}
