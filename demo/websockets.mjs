/**
 * The WebSocket endpoints of a demo instance, also served by the test
 * upstreams (test/e2e, test/reliability, test/workers), so what `npm start`
 * shows is what the tests check:
 *
 *   /ws/echo   sends every message back unchanged (text as text, binary as
 *              binary); picks the subprotocol `echo.v1` when the client offers
 *              it. The text message {"close": <code>, "reason": "..."} makes the
 *              server close with that code and reason instead.
 *   /ws/feed   a JSON tick {service, instance, seq, at} at once and then every
 *              second (`?intervalMs=` changes that, 10 ms to 60 s) until closed.
 *   other      a plain HTTP 404, then the socket is destroyed: an upstream
 *              refusing the upgrade.
 *
 * The endpoints keep the set of their open connections, so an instance can
 * count them, drop them abruptly like a crashed process (no close frame) or
 * close them with a code, and a record of each upgrade request (its headers,
 * the subprotocols and extensions offered and chosen) for the tests.
 *
 * Uses the `ws` package in noServer mode: the HTTP server's 'upgrade' event
 * hands each upgrade request to `handleUpgrade`.
 */
import { STATUS_CODES } from "node:http";
import { WebSocketServer } from "ws";

export const ECHO_PROTOCOL = "echo.v1";
/** Above the Workers runtime's own 32 MiB message limit, so the gateway's limit is the one a client meets. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const FEED_INTERVAL_MS = 1_000;
/** A control message is small JSON; a larger text message is always echoed, never parsed. */
const MAX_CONTROL_MESSAGE_BYTES = 1_024;

/**
 * Whether a request asks to become a WebSocket (and not some other upgrade,
 * such as h2c, which the server answers as a plain request). For
 * http.createServer's `shouldUpgradeCallback`.
 */
export function isWebSocketUpgrade(request) {
  return String(request.headers.upgrade ?? "").toLowerCase() === "websocket";
}

/**
 * @param {object} options
 * @param {string} options.service       named in every /ws/feed tick
 * @param {string} options.instance      named in every /ws/feed tick and in log lines
 * @param {((message: string) => void) | null} [options.log]   one line per connection opened and closed
 * @param {boolean} [options.perMessageDeflate=false]          accept permessage-deflate when offered
 * @param {number} [options.keepUpgrades=100]                  how many upgrade records to keep (the newest)
 * @param {Record<string, string>} [options.responseHeaders]   added to every answer to an upgrade, 101 or refusal
 */
