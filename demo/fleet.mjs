/**
 * The local demo fleet: a few tiny HTTP services on 127.0.0.1 that register
 * themselves with the orchestrator, heartbeat, and deregister on the way out,
 * exactly as a real instance would. Node built-ins, and `ws` for WebSockets.
 *
 *   node demo/fleet.mjs            # uses ORCHESTRATOR_URL, the token and LIFECYCLE_HOOK_SECRET from env or .dev.vars
 *
 * or from code:
 *
 *   const fleet = await startFleet({ orchestratorUrl, token });
 *   ...
 *   await fleet.stop();
 *
 * Every instance answers any request with JSON describing itself and what it
 * received (so you can see which instance the load balancer picked and which
 * forwarding headers the orchestrator added), and `GET /health` with {status:"ok"}.
 * Given a hookSecret (LIFECYCLE_HOOK_SECRET), it also answers the orchestrator's
 * signed lifecycle hook, `POST /__lifecycle/restart`, checking the signature
 * as a real instance should (demo/hook-signature.mjs).
 *
 * Every instance also accepts WebSockets on /ws/echo (echoes each message) and
 * /ws/feed (a JSON tick a second), and refuses other upgrade paths with 404
 * (demo/websockets.mjs). `kill()` drops its open connections without a close
 * frame, as a crash would; `stop()` closes them with 1001.
 *
 * Faults can be injected per instance (`hang()`, `slow(ms)`, `flap(ms)`, `fail()`,
 * `heal()`, `kill()`, `restart()`), over HTTP through the fleet's control endpoint
 * (demo/fleet-control.mjs), which `npm start` and `node demo/fleet.mjs` run on
 * FLEET_CONTROL_PORT (default: the port below FLEET_BASE_PORT, 9100).
 *
 * Every instance registers with a version (`v1` unless told otherwise), and
 * `addInstance(service, { version })` starts one more instance of a service
 * with another version: a canary for a release (docs/api.md#admin-releases),
 * made faulty on demand with `fail()` (500 to every request, while its health
 * check still passes, as a bad build's would).
 */
import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startFleetControl } from "./fleet-control.mjs";
import { verifyLifecycleHook } from "./hook-signature.mjs";
import { createWebSocketEndpoints, isWebSocketUpgrade, refuseUpgrade } from "./websockets.mjs";

export const DEFAULT_SERVICES = ["main-bot", "api", "banking", "security", "frontend", "analytics"];

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REQUEST_TIMEOUT_MS = 5_000;
const MAX_PORT_ATTEMPTS = 200;
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5_000;
const NOT_CONFIGURED = "urn:orchestrator:problem:not-configured";

/**
 * Starts the fleet: one HTTP server per instance, each registered with the
 * orchestrator. Resolves once every instance is listening and registered
 * (registration retries with backoff until the orchestrator answers).
 *
 * @param {object} options
 * @param {string} options.orchestratorUrl  e.g. http://127.0.0.1:8787
 * @param {string} options.token            REGISTRATION_TOKEN or ORCHESTRATOR_API_KEY
 * @param {number} [options.basePort=9101]  first port tried; a busy port is skipped
 * @param {string[]} [options.services]     service names (default: the six seed services)
 * @param {number} [options.instancesPerService=2]
 * @param {string} [options.version="v1"]   the version every instance registers with
 * @param {string} [options.hookSecret]     LIFECYCLE_HOOK_SECRET; without it POST /__lifecycle/restart answers 404
 * @param {((message: string) => void) | null} [options.log]  null or false for silence
 * @param {AbortSignal} [options.signal]    aborting stops the fleet (also while it is still registering)
 * @returns {Promise<{ instances: FleetInstance[], stop: () => Promise<void>, addInstance: (service: string, options?: { version?: string }) => Promise<FleetInstance>, removeInstance: (instance: FleetInstance) => Promise<void> }>}
 */
