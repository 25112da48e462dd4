/**
 * Real HTTP upstreams on loopback for the e2e suite, and small clients for the
 * orchestrator's registry and admin API.
 *
 * An echo upstream answers every request with JSON describing what it received:
 * {name, method, path (with query), headers, bodyBytes, bodySha256}. Some paths
 * change its behaviour:
 *   /delay/<ms>     waits <ms> before answering (stops early if the client leaves)
 *   /status/<code>  answers with that status (the echo JSON as body, none for 204/304)
 *   /stream/<bytes> streams <bytes> of deterministic data in 64 KiB chunks; the
 *                   sha256 of the whole body is in the x-stream-sha256 header
 *   /headers        adds a few response headers (custom, two set-cookie, cache-control,
 *                   and hop-by-hop ones that must not reach the client)
 *   /sse?events=N&intervalMs=M  server-sent events, N of them M ms apart (test/support/event-stream.ts)
 * and it accepts WebSockets as a demo instance does (demo/websockets.mjs):
 *   /ws/echo        echoes every message; {"close": code, "reason": "…"} makes it close with that
 *   /ws/feed        a JSON tick at once and every second (?intervalMs= to change)
 *   other paths     upgrade refused with 404
 * `fault()` makes it fail every request but GET /health, whatever the path (a bad
 * version of a service whose health check still passes): "fail" answers 500 with
 * the echo JSON, "hang" never answers (until the client gives up or close()).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, request as httpRequest, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { inject } from "vitest";
import { createWebSocketEndpoints, isWebSocketUpgrade, type UpgradeRecord } from "../../demo/websockets.mjs";
import { EVENT_STREAM_PATH, serveEventStream } from "../support/event-stream";

export interface Echo {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly bodyBytes: number;
  readonly bodySha256: string;
}

export interface Upstream {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Every request this upstream has finished reading, in arrival order. */
  readonly received: Echo[];
  /** Paths of requests whose body was cut off before its end (the sender aborted): never answered. */
  readonly incomplete: string[];
  /** Requests that arrived and have not been answered (or abandoned) yet. */
  active(): number;
  /** WebSocket upgrade requests (accepted or refused), oldest first, with the headers they arrived with (the newest 100). */
  readonly upgrades: readonly UpgradeRecord[];
  /** WebSocket connections open now. */
  openWebSockets(): number;
  /** Drops every open WebSocket without a close frame, as an upstream dying mid-connection; returns how many. */
  terminateWebSockets(): number;
  /** Closes every open WebSocket with `code` (default 1001), dropping those still open after `graceMs` (default 1000). */
  closeWebSockets(code?: number, reason?: string, graceMs?: number): Promise<void>;
  /** From now on: answer as described above ("none", the default), 500 to everything but GET /health ("fail"), or nothing ("hang"). */
  fault(mode: UpstreamFault): void;
  /** Drops open WebSockets, then closes the server. */
  close(): Promise<void>;
}

export type UpstreamFault = "none" | "fail" | "hang";

const CHUNK = 64 * 1024;

/** Deterministic bytes (byte i of the stream is a function of i only), so hashes can be precomputed. */
export function patternBytes(offset: number, length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const n = offset + i;
    buffer[i] = (n * 31 + (n >>> 8) * 17 + (n >>> 16)) & 0xff;
  }
  return buffer;
}

const streamHashes = new Map<number, string>();
export function patternSha256(total: number): string {
  let hash = streamHashes.get(total);
  if (hash === undefined) {
    const h = createHash("sha256");
    for (let offset = 0; offset < total; offset += CHUNK) h.update(patternBytes(offset, Math.min(CHUNK, total - offset)));
    hash = h.digest("hex");
    streamHashes.set(total, hash);
  }
  return hash;
}

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string | string[]> = {}): void {
  const noBody = status === 204 || status === 304;
  const text = noBody ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...(noBody ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(text) }),
    ...extra,
  });
  res.end(text);
}

