/**
 * The demo fleet's control endpoint: the whole fleet runs in one Node process,
 * so an operator cannot kill one instance with `kill <pid>` to watch failover.
 * This small HTTP server on 127.0.0.1 does it instead, one instance at a time:
 *
 *   GET  /fleet                          every instance: name, service, url, id, mode
 *   GET  /fleet/<instance>               one of them (by name, e.g. api-1, or registry id)
 *   POST /fleet/<instance>/kill          crash: connections refused, heartbeats stop, registration stays
 *   POST /fleet/<instance>/hang          connections accepted, nothing answered (health checks included)
 *   POST /fleet/<instance>/slow?ms=3000  every answer waits ms first (0–600000; default 3000)
 *   POST /fleet/<instance>/flap?ms=10000 503 to everything for ms, then normal for ms, and so on
 *   POST /fleet/<instance>/fail          500 to every request; its health check still passes (a bad build)
 *   POST /fleet/<instance>/heal          back to normal (a killed one starts again)
 *   POST /fleet/<instance>/restart       kill, then start again on the same port
 *   POST /fleet/<service>/canary?version=v2   one more instance of the service, with that version
 *                                        (default v2), named <service>-<version>: 201
 *   DELETE /fleet/<instance>             deregisters and stops it for good
 *
 * Every POST and DELETE answers the instance's state after the action. Only loopback
 * clients can reach it; a request with a foreign Host (DNS rebinding) or from a
 * web page (an Origin header) is refused, so a site open in a browser cannot
 * kill the fleet. Node built-ins only; types in fleet-control.d.mts.
 */
import http from "node:http";

export const DEFAULT_SLOW_MS = 3_000;
export const DEFAULT_FLAP_MS = 10_000;
const MAX_MS = 600_000;
const ACTIONS = ["kill", "hang", "slow", "flap", "fail", "heal", "restart"];
/** The registry's version rule (docs/api.md#registry-used-by-instances). */
const VERSION = /^[A-Za-z0-9._+-]{1,64}$/;

/**
 * Starts the control endpoint for `instances` (FleetInstance objects) on
 * 127.0.0.1:`port`; a busy port falls back to one the kernel picks (the URL
 * says which). Resolves once it listens.
 *
 * `addInstance` and `removeInstance` (startFleet's) enable the canary and DELETE
 * calls; without them those answer 501.
 *
 * @param {readonly import("./fleet.mjs").FleetInstance[]} instances
 * @param {{ port?: number, log?: ((message: string) => void) | null,
 *   addInstance?: (service: string, options: { version: string }) => Promise<import("./fleet.mjs").FleetInstance>,
 *   removeInstance?: (instance: import("./fleet.mjs").FleetInstance) => Promise<void> }} [options]
 */
