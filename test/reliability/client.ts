/**
 * HTTP clients for the reliability suite.
 *
 * - sendRaw: node:http with a keep-alive agent, so the path goes out exactly
 *   as written (no URL normalisation: dot segments, %2e, raw bytes above 0x7f
 *   reach the server), headers may repeat, and a body may be raw bytes, sent
 *   with a Content-Length or chunked. A per-request timeout turns a hang into
 *   an error. A server that answers early (413, 401…) and stops reading is
 *   fine: once a response has arrived, errors writing the rest are ignored.
 * - a chunked body with chunk extensions (`5;name=value`) or a trailer goes
 *   byte for byte over a raw socket instead (node:http writes its own chunk
 *   framing, without either), and the response is parsed from the bytes.
 * - Api: small JSON helpers for the orchestrator's own endpoints.
 */
import { Agent, type IncomingHttpHeaders, request as httpRequest } from "node:http";
import { connect } from "node:net";
import type { AuditEntry, RegistrySnapshot as Snapshot } from "../../src/contracts/registry";

export interface RawRequest {
  readonly method: string;
  /** Sent as written; must start with "/" and contain only characters node:http allows (0x21-0xff). */
  readonly path: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  /** One buffer: sent with Content-Length. Several: sent chunked, one chunk each. */
  readonly body?: Buffer | readonly Buffer[];
  /**
   * Chunked framing written by hand (raw socket, Connection: close): each chunk's size line
   * carries `extensions[i]` (e.g. `;name=value`), the last chunk's `extensions[chunks]`, and
   * `trailer` (e.g. `x-checksum: 1`) goes after it. Needs `body` as a list of chunks.
   */
  readonly framing?: { readonly extensions: readonly string[]; readonly trailer?: string };
  readonly timeoutMs?: number;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The server switched protocols (WebSocket): the socket was closed at once. */
  readonly upgraded: boolean;
  readonly durationMs: number;
}

export class HangError extends Error {
  constructor(readonly request: RawRequest, timeoutMs: number) {
    super(`${request.method} ${request.path.slice(0, 200)}: no complete response within ${timeoutMs} ms`);
    this.name = "HangError";
  }
}

/**
 * Connections to one server: bodiless requests share kept-alive connections;
 * a request with a body gets a connection of its own, closed after it, since
 * the server may answer before reading the body (401, 404, 413…) and a
 * half-sent body must never be followed by another request on the same socket.
 */
export class Connections {
  readonly keepAlive: Agent;
  readonly oneShot: Agent;
  constructor(maxSockets = 16) {
    this.keepAlive = new Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 1_000 });
    // No maxSockets here: with a finite one, node keeps even a keepAlive:false socket open for the
    // next queued request (ClientRequest.shouldKeepAlive), which is exactly what must not happen.
    this.oneShot = new Agent({ keepAlive: false });
  }
  destroy(): void {
    this.keepAlive.destroy();
    this.oneShot.destroy();
  }
}

export async function sendRaw(baseUrl: string, connections: Connections, req: RawRequest): Promise<RawResponse> {
  if (req.framing !== undefined) return sendFramed(baseUrl, req);
  try {
    return await sendOnce(baseUrl, connections, req);
  } catch (error) {
    // A kept-alive connection the server closed while idle: node's documented race; try once on a fresh one.
    if (error instanceof StaleConnection) return sendOnce(baseUrl, connections, req);
    throw error;
  }
}

class StaleConnection extends Error {}

/** A chunked body up to this size is written in one go (see sendOnce); a larger one chunk by chunk, as it drains. */
const WHOLE_CHUNKED_BODY_BYTES = 64 * 1024;