export async function startFleet({
  orchestratorUrl,
  token,
  basePort = 9101,
  services = DEFAULT_SERVICES,
  instancesPerService = 2,
  version = "v1",
  hookSecret,
  log = (message) => console.log(`[fleet] ${message}`),
  signal,
} = {}) {
  if (!orchestratorUrl) throw new TypeError("startFleet: orchestratorUrl is required");
  if (!token) throw new TypeError("startFleet: token is required (REGISTRATION_TOKEN or ORCHESTRATOR_API_KEY)");
  const say = typeof log === "function" ? log : () => {};
  const base = String(orchestratorUrl).replace(/\/+$/, "");
  const lifetime = new AbortController();
  // Every instance's pending requests and back-off timers listen to it.
  setMaxListeners(0, lifetime.signal);
  // Twelve instances waiting for the same orchestrator should say so once, not twelve times.
  let lastNotReadyAt = 0;
  const notReady = (message) => {
    const now = Date.now();
    if (now - lastNotReadyAt < 10_000) return;
    lastNotReadyAt = now;
    say(message);
  };
  /** @type {FleetInstance[]} */
  const instances = [];
  let stopping = null;

  const stop = () => {
    stopping ??= (async () => {
      lifetime.abort(new Error("fleet stopped"));
      await Promise.all(instances.map((instance) => instance.stop()));
      say(`stopped ${instances.length} instance(s)`);
    })();
    return stopping;
  };

  const onAbort = () => void stop();
  if (signal?.aborted) throw abortError(signal);
  signal?.addEventListener("abort", onAbort, { once: true });

  try {
    let nextPort = basePort;
    for (const service of services) {
      for (let n = 1; n <= instancesPerService; n++) {
        const instance = new FleetInstance({
          service,
          name: `${service}-${n}`,
          version,
          orchestratorUrl: base,
          token,
          hookSecret,
          say,
          notReady,
          lifetime: lifetime.signal,
        });
        instances.push(instance);
        nextPort = (await instance.listen(nextPort)) + 1;
      }
    }
    say(`${instances.length} instance(s) listening on 127.0.0.1:${instances[0]?.port}-${instances.at(-1)?.port}; registering with ${base}`);
    await Promise.all(instances.map((instance) => instance.register()));
    for (const instance of instances) instance.startHeartbeats();
    say(`all ${instances.length} instance(s) registered`);
  } catch (error) {
    await stop();
    signal?.removeEventListener("abort", onAbort);
    throw signal?.aborted ? abortError(signal) : error;
  }

  /**
   * One more instance of `service` with `version` (a canary), named `<service>-<version>`
   * (then `-2`, `-3`…), on the next free port: listening, registered and heartbeating.
   */
  const addInstance = async (service, { version: canaryVersion = "v2" } = {}) => {
    if (lifetime.signal.aborted) throw new Error("the fleet is stopped");
    const taken = new Set(instances.map((i) => i.name));
    let name = `${service}-${canaryVersion}`;
    for (let n = 2; taken.has(name); n++) name = `${service}-${canaryVersion}-${n}`;
    const instance = new FleetInstance({ service, name, version: canaryVersion, orchestratorUrl: base, token, hookSecret, say, notReady, lifetime: lifetime.signal });
    try {
      await instance.listen(Math.max(basePort, ...instances.map((i) => i.port)) + 1);
      await instance.register();
    } catch (error) {
      await instance.stop();
      throw error;
    }
    instance.startHeartbeats();
    instances.push(instance);
    say(`${name} (${service} ${canaryVersion}) listening on ${instance.url}, registered as ${instance.id}`);
    return instance;
  };

  /** Deregisters and stops one instance for good, and forgets it. */
  const removeInstance = async (instance) => {
    const index = instances.indexOf(instance);
    if (index >= 0) instances.splice(index, 1);
    await instance.stop();
  };

  return { instances, stop, addInstance, removeInstance };
}