export async function startUpstream(name = `up-${randomBytes(3).toString("hex")}`): Promise<Upstream> {
  const received: Echo[] = [];
  const incomplete: string[] = [];
  let active = 0;
  let fault: UpstreamFault = "none";
  const webSockets = createWebSocketEndpoints({ service: name, instance: name, responseHeaders: { "x-upstream-name": name } });
  const server: Server = createServer({ shouldUpgradeCallback: isWebSocketUpgrade }, (req, res) => {
    active++;
    let finished = false;
    const done = () => {
      if (!finished) {
        finished = true;
        active--;
      }
    };
    res.once("close", done);

    const hash = createHash("sha256");
    let bodyBytes = 0;
    req.on("data", (chunk: Buffer) => {
      bodyBytes += chunk.length;
      hash.update(chunk);
    });
    let ended = false;
    req.once("error", () => res.destroy());
    req.once("close", () => {
      if (!ended) incomplete.push(req.url ?? "/");
    });
    req.once("end", () => {
      ended = true;
      const path = req.url ?? "/";
      const echo: Echo = {
        name,
        method: req.method ?? "",
        path,
        headers: req.headers,
        bodyBytes,
        bodySha256: hash.digest("hex"),
      };
      received.push(echo);
      const common = { "x-upstream-name": name };
      const pathname = path.split("?")[0] ?? "/";

      if (fault !== "none" && !(req.method === "GET" && pathname === "/health")) {
        // Hung: the response stays open until the client leaves or close() drops the connection.
        if (fault === "fail") sendJson(res, 500, echo, { ...common, "x-upstream-fault": "fail" });
        return;
      }
      const delay = /^\/delay\/(\d+)$/.exec(pathname);
      if (delay) {
        const timer = setTimeout(() => sendJson(res, 200, echo, common), Number(delay[1]));
        res.once("close", () => clearTimeout(timer));
        return;
      }
      const status = /^\/status\/(\d{3})$/.exec(pathname);
      if (status) {
        sendJson(res, Number(status[1]), echo, { ...common, "x-upstream-status": status[1] as string });
        return;
      }
      const stream = /^\/stream\/(\d+)$/.exec(pathname);
      if (stream) {
        const total = Number(stream[1]);
        res.writeHead(200, {
          ...common,
          "content-type": "application/octet-stream",
          "x-stream-sha256": patternSha256(total),
        });
        let offset = 0;
        const pump = () => {
          while (offset < total && !res.destroyed) {
            const length = Math.min(CHUNK, total - offset);
            const ok = res.write(patternBytes(offset, length));
            offset += length;
            if (!ok) {
              res.once("drain", () => setImmediate(pump));
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        pump();
        return;
      }
      if (pathname === EVENT_STREAM_PATH) {
        serveEventStream(res, new URLSearchParams(path.slice(pathname.length)), name);
        return;
      }
      if (pathname === "/headers") {
        sendJson(res, 200, echo, {
          ...common,
          "x-custom-one": "alpha",
          "cache-control": "max-age=5",
          "set-cookie": ["a=1; Path=/", "b=2; Path=/"],
          // Hop-by-hop on the way back: neither may reach the client.
          connection: "keep-alive, x-upstream-hop",
          "x-upstream-hop": "secret",
          "keep-alive": "timeout=5",
          // Hop-by-hop by definition though not named in Connection (security review finding 8).
          "proxy-authenticate": 'Basic realm="upstream-proxy"',
        });
        return;
      }
      sendJson(res, 200, echo, common);
    });
  });
  server.keepAliveTimeout = 1_000;
  server.on("upgrade", (req, socket, head) => webSockets.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    incomplete,
    active: () => active,
    upgrades: webSockets.upgrades,
    openWebSockets: () => webSockets.open(),
    terminateWebSockets: () => webSockets.terminateAll(),
    closeWebSockets: (code, reason, graceMs) => webSockets.closeAll(code, reason, graceMs),
    fault: (mode) => {
      fault = mode;
    },
    close: () =>
      new Promise<void>((resolve) => {
        // An upgraded socket is no longer the HTTP server's: close() would wait for it.
        webSockets.terminateAll();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A loopback URL on which nothing listens: connections to it are refused. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

// ------------------------------------------------------------------ orchestrator clients

export const baseUrl = (): string => inject("baseUrl");
export const adminKey = (): string => inject("adminKey");
export const registrationToken = (): string => inject("registrationToken");
export const lifecycleHookSecret = (): string => inject("lifecycleHookSecret");

/** A service name no other test uses. */
export function uniqueService(prefix = "e2e"): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

export function gateway(path: string): string {
  return `${baseUrl()}${path}`;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const registryAuth = () => bearer(registrationToken());
export const adminAuth = () => bearer(adminKey());

export interface Registration {
  readonly id: string;
  readonly service: string;
  readonly ttlSeconds: number;
}

export async function registerRaw(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(gateway("/registry/instances"), {
    method: "POST",
    headers: { "content-type": "application/json", ...registryAuth(), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Registers `url` under `service`; fails the test unless the registry answers 201. */
export async function register(service: string, url: string, extra: Record<string, unknown> = {}): Promise<Registration> {
  const response = await registerRaw({ service, url, ...extra });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`register ${service} ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as Registration;
}

export async function deregister(id: string): Promise<number> {
  const response = await fetch(gateway(`/registry/instances/${encodeURIComponent(id)}`), { method: "DELETE", headers: registryAuth() });
  await response.arrayBuffer();
  return response.status;
}

export async function heartbeat(id: string, body?: unknown): Promise<Response> {
  return fetch(gateway(`/registry/instances/${encodeURIComponent(id)}/heartbeat`), {
    method: "PUT",
    headers: body === undefined ? registryAuth() : { ...registryAuth(), "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export async function putServiceSettings(service: string, settings: unknown, headers: Record<string, string> = adminAuth()): Promise<Response> {
  return fetch(gateway(`/admin/services/${service}`), {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(settings),
  });
}

export interface InstanceView {
  readonly id: string;
  readonly service: string;
  readonly target: { kind: string; url?: string; binding?: string };
  readonly weight: number;
  readonly checkStatus: "passing" | "critical";
  readonly health: "healthy" | "degraded" | "unhealthy";
  readonly inflight: number;
  readonly reportedInflight: number | null;
  readonly cpu: number | null;
  readonly lastHeartbeatAt: string | null;
  readonly ttlSeconds: number | null;
  readonly metadata: Record<string, string>;
}

export interface ServiceView {
  readonly name: string;
  readonly seed: boolean;
  readonly strategy: string;
  readonly timeoutMs: number;
  readonly status: string;
  readonly instances: InstanceView[];
}

export interface Snapshot {
  readonly generatedAt: string;
  readonly services: ServiceView[];
}

export async function snapshot(): Promise<Snapshot> {
  let response: Response;
  try {
    response = await fetch(gateway("/registry/services"), { headers: registryAuth() });
  } catch {
    // A transport error only ("fetch failed: other side closed"): the client reused a keep-alive
    // connection the dev server had just closed, after tests that abort requests mid-response.
    // Reading registry state is safe to repeat, once; a second failure is reported as it is.
    response = await fetch(gateway("/registry/services"), { headers: registryAuth() });
  }
  if (response.status !== 200) throw new Error(`GET /registry/services: ${response.status} ${await response.text()}`);
  return (await response.json()) as Snapshot;
}

export async function serviceView(name: string): Promise<ServiceView | undefined> {
  return (await snapshot()).services.find((s) => s.name === name);
}

/** Shared with the reliability suite. */
export { eventually } from "../support/eventually";

/**
 * Tracks what a test registered and started, and undoes it afterwards, so no
 * test leaves services, instances or sockets behind for the next.
 */
export class Fleet {
  private readonly upstreams: Upstream[] = [];
  private readonly registrations: string[] = [];

  async upstream(name?: string): Promise<Upstream> {
    const upstream = await startUpstream(name);
    this.upstreams.push(upstream);
    return upstream;
  }

  async register(service: string, url: string, extra: Record<string, unknown> = {}): Promise<Registration> {
    const registration = await register(service, url, extra);
    this.registrations.push(registration.id);
    return registration;
  }

  /** Starts `count` upstreams and registers each under `service`, in order. */
  async service(service: string, count: number): Promise<{ upstreams: Upstream[]; ids: string[] }> {
    const upstreams: Upstream[] = [];
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const upstream = await this.upstream(`${service}-${i}`);
      upstreams.push(upstream);
      ids.push((await this.register(service, upstream.url)).id);
    }
    return { upstreams, ids };
  }

  async cleanup(): Promise<void> {
    for (const id of this.registrations.splice(0)) await deregister(id).catch(() => undefined);
    await Promise.all(this.upstreams.splice(0).map((u) => u.close()));
  }
}

/**
 * Sends a request with node:http (path as written, not normalised), writing `chunks` one by one (chunked unless a
 * content-length header is given), and resolves with the response as a fetch
 * Response. A server may answer early (413) and close while the body is still
 * being written; the write error that follows is expected and ignored once a
 * response has arrived, unlike fetch, which reports it as an unhandled error.
 */
export function sendChunks(
  path: string,
  { method = "POST", headers = {}, chunks = [], timeoutMs = 15_000 }: { method?: string; headers?: Record<string, string>; chunks?: Uint8Array[]; timeoutMs?: number },
): Promise<Response> {
  // The path goes out exactly as written: URL parsing would resolve %2e%2e and dot segments.
  const target = new URL(baseUrl());
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest({ host: target.hostname, port: target.port, path, method, headers, timeout: timeoutMs }, (res) => {
      answered = true;
      const body: Buffer[] = [];
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        // An early answer (413, 401…) can leave the request half-written: drop that connection.
        if (!req.writableEnded) req.destroy();
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? ""]) responseHeaders.append(name, v);
        }
        const noBody = res.statusCode === 204 || res.statusCode === 304;
        resolve(new Response(noBody ? null : Buffer.concat(body), { status: res.statusCode ?? 0, headers: responseHeaders }));
      };
      res.on("data", (chunk: Buffer) => body.push(chunk));
      res.on("end", finish);
      res.on("error", finish);
      res.on("close", finish);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)));
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    const pump = (index: number): void => {
      if (answered || req.destroyed) return;
      if (index >= chunks.length) {
        req.end();
        return;
      }
      if (req.write(chunks[index] as Uint8Array)) setImmediate(() => pump(index + 1));
      else req.once("drain", () => pump(index + 1));
    };
    pump(0);
  });
}

/**
 * Writes `raw` bytes to the gateway exactly as given (hand-made chunked framing,
 * chunk extensions, malformed sizes) with `Connection: close`, and resolves
 * with the status and body of the first response read back.
 */
export function sendRawHttp(raw: string | Buffer, timeoutMs = 15_000): Promise<{ status: number; body: string }> {
  const target = new URL(baseUrl());
  return new Promise((resolve, reject) => {
    const socket = connect(Number(target.port), target.hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`raw request: no response within ${timeoutMs} ms`)));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error) => (chunks.length > 0 ? settle() : reject(error)));
    socket.on("close", () => settle());
    const settle = () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!status) return reject(new Error(`raw request: no HTTP response (${JSON.stringify(text.slice(0, 200))})`));
      const headerEnd = text.indexOf("\r\n\r\n");
      resolve({ status: Number(status[1]), body: headerEnd < 0 ? "" : text.slice(headerEnd + 4) });
    };
    socket.write(raw);
  });
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly field?: string;
  readonly [extension: string]: unknown;
}

/** Reads a problem+json body, checking the media type and the members RFC 9457 and the orchestrator promise. */
export async function readProblem(response: Response): Promise<Problem> {
  const contentType = response.headers.get("content-type") ?? "";
  const text = await response.text();
  if (!contentType.startsWith("application/problem+json")) {
    throw new Error(`expected application/problem+json, got ${contentType || "(none)"} (${response.status}): ${text.slice(0, 300)}`);
  }
  const body = JSON.parse(text) as Problem;
  if (typeof body.type !== "string" || typeof body.title !== "string" || body.status !== response.status) {
    throw new Error(`not a problem document for ${response.status}: ${text.slice(0, 300)}`);
  }
  return body;
}