function sendOnce(baseUrl: string, connections: Connections, req: RawRequest): Promise<RawResponse> {
  const target = new URL(baseUrl);
  const timeoutMs = req.timeoutMs ?? 10_000;
  const started = Date.now();
  return new Promise<RawResponse>((resolve, reject) => {
    let settled = false;
    let answered = false;
    const finish = (error: Error | null, response?: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(response as RawResponse);
    };
    const grouped = new Map<string, string[]>();
    for (const [name, value] of req.headers ?? []) {
      const key = name.toLowerCase();
      grouped.set(key, [...(grouped.get(key) ?? []), value]);
    }
    const client = httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.path,
      agent: req.body === undefined ? connections.keepAlive : connections.oneShot,
      maxHeaderSize: 4 * 1024 * 1024,
    });
    const timer = setTimeout(() => {
      client.destroy();
      finish(new HangError(req, timeoutMs));
    }, timeoutMs);
    try {
      for (const [name, values] of grouped) client.setHeader(name, values.length === 1 ? (values[0] as string) : values);
      if (Buffer.isBuffer(req.body)) client.setHeader("content-length", req.body.length);
      // Said explicitly: node:http frames a body as chunked by default only for methods it expects one
      // on, and wrote the chunks of a DELETE, OPTIONS or TRACE bare, with no length at all (the server
      // saw no body, and the bytes after it as the next request).
      else if (req.body !== undefined) client.setHeader("transfer-encoding", "chunked");
    } catch (error) {
      client.destroy();
      finish(error as Error);
      return;
    }
    client.on("response", (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () => {
        if (req.body !== undefined) res.socket?.destroy();
        finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), upgraded: false, durationMs: Date.now() - started });
      });
      res.once("error", (error) => finish(error));
      res.once("aborted", () => finish(new Error(`${req.method} ${req.path.slice(0, 200)}: response aborted`)));
    });
    client.on("upgrade", (res, socket) => {
      answered = true;
      socket.destroy();
      finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0), upgraded: true, durationMs: Date.now() - started });
    });
    client.on("error", (error: NodeJS.ErrnoException) => {
      if (answered) return;
      if (client.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE")) finish(new StaleConnection(error.message));
      else finish(error);
    });
    const body = req.body;
    if (body === undefined) {
      client.end();
    } else if (Buffer.isBuffer(body)) {
      client.end(body);
    } else {
      const chunks = body as readonly Buffer[];
      if (chunks.reduce((sum, chunk) => sum + chunk.length, 0) <= WHOLE_CHUNKED_BODY_BYTES) {
        // All chunks in one write: workerd (since 1.20261117) closes a connection whose body the Worker
        // did not read, at once; a chunk written after an early answer then meets a reset, which can
        // reach us before the answer does. Chunked framing is still exercised, chunk by chunk.
        client.cork();
        for (const chunk of chunks) client.write(chunk);
        client.end();
        return;
      }
      const pump = (index: number): void => {
        if (answered || client.destroyed) return;
        if (index >= chunks.length) {
          client.end();
          return;
        }
        if (client.write(chunks[index] as Buffer)) setImmediate(() => pump(index + 1));
        else client.once("drain", () => pump(index + 1));
      };
      pump(0);
    }
  });
}

/** Header names the hand-written framing sets itself. */
const FRAMED_OWN_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection"]);

/**
 * A chunked request with chunk extensions and an optional trailer, written as bytes on its own
 * socket (backpressure respected, writing stops once an answer arrives). The answer is read to
 * its end: Content-Length, chunked, or until the server closes (the request says Connection: close).
 */