/** One demo instance: an HTTP server plus its registration lifecycle. */
export class FleetInstance {
  constructor({ service, name, version = null, orchestratorUrl, token, hookSecret, say, notReady = say, lifetime }) {
    this.service = service;
    this.name = name;
    /** The version it registers with, or null (none). */
    this.version = version;
    this.port = 0;
    this.url = "";
    /** The registry id, or null while unregistered. */
    this.id = null;
    this.ttlSeconds = 30;
    this.inflight = 0;
    this._orchestratorUrl = orchestratorUrl;
    this._token = token;
    this._hookSecret = hookSecret || null;
    this._say = say;
    this._notReady = notReady;
    this._lifetime = lifetime;
    this._heartbeatTimer = null;
    /** A fault an operator injected (fleet control): null, or {mode: "hang"} | {mode: "slow", ms} | {mode: "flap", ms, since} | {mode: "fail"}. */
    this._fault = null;
    this._killed = false;
    this._stopped = false;
    /** Requests (and upgrades) held by a hang, released by heal(). */
    this._held = new Set();
    /** Answers a slow instance is sitting on. */
    this._delayed = new Set();
    this._webSockets = createWebSocketEndpoints({ service, instance: name, log: say });
    this._server = http.createServer({ shouldUpgradeCallback: isWebSocketUpgrade }, (request, response) => this._handle(request, response));
    this._server.keepAliveTimeout = 5_000;
    this._server.on("upgrade", (request, socket, head) => this._upgrade(request, socket, head));
  }

  // ---------------------------------------------------------------- faults (demo/fleet-control.mjs)

  /** What the instance is doing now, for the fleet's control endpoint. */
  state() {
    const fault = this._fault;
    const mode = this._stopped ? "stopped" : this._killed ? "killed" : fault === null ? "up" : fault.mode === "flap" ? `flap-${this._flapPhase()}` : fault.mode;
    return {
      name: this.name,
      service: this.service,
      version: this.version,
      url: this.url,
      id: this.id,
      mode,
      ...(fault?.mode === "slow" || fault?.mode === "flap" ? { ms: fault.ms } : {}),
      inflight: this.inflight,
      openWebSockets: this._webSockets.open(),
    };
  }

  /** Accepts connections but never answers (health checks included) until heal(); heartbeats go on, as a stuck worker's sidecar would. */
  hang() {
    this._fault = { mode: "hang" };
  }

  /** Every answer (health checks included) waits `ms` first. */
  slow(ms) {
    this._fault = { mode: "slow", ms };
  }

  /** Down (every request answered 503, health checks included) for `ms`, then up for `ms`, and so on, starting down. */
  flap(ms) {
    this._fault = { mode: "flap", ms, since: Date.now() };
  }

  /**
   * Every request answered 500, except its health check (`GET /health`), which still passes: a
   * bad build that only real traffic, or a release's canary analysis, finds out.
   */
  fail() {
    this._fault = { mode: "fail" };
  }

  /** Back to normal: no fault, held requests answered, and a killed instance started again. */
  async heal() {
    this._fault = null;
    this._releaseHeld();
    if (this._killed) await this.restart();
  }

  _flapPhase() {
    const fault = this._fault;
    return Math.floor((Date.now() - fault.since) / fault.ms) % 2 === 0 ? "down" : "up";
  }

  /**
   * Runs `serve` as the injected fault says: at once, held (hang), later (slow), or
   * not at all with `refuse(status, why)` (the down half of a flap; a failing instance,
   * except for its health check). `gone()` says the client left.
   */
  _admit(serve, refuse, gone, healthCheck = false) {
    const fault = this._fault;
    if (fault === null) return serve();
    if (fault.mode === "fail") return healthCheck ? serve() : refuse(500, "failing");
    if (fault.mode === "hang") {
      this._held.add(() => {
        if (!gone()) serve();
      });
      return;
    }
    if (fault.mode === "slow") {
      const timer = setTimeout(() => {
        this._delayed.delete(timer);
        if (!gone()) serve();
      }, fault.ms);
      this._delayed.add(timer);
      return;
    }
    if (this._flapPhase() === "down") return refuse(503, "flapping (down)");
    return serve();
  }