export function createWebSocketEndpoints({ service, instance, log = null, perMessageDeflate = false, keepUpgrades = 100, responseHeaders = {} }) {
  const say = typeof log === "function" ? log : () => {};
  /** @type {Set<import("ws").WebSocket>} */
  const open = new Set();
  /** @type {import("./websockets.d.mts").UpgradeRecord[]} */
  const upgrades = [];
  /** The record of each upgrade request being handled; its path is where it is routed (a test upstream hosting many instances strips its own prefix). */
  const handling = new WeakMap();
  const server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate,
    // Only /ws/echo speaks a subprotocol; offered anything else, the server chooses none.
    handleProtocols: (protocols, request) => (handling.get(request)?.path === "/ws/echo" && protocols.has(ECHO_PROTOCOL) ? ECHO_PROTOCOL : false),
  });
  server.on("headers", (headers) => {
    for (const [name, value] of Object.entries(responseHeaders)) headers.push(`${name}: ${value}`);
  });
  // A handshake ws finds invalid (a bad key or version, a method other than GET) is answered here, with our headers.
  server.on("wsClientError", (error, socket, request) => {
    const entry = handling.get(request);
    if (entry) entry.status = request.method === "GET" ? 400 : 405;
    refuseUpgrade(socket, request.method === "GET" ? 400 : 405, `${error.message}\n`, responseHeaders);
  });

  const record = (request, path) => {
    const entry = {
      at: Date.now(),
      path,
      headers: request.headers,
      protocols: splitList(request.headers["sec-websocket-protocol"]),
      extensions: headerValue(request.headers["sec-websocket-extensions"]),
      status: 0,
      protocol: null,
      acceptedExtensions: null,
      closed: null,
    };
    upgrades.push(entry);
    if (upgrades.length > keepUpgrades) upgrades.splice(0, upgrades.length - keepUpgrades);
    return entry;
  };

  const accept = (socket, request, entry, serve) => {
    entry.status = 101;
    entry.protocol = socket.protocol || null;
    entry.acceptedExtensions = socket.extensions || null;
    open.add(socket);
    say(`${instance}: WebSocket ${entry.path} opened (${open.size} open)`);
    socket.on("error", (error) => say(`${instance}: WebSocket ${entry.path} error (${error.message})`));
    socket.once("close", (code, reason) => {
      open.delete(socket);
      entry.closed = { code, reason: reason.toString("utf8") };
      const why = reason.length > 0 ? ` ${reason.toString("utf8")}` : "";
      say(`${instance}: WebSocket ${entry.path} closed ${code}${why} (${open.size} open)`);
    });
    serve(socket, request);
  };

  const serveEcho = (socket) => {
    socket.on("message", (data, isBinary) => {
      if (!isBinary && data.length <= MAX_CONTROL_MESSAGE_BYTES) {
        const command = closeCommand(data.toString("utf8"));
        if (command) {
          // Checked first: ws marks the socket closing before it checks the code itself.
          const problem = closeProblem(command);
          if (problem === null) socket.close(command.code, command.reason);
          else socket.send(JSON.stringify({ error: problem }));
          return;
        }
      }
      socket.send(data, { binary: isBinary });
    });
  };

  const serveFeed = (socket, request) => {
    const asked = Number(queryOf(request).get("intervalMs"));
    const everyMs = Number.isFinite(asked) && asked > 0 ? Math.min(60_000, Math.max(10, asked)) : FEED_INTERVAL_MS;
    let seq = 0;
    const tick = () => {
      seq++;
      socket.send(JSON.stringify({ service, instance, seq, at: new Date().toISOString() }));
    };
    tick();
    const timer = setInterval(tick, everyMs);
    socket.once("close", () => clearInterval(timer));
  };

  return {
    upgrades,
    open: () => open.size,

    /** For the HTTP server's 'upgrade' event. `path` is where to route (default: the request's own path, query removed). */
    handleUpgrade(request, socket, head, path = pathOf(request)) {
      const entry = record(request, path);
      const serve = path === "/ws/echo" ? serveEcho : path === "/ws/feed" ? serveFeed : null;
      if (serve === null || !isWebSocketUpgrade(request)) {
        entry.status = serve === null ? 404 : 400;
        refuseUpgrade(socket, entry.status, undefined, responseHeaders);
        return;
      }
      handling.set(request, entry);
      server.handleUpgrade(request, socket, head, (webSocket) => accept(webSocket, request, entry, serve));
    },

    /** Drops every open connection at once, without a close frame; returns how many there were. */
    terminateAll() {
      const sockets = [...open];
      open.clear();
      for (const socket of sockets) socket.terminate();
      return sockets.length;
    },

    /** Closes every open connection with `code`, and drops those still open after `graceMs`. */
    async closeAll(code = 1001, reason = "going away", graceMs = 1_000) {
      const sockets = [...open];
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise((resolvePromise) => {
              if (socket.readyState === socket.CLOSED) return resolvePromise(undefined);
              const timer = setTimeout(() => {
                socket.terminate();
                resolvePromise(undefined);
              }, graceMs);
              socket.once("close", () => {
                clearTimeout(timer);
                resolvePromise(undefined);
              });
              socket.close(code, reason);
            }),
        ),
      );
    },
  };
}

/** Answers an upgrade request with a plain HTTP response instead, then destroys the socket. */
export function refuseUpgrade(socket, status, text = status === 404 ? "no WebSocket endpoint here\n" : "not a valid WebSocket upgrade\n", headers = {}) {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.on("error", () => {});
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${extra}connection: close\r\n\r\n${text}`,
    () => socket.destroy(),
  );
}

/** {"close": <code>, "reason"?: "..."} → the close to perform; anything else → null (echoed). */
function closeCommand(text) {
  if (!text.startsWith("{")) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== "object" || !Number.isInteger(value.close)) return null;
  return { code: value.close, reason: typeof value.reason === "string" ? value.reason : "" };
}

/** Why a close frame cannot carry this (RFC 6455 7.4: codes a peer may send; a reason of at most 123 bytes), or null. */
function closeProblem({ code, reason }) {
  const sendable = (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
  if (!sendable) return `close code ${code} cannot be sent in a close frame`;
  if (Buffer.byteLength(reason) > 123) return "a close reason is at most 123 bytes";
  return null;
}

// Split by hand, not with new URL(): a request target need not parse as a URL, and a throw here would end the process.
function pathOf(request) {
  const target = request.url ?? "/";
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}

function queryOf(request) {
  const target = request.url ?? "/";
  const query = target.indexOf("?");
  return new URLSearchParams(query < 0 ? "" : target.slice(query));
}

function headerValue(value) {
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}

function splitList(value) {
  const text = headerValue(value);
  return text === null ? [] : text.split(",").map((item) => item.trim()).filter((item) => item !== "");
}