export async function startFleetControl(instances, { port = 0, log = null, addInstance = null, removeInstance = null } = {}) {
  const say = typeof log === "function" ? log : () => {};
  const server = http.createServer((request, response) => {
    handle(request, response).catch((error) => send(response, 500, { error: error instanceof Error ? error.message : String(error) }));
  });

  async function handle(request, response) {
    const refused = foreign(request, server);
    if (refused) return send(response, 403, { error: refused });
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const [root, name, action, extra] = url.pathname.split("/").filter((part) => part !== "");
    if (root !== "fleet" || extra !== undefined) return send(response, 404, { error: "not found", usage: usage() });
    if (name === undefined) {
      if (request.method !== "GET") return send(response, 405, { error: "GET /fleet" }, { allow: "GET" });
      return send(response, 200, { instances: instances.map((i) => i.state()) });
    }
    if (action === "canary") return canary(request, response, decodeURIComponent(name), url);
    const instance = instances.find((i) => i.name === decodeURIComponent(name) || i.id === decodeURIComponent(name));
    if (!instance) return send(response, 404, { error: `no instance ${name}`, instances: instances.map((i) => i.name) });
    if (action === undefined) {
      if (request.method === "DELETE") {
        if (!removeInstance) return send(response, 501, { error: "this fleet cannot remove instances" });
        request.resume();
        await removeInstance(instance);
        say(`${instance.name}: removed (fleet control)`);
        return send(response, 200, instance.state());
      }
      if (request.method !== "GET") return send(response, 405, { error: `GET or DELETE /fleet/${instance.name}` }, { allow: "GET, DELETE" });
      return send(response, 200, instance.state());
    }
    if (!ACTIONS.includes(action)) return send(response, 404, { error: `no action ${action}`, actions: ACTIONS });
    if (request.method !== "POST") return send(response, 405, { error: `POST /fleet/${instance.name}/${action}` }, { allow: "POST" });
    request.resume();
    const ms = msFrom(url, action === "slow" ? DEFAULT_SLOW_MS : DEFAULT_FLAP_MS);
    if (ms === null) return send(response, 400, { error: `ms must be a whole number of milliseconds, 0–${MAX_MS}` });
    await act(instance, action, ms);
    say(`${instance.name}: ${action}${action === "slow" || action === "flap" ? ` (${ms} ms)` : ""} (fleet control)`);
    return send(response, 200, instance.state());
  }

  /** POST /fleet/<service>/canary?version=: one more instance of a service the fleet runs. */
  async function canary(request, response, service, url) {
    if (request.method !== "POST") return send(response, 405, { error: `POST /fleet/${service}/canary?version=v2` }, { allow: "POST" });
    request.resume();
    if (!addInstance) return send(response, 501, { error: "this fleet cannot start instances" });
    if (!instances.some((i) => i.service === service)) return send(response, 404, { error: `no service ${service}`, services: [...new Set(instances.map((i) => i.service))] });
    const version = url.searchParams.get("version") ?? "v2";
    if (!VERSION.test(version)) return send(response, 400, { error: "version must be 1–64 characters of A-Z a-z 0-9 . _ + -" });
    // startFleet's addInstance logs the new instance (its URL and registry id).
    const instance = await addInstance(service, { version });
    return send(response, 201, instance.state());
  }

  await listen(server, port, say);
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : port}`;
  return {
    url,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}

async function act(instance, action, ms) {
  switch (action) {
    case "kill":
      return instance.kill();
    case "hang":
      return instance.hang();
    case "slow":
      return instance.slow(ms);
    case "flap":
      return instance.flap(ms);
    case "fail":
      return instance.fail();
    case "heal":
      return instance.heal();
    case "restart":
      return instance.restart();
  }
}

function msFrom(url, fallback) {
  const raw = url.searchParams.get("ms");
  if (raw === null || raw === "") return fallback;
  const ms = Number(raw);
  return Number.isInteger(ms) && ms >= 0 && ms <= MAX_MS && (ms > 0 || raw === "0") ? ms : null;
}

/** Why a request is not from a local command line (or null when it is). */
function foreign(request, server) {
  if (request.headers.origin !== undefined) return "requests from web pages are refused (Origin header present)";
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const host = String(request.headers.host ?? "");
  return [`127.0.0.1:${port}`, `localhost:${port}`].includes(host.toLowerCase()) ? null : `Host must be 127.0.0.1:${port} or localhost:${port}`;
}

function listen(server, port, say) {
  const attempt = (p) =>
    new Promise((resolve, reject) => {
      const onError = (error) => {
        server.off("listening", onListening);
        reject(error);
      };
      const onListening = () => {
        server.off("error", onError);
        resolve(undefined);
      };
      server.once("error", onError);
      server.once("listening", onListening);
      server.listen(p, "127.0.0.1");
    });
  return attempt(port).catch((error) => {
    if (port === 0 || (error?.code !== "EADDRINUSE" && error?.code !== "EACCES")) throw error;
    say(`fleet control: port ${port} is busy; using another`);
    return attempt(0);
  });
}

function usage() {
  return [
    "GET /fleet",
    "GET /fleet/<instance>",
    ...ACTIONS.map((a) => `POST /fleet/<instance>/${a}${a === "slow" || a === "flap" ? "?ms=" : ""}`),
    "POST /fleet/<service>/canary?version=v2",
    "DELETE /fleet/<instance>",
  ];
}

function send(response, status, value, headers = {}) {
  const text = `${JSON.stringify(value)}\n`;
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store", ...headers });
  response.end(text);
}