  /** A process that ends forgets what it was doing: held and delayed answers are never sent. */
  _forgetFaults() {
    this._fault = null;
    this._held.clear();
    for (const timer of this._delayed) clearTimeout(timer);
    this._delayed.clear();
  }

  _releaseHeld() {
    const held = [...this._held];
    this._held.clear();
    for (const serve of held) serve();
  }

  _upgrade(request, socket, head) {
    let gone = false;
    socket.once("close", () => {
      gone = true;
    });
    this._admit(
      () => {
        if (!gone) this._webSockets.handleUpgrade(request, socket, head);
      },
      (status, why) => refuseUpgrade(socket, status, `${this.name} is ${why}\n`),
      () => gone,
    );
  }

  /** WebSocket connections open now. */
  openWebSockets() {
    return this._webSockets.open();
  }

  /** Listens on the first free port from `fromPort` up; returns the port taken. */
  async listen(fromPort) {
    for (let port = fromPort; port < fromPort + MAX_PORT_ATTEMPTS && port <= 65_535; port++) {
      try {
        await new Promise((resolvePromise, reject) => {
          // Both listeners go whichever fires: a callback passed to listen() would stay behind on
          // every busy port, and past ten of them Node warns of a listener leak.
          const onError = (error) => {
            this._server.off("listening", onListening);
            reject(error);
          };
          const onListening = () => {
            this._server.off("error", onError);
            resolvePromise();
          };
          this._server.once("error", onError);
          this._server.once("listening", onListening);
          this._server.listen(port, "127.0.0.1");
        });
        this.port = port;
        this.url = `http://127.0.0.1:${port}`;
        return port;
      } catch (error) {
        if (error?.code !== "EADDRINUSE" && error?.code !== "EACCES") throw error;
      }
    }
    throw new Error(`${this.name}: no free port in ${fromPort}-${fromPort + MAX_PORT_ATTEMPTS - 1}`);
  }