function sendFramed(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const target = new URL(baseUrl);
  const timeoutMs = req.timeoutMs ?? 10_000;
  const started = Date.now();
  const chunks = Buffer.isBuffer(req.body) ? [req.body] : [...(req.body ?? [])];
  const extensions = req.framing?.extensions ?? [];
  const head = [`${req.method} ${req.path} HTTP/1.1`, `host: ${target.host}`];
  for (const [name, value] of req.headers ?? []) if (!FRAMED_OWN_HEADERS.has(name.toLowerCase())) head.push(`${name}: ${value}`);
  head.push("transfer-encoding: chunked", "connection: close", "", "");
  const pieces: Buffer[] = [Buffer.from(head.join("\r\n"), "latin1")];
  chunks.forEach((chunk, i) => {
    if (chunk.length === 0) return; // a zero-size chunk would end the body early
    pieces.push(Buffer.from(`${chunk.length.toString(16)}${extensions[i] ?? ""}\r\n`, "latin1"), chunk, Buffer.from("\r\n", "latin1"));
  });
  const trailer = req.framing?.trailer;
  pieces.push(Buffer.from(`0${extensions[chunks.length] ?? ""}\r\n${trailer === undefined ? "" : `${trailer}\r\n`}\r\n`, "latin1"));

  return new Promise<RawResponse>((resolve, reject) => {
    let settled = false;
    let received = Buffer.alloc(0);
    const socket = connect(Number(target.port), target.hostname);
    const finish = (error: Error | null, response?: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(response as RawResponse);
    };
    const timer = setTimeout(() => finish(new HangError(req, timeoutMs)), timeoutMs);
    const complete = (closed: boolean) => {
      const parsed = parseResponse(received, closed, req.method.toUpperCase() === "HEAD");
      if (parsed !== null) finish(null, { ...parsed, upgraded: false, durationMs: Date.now() - started });
      else if (closed) finish(Object.assign(new Error(`${req.method} ${req.path.slice(0, 200)}: connection closed before a complete response`), { code: "ECONNRESET" }));
    };
    socket.on("data", (data: Buffer) => {
      received = Buffer.concat([received, data]);
      complete(false);
    });
    socket.once("end", () => complete(true));
    socket.once("close", () => complete(true));
    socket.on("error", (error) => {
      // An answer that is already whole stands; the server may reset a connection whose upload it stopped reading.
      const parsed = parseResponse(received, true, req.method.toUpperCase() === "HEAD");
      if (parsed !== null) finish(null, { ...parsed, upgraded: false, durationMs: Date.now() - started });
      else finish(error);
    });
    let index = 0;
    const pump = (): void => {
      while (index < pieces.length && received.length === 0 && !socket.destroyed) {
        if (!socket.write(pieces[index++] as Buffer)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    socket.once("connect", pump);
  });
}

/** The response in `bytes` if it is complete (or the connection closed and it can be read), else null. */
function parseResponse(bytes: Buffer, closed: boolean, head: boolean): Omit<RawResponse, "upgraded" | "durationMs"> | null {
  const end = bytes.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const lines = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!status) return null;
  // Null prototype: header names are the server's to choose, and "__proto__" must stay a name.
  const headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers[name];
    if (name === "set-cookie") headers[name] = [...((previous as string[] | undefined) ?? []), value];
    else headers[name] = previous === undefined ? value : `${String(previous)}, ${value}`;
  }
  const code = Number(status[1]);
  const rest = bytes.subarray(end + 4);
  if (head || code === 204 || code === 304) return { status: code, headers, body: Buffer.alloc(0) };
  if (/chunked/i.test(String(headers["transfer-encoding"] ?? ""))) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf("\r\n", at);
      if (lineEnd < 0) return null;
      const size = Number.parseInt(rest.subarray(at, lineEnd).toString("latin1").split(";")[0] ?? "", 16);
      if (!Number.isFinite(size)) return closed ? { status: code, headers, body: Buffer.concat(parts) } : null;
      if (size === 0) return { status: code, headers, body: Buffer.concat(parts) };
      if (rest.length < lineEnd + 2 + size + 2) return closed ? { status: code, headers, body: Buffer.concat(parts) } : null;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = headers["content-length"] === undefined ? null : Number(headers["content-length"]);
  if (length !== null && Number.isFinite(length)) return rest.length >= length ? { status: code, headers, body: rest.subarray(0, length) } : closed ? { status: code, headers, body: rest } : null;
  return closed ? { status: code, headers, body: rest } : null;
}

// ------------------------------------------------------------------ JSON API helpers

export interface ApiResult<T = unknown> {
  readonly status: number;
  readonly json: T;
  readonly text: string;
  readonly headers: Headers;
}

export class Api {
  constructor(
    readonly baseUrl: string,
    readonly adminKey: string,
    readonly registrationToken: string,
  ) {}

  async call<T = unknown>(method: string, path: string, options: { auth?: "admin" | "registration" | "none"; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const auth = options.auth ?? "none";
    if (auth === "admin") headers.authorization = `Bearer ${this.adminKey}`;
    if (auth === "registration") headers.authorization = `Bearer ${this.registrationToken}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text === "" ? null : JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: response.status, json: json as T, text, headers: response.headers };
  }

  async expect<T = unknown>(status: number | number[], method: string, path: string, options: Parameters<Api["call"]>[2] = {}): Promise<T> {
    const result = await this.call<T>(method, path, options);
    const wanted = Array.isArray(status) ? status : [status];
    if (!wanted.includes(result.status)) throw new Error(`${method} ${path}: expected ${wanted.join("/")}, got ${result.status}: ${result.text.slice(0, 500)}`);
    return result.json;
  }

  register(body: Record<string, unknown>) {
    return this.call<{ id: string; service: string; ttlSeconds: number; existingId?: string; type?: string }>("POST", "/registry/instances", { auth: "registration", body });
  }

  snapshot(): Promise<Snapshot> {
    return this.expect<Snapshot>(200, "GET", "/registry/services", { auth: "registration" });
  }

  /** The whole audit log, oldest first. */
  async audit(): Promise<AuditEntry[]> {
    const entries: AuditEntry[] = [];
    let before: number | null = null;
    for (let page = 0; page < 20; page++) {
      const query: string = before === null ? "?limit=1000" : `?limit=1000&before=${before}`;
      const result: { entries: AuditEntry[]; nextBefore: number | null } = await this.expect(200, "GET", `/admin/audit${query}`, { auth: "admin" });
      entries.push(...result.entries);
      if (result.nextBefore === null) break;
      before = result.nextBefore;
    }
    return entries.sort((a, b) => a.seq - b.seq);
  }
}

/** What GET /debug/registry and the audit log return: the registry's own contract (JSON over the wire). */
export type { AuditEntry, RegistrySnapshot as Snapshot } from "../../src/contracts/registry";

/**
 * What an operator configured or a client registered, without what changes
 * by itself over time (timestamps, health from probes and traffic, slow-start
 * weights, in-flight counts).
 */
export function durableState(snapshot: Snapshot, ignoreServices: ReadonlySet<string> = new Set()) {
  return snapshot.services
    .filter((s) => !ignoreServices.has(s.name))
    .map((s) => ({
      name: s.name,
      seed: s.seed,
      strategy: s.strategy,
      strategyIsDefault: s.strategyIsDefault,
      timeoutMs: s.timeoutMs,
      adminState: s.adminState,
      healthCheck: s.healthCheck,
      lifecycleHook: s.lifecycleHook,
      instances: s.instances.map((i) => ({
        id: i.id,
        service: i.service,
        target: i.target,
        weight: i.weight,
        static: i.static,
        adminState: i.adminState,
        ttlSeconds: i.ttlSeconds,
        metadata: i.metadata,
        registeredAt: i.registeredAt,
        reportedInflight: i.reportedInflight,
        cpu: i.cpu,
      })),
    }));
}

export function totalInflight(snapshot: Snapshot): number {
  return snapshot.services.reduce((sum, s) => sum + s.instances.reduce((n, i) => n + i.inflight, 0), 0);
}
