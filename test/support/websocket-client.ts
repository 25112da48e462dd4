/**
 * A WebSocket client for the Node-side tests, on the `ws` package rather than
 * Node's global WebSocket because a test needs what a browser's API hides:
 * request headers of its own (Authorization, X-Request-Id…), the 101
 * response's headers, and the status and body of a refused upgrade.
 *
 *   const socket = await openWebSocket(gateway("/svc/ws/echo").replace(/^http/, "ws"), { protocols: ["echo.v1"] });
 *   socket.send("hi");
 *   expect((await socket.next()).data).toBe("hi");
 *   socket.close();
 *   expect((await socket.closed).code).toBe(1000);
 */
import type { IncomingHttpHeaders } from "node:http";
import WebSocket from "ws";

export interface Message {
  /** Text as a string, binary as a Buffer. */
  readonly data: string | Buffer;
  readonly binary: boolean;
}

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export interface TestWebSocket {
  readonly socket: WebSocket;
  /** The subprotocol chosen ("" for none). */
  readonly protocol: string;
  /** The 101 response's headers. */
  readonly responseHeaders: IncomingHttpHeaders;
  /** The next message not yet taken; rejects after `timeoutMs` (default 10 s) or if the connection closes first. */
  next(timeoutMs?: number): Promise<Message>;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Settles when the connection has closed: the code is 1006 when it died without a close frame. */
  readonly closed: Promise<Closed>;
}

export interface RefusedUpgrade {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface OpenOptions {
  readonly protocols?: readonly string[];
  readonly headers?: Record<string, string>;
  /** How long the handshake may take (default 10 s). */
  readonly timeoutMs?: number;
  /** Offer permessage-deflate (default false). */
  readonly perMessageDeflate?: boolean;
}

/** Connects; rejects if the upgrade is refused (with the status and body in the message) or fails. */
export async function openWebSocket(url: string, options: OpenOptions = {}): Promise<TestWebSocket> {
  const outcome = await connect(url, options);
  if ("status" in outcome) throw new Error(`upgrade to ${url} refused: ${outcome.status} ${outcome.body.slice(0, 300)}`);
  return outcome;
}

/** Connects expecting the upgrade to be refused; resolves with the HTTP answer, rejects if it was accepted. */
export async function refusedUpgrade(url: string, options: OpenOptions = {}): Promise<RefusedUpgrade> {
  const outcome = await connect(url, options);
  if ("status" in outcome) return outcome;
  outcome.socket.terminate();
  throw new Error(`upgrade to ${url} was accepted (protocol "${outcome.protocol}")`);
}

function connect(url: string, { protocols = [], headers = {}, timeoutMs = 10_000, perMessageDeflate = false }: OpenOptions): Promise<TestWebSocket | RefusedUpgrade> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, [...protocols], { headers, handshakeTimeout: timeoutMs, perMessageDeflate, maxPayload: 0 });
    const queue: Message[] = [];
    const waiting: Array<{ resolve: (message: Message) => void; reject: (error: Error) => void }> = [];
    let ended: Closed | null = null;
    let responseHeaders: IncomingHttpHeaders = {};
    const closed = new Promise<Closed>((settle) => {
      socket.on("close", (code, reason) => {
        ended = { code, reason: reason.toString("utf8") };
        for (const waiter of waiting.splice(0)) waiter.reject(new Error(`closed (${code}) before the next message`));
        settle(ended);
      });
    });
    socket.on("message", (data, binary) => {
      const message: Message = { data: binary ? toBuffer(data) : toBuffer(data).toString("utf8"), binary };
      const waiter = waiting.shift();
      if (waiter) waiter.resolve(message);
      else queue.push(message);
    });
    socket.on("upgrade", (response) => {
      responseHeaders = response.headers;
    });
    socket.on("unexpected-response", (_request, response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") });
        socket.terminate();
      });
      response.on("error", reject);
    });
    // After open, errors end in 'close' (1006), which is what a test looks at.
    const onError = (error: Error) => reject(error);
    socket.once("error", onError);
    socket.once("open", () => {
      socket.off("error", onError);
      socket.on("error", () => {});
      resolve({
        socket,
        protocol: socket.protocol,
        responseHeaders,
        next: (waitMs = 10_000) => {
          const queued = queue.shift();
          if (queued) return Promise.resolve(queued);
          if (ended) return Promise.reject(new Error(`closed (${ended.code}) before the next message`));
          return new Promise<Message>((resolveNext, rejectNext) => {
            const waiter = {
              resolve: (message: Message) => {
                clearTimeout(timer);
                resolveNext(message);
              },
              reject: (error: Error) => {
                clearTimeout(timer);
                rejectNext(error);
              },
            };
            const timer = setTimeout(() => {
              waiting.splice(waiting.indexOf(waiter), 1);
              rejectNext(new Error(`no message within ${waitMs} ms`));
            }, waitMs);
            waiting.push(waiter);
          });
        },
        send: (data) => socket.send(data),
        close: (code, reason) => socket.close(code, reason),
        closed,
      });
    });
  });
}

function toBuffer(data: WebSocket.RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