  /** Registers, retrying with capped exponential backoff until the orchestrator answers. */
  async register() {
    for (let attempt = 0; ; attempt++) {
      this._throwIfStopped();
      let outcome;
      try {
        outcome = await this._registerOnce();
      } catch (error) {
        if (this._lifetime.aborted) throw error;
        outcome = { retry: true, reason: describeError(error) };
      }
      if (!outcome.retry) return;
      this._notReady(`orchestrator not answering yet (${outcome.reason}); retrying with backoff`);
      await sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt) * (0.75 + Math.random() * 0.5), this._lifetime);
    }
  }

  async _registerOnce() {
    const response = await this._call("POST", "/registry/instances", {
      service: this.service,
      url: this.url,
      ...(this.version === null ? {} : { version: this.version }),
      metadata: { demo: "true", name: this.name },
    });
    const body = await readJson(response);
    if (response.status === 201) {
      this.id = body.id;
      if (Number.isInteger(body.ttlSeconds)) this.ttlSeconds = body.ttlSeconds;
      return { retry: false };
    }
    if (response.status === 409 && typeof body?.existingId === "string") {
      // Left over from an earlier run that did not deregister: take it over.
      this.id = body.existingId;
      this._say(`${this.name}: already registered, adopting ${this.id}`);
      await this._heartbeatOnce();
      return { retry: false };
    }
    if (response.status === 401 || (response.status === 503 && body?.type === NOT_CONFIGURED) || (response.status >= 400 && response.status < 500 && response.status !== 429)) {
      throw new Error(`${this.name}: registration refused (${response.status} ${body?.title ?? ""}: ${body?.detail ?? ""})`.trim());
    }
    return { retry: true, reason: `HTTP ${response.status}` };
  }

  /** Heartbeats every ttlSeconds/3 (re-read after each beat: an adopted registration keeps its own TTL). */
  startHeartbeats() {
    if (this._heartbeatTimer || this._lifetime.aborted) return;
    const everyMs = Math.max(1_000, Math.floor((this.ttlSeconds * 1000) / 3));
    this._heartbeatTimer = setTimeout(async () => {
      await this._heartbeat();
      this._heartbeatTimer = null;
      this.startHeartbeats();
    }, everyMs);
  }

  async _heartbeat() {
    if (this._lifetime.aborted) return;
    try {
      const status = await this._heartbeatOnce();
      if (status === 404) {
        // The registry forgot us (expired after missed heartbeats, or its state was wiped).
        this._say(`${this.name}: unknown to the registry, registering again`);
        this.id = null;
        await this.register();
      } else if (status !== 200) {
        this._say(`${this.name}: heartbeat answered ${status}`);
      }
    } catch (error) {
      if (!this._lifetime.aborted) this._say(`${this.name}: heartbeat failed (${describeError(error)})`);
    }
  }

  /** Sends one heartbeat; returns the HTTP status. */
  async _heartbeatOnce() {
    if (this.id === null) return 404;
    const response = await this._call("PUT", `/registry/instances/${encodeURIComponent(this.id)}/heartbeat`, {
      inflight: this.inflight,
      cpu: madeUpCpu(this.inflight),
    });
    const body = await readJson(response);
    if (response.status === 200 && Number.isInteger(body?.ttlSeconds)) this.ttlSeconds = body.ttlSeconds;
    return response.status;
  }

  /**
   * Behaves like a crashed process: the server stops answering and heartbeats
   * stop, but the registration stays, as a killed instance leaves it. The
   * orchestrator finds out from its probes (and, later, the TTL). Open
   * WebSockets are dropped without a close frame: their clients see the
   * connection die (1006), not a close.
   */
  async kill() {
    if (this._heartbeatTimer) clearTimeout(this._heartbeatTimer);
    this._heartbeatTimer = null;
    this._killed = true;
    this._forgetFaults();
    const dropped = this._webSockets.terminateAll();
    if (dropped > 0) this._say(`${this.name}: killed with ${dropped} WebSocket(s) open`);
    if (this._server.listening) {
      this._server.closeAllConnections();
      await new Promise((resolvePromise) => this._server.close(() => resolvePromise()));
    }
  }

  /**
   * The process starting again on the same port: listens, registers (adopting its
   * registration) and heartbeats. A running instance is killed first, so this is
   * also "restart it"; any injected fault is gone.
   */
  async restart() {
    if (!this._killed) await this.kill();
    this._killed = false;
    await this.listen(this.port);
    await this.register();
    this.startHeartbeats();
  }

  /** Deregisters (best effort), closes open WebSockets with 1001 (dropping those not closed within a second) and closes the server. */
  async stop() {
    if (this._heartbeatTimer) clearTimeout(this._heartbeatTimer);
    this._heartbeatTimer = null;
    this._stopped = true;
    this._forgetFaults();
    const id = this.id;
    this.id = null;
    if (id !== null) {
      try {
        const response = await this._call("DELETE", `/registry/instances/${encodeURIComponent(id)}`, undefined, { ignoreLifetime: true });
        await response.body?.cancel();
        if (response.status !== 200 && response.status !== 404) this._say(`${this.name}: deregistration answered ${response.status}`);
      } catch (error) {
        this._say(`${this.name}: could not deregister (${describeError(error)}); the registry expires it after its TTL`);
      }
    }
    // An upgraded socket is no longer the HTTP server's: close() would wait for it.
    await this._webSockets.closeAll(1001, "instance stopping", 1_000);
    if (this._server.listening) {
      this._server.closeAllConnections();
      await new Promise((resolvePromise) => this._server.close(() => resolvePromise()));
    }
  }

  _call(method, path, body, { ignoreLifetime = false } = {}) {
    const signals = [AbortSignal.timeout(REQUEST_TIMEOUT_MS)];
    if (!ignoreLifetime) signals.push(this._lifetime);
    return fetch(`${this._orchestratorUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this._token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.any(signals),
    });
  }

  /**
   * The orchestrator's restart hook. Only a request signed with the shared
   * secret over this exact path and body, and recent, is acted on: anyone else
   * who can reach the instance could otherwise make it restart (a real
   * instance would also drop a body `id` it has already seen).
   */
  _lifecycleRestart(request, response, body) {
    if (this._hookSecret === null) return sendJson(response, 404, { error: "no lifecycle hook here (no hookSecret)" });
    if (body === null) return sendJson(response, 413, { error: "body too large" });
    const verdict = verifyLifecycleHook({
      secret: this._hookSecret,
      method: request.method ?? "",
      path: request.url ?? "",
      body,
      timestamp: request.headers["x-orchestrator-timestamp"],
      signature: request.headers["x-orchestrator-signature"],
    });
    if (!verdict.ok) {
      this._say(`${this.name}: refused a lifecycle hook call (${verdict.reason})`);
      return sendJson(response, 401, { error: verdict.reason });
    }
    this._say(`${this.name}: restart requested by the orchestrator (signature verified)`);
    response.writeHead(204, { "cache-control": "no-store" }).end();
  }

  _throwIfStopped() {
    if (this._lifetime.aborted) throw new Error(`${this.name}: fleet stopped`);
  }

  _handle(request, response) {
    this.inflight++;
    let finished = false;
    const done = () => {
      if (!finished) {
        finished = true;
        this.inflight--;
      }
    };
    let gone = false;
    response.on("close", () => {
      gone = !response.writableFinished;
      done();
    });
    this._admit(
      () => this._serve(request, response),
      (status, why) => {
        request.resume();
        sendJson(response, status, { error: why, service: this.service, instance: this.name, version: this.version });
      },
      () => gone,
      request.method === "GET" && (request.url ?? "").split("?")[0] === "/health",
    );
  }

  _serve(request, response) {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    if (request.method === "POST" && url.pathname === LIFECYCLE_RESTART_PATH) {
      readBody(request).then(
        (body) => this._lifecycleRestart(request, response, body),
        () => response.destroy(),
      );
      return;
    }
    // Drain any request body so the connection can be reused.
    request.resume();
    request.on("end", () => {
      const payload =
        request.method === "GET" && url.pathname === "/health"
          ? { status: "ok" }
          : {
              service: this.service,
              instance: this.name,
              version: this.version,
              id: this.id,
              port: this.port,
              openWebSockets: this._webSockets.open(),
              method: request.method,
              path: url.pathname,
              query: queryObject(url.searchParams),
              receivedHeaders: {
                "x-forwarded-for": request.headers["x-forwarded-for"] ?? null,
                "x-forwarded-proto": request.headers["x-forwarded-proto"] ?? null,
                "x-forwarded-host": request.headers["x-forwarded-host"] ?? null,
                "x-request-id": request.headers["x-request-id"] ?? null,
              },
            };
      const text = JSON.stringify(payload);
      response.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(text),
        "cache-control": "no-store",
      });
      response.end(request.method === "HEAD" ? undefined : text);
    });
  }
}

// ------------------------------------------------------------------ helpers (also used by scripts/start.mjs)

/** Reads a .dev.vars / .env style file into an object; a missing file gives {}. */
export function readDevVars(path = join(REPO_ROOT, ".dev.vars")) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error?.code === "ENOENT") return {};
    throw error;
  }
  /** @type {Record<string, string>} */
  const vars = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2] ?? "";
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, "");
    vars[match[1]] = value;
  }
  return vars;
}

const LIFECYCLE_RESTART_PATH = "/__lifecycle/restart";
const MAX_HOOK_BODY_BYTES = 64 * 1024;

/** The whole request body as UTF-8 (the signature covers it exactly), or null past a small limit (then drained, not kept). */
function readBody(request) {
  return new Promise((resolvePromise, reject) => {
    const chunks = [];
    let size = 0;
    request.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_HOOK_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () => resolvePromise(size > MAX_HOOK_BODY_BYTES ? null : Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function sendJson(response, status, value) {
  const text = JSON.stringify(value);
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  response.end(text);
}

function queryObject(params) {
  /** @type {Record<string, string | string[]>} */
  const query = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    query[key] = values.length === 1 ? values[0] : values;
  }
  return query;
}

/** A plausible small CPU percentage that rises a little with load. */
function madeUpCpu(inflight) {
  return Math.min(100, Math.round((2 + Math.random() * 6 + inflight * 3) * 10) / 10);
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function describeError(error) {
  if (error?.name === "TimeoutError") return "timed out";
  const cause = error?.cause;
  return cause?.code ?? cause?.message ?? error?.message ?? String(error);
}

function sleep(ms, signal) {
  return new Promise((resolvePromise, reject) => {
    if (signal.aborted) return reject(new Error("fleet stopped"));
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolvePromise();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error("fleet stopped"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function abortError(signal) {
  return signal.reason instanceof Error ? signal.reason : new DOMException("The fleet was aborted", "AbortError");
}

// ------------------------------------------------------------------ `node demo/fleet.mjs`

async function main() {
  const devVars = readDevVars();
  const orchestratorUrl = process.env.ORCHESTRATOR_URL || `http://127.0.0.1:${process.env.PORT || 8787}`;
  const token =
    process.env.REGISTRATION_TOKEN || process.env.ORCHESTRATOR_API_KEY || devVars.REGISTRATION_TOKEN || devVars.ORCHESTRATOR_API_KEY;
  if (!token) {
    console.error("[fleet] no token: set REGISTRATION_TOKEN or ORCHESTRATOR_API_KEY (env or .dev.vars)");
    process.exit(1);
  }
  // Optional: without it the instances do not answer the orchestrator's lifecycle hook.
  const hookSecret = process.env.LIFECYCLE_HOOK_SECRET || devVars.LIFECYCLE_HOOK_SECRET || undefined;
  const basePort = portFromEnv("FLEET_BASE_PORT") ?? 9101;
  const controlPort = portFromEnv("FLEET_CONTROL_PORT") ?? basePort - 1;
  const abort = new AbortController();
  let control = null;
  const starting = startFleet({ orchestratorUrl, token, basePort, hookSecret, signal: abort.signal });
  let exiting = false;
  const shutdown = async (signalName) => {
    if (exiting) {
      console.error(`[fleet] ${signalName} again: exiting without waiting`);
      process.exit(130);
    }
    exiting = true;
    console.log(`[fleet] ${signalName}: deregistering and stopping`);
    abort.abort(new Error(`stopped by ${signalName}`));
    await control?.close();
    // Aborting stops a fleet that is still starting; a started one is stopped here.
    await starting.then((fleet) => fleet.stop(), () => undefined);
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  let fleet;
  try {
    fleet = await starting;
  } catch (error) {
    if (abort.signal.aborted) return; // shutdown() finishes the exit
    console.error(`[fleet] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  for (const instance of fleet.instances) console.log(`[fleet] ${instance.name.padEnd(14)} ${instance.url}  id ${instance.id}`);
  control = await startFleetControl(fleet.instances, {
    port: controlPort,
    log: (message) => console.log(`[fleet] ${message}`),
    addInstance: fleet.addInstance,
    removeInstance: fleet.removeInstance,
  });
  console.log(`[fleet] control: curl -X POST ${control.url}/fleet/<instance>/kill|hang|slow?ms=|flap?ms=|fail|heal|restart  (GET ${control.url}/fleet lists them)`);
  console.log(`[fleet] a canary: curl -X POST "${control.url}/fleet/<service>/canary?version=v2"  (DELETE ${control.url}/fleet/<instance> removes one)`);
  console.log("[fleet] running; Ctrl-C deregisters and stops");
}

/** A port from the environment, undefined when unset; exits on anything else. */
function portFromEnv(name) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const port = Number(raw);
  if (Number.isInteger(port) && port >= 1 && port <= 65_535) return port;
  console.error(`[fleet] ${name} must be a TCP port number (1–65535), not ${JSON.stringify(raw)}`);
  process.exit(1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
