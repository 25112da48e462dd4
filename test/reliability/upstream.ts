/**
 * A loopback upstream for the reliability suite: answers every request with
 * 200 and a small JSON body once it has read the request body (GET /health
 * included, so active health checks pass), saying how many body bytes it read
 * (X-Upstream-Body-Bytes). It can be taken down (listener
 * closed, open connections destroyed: new connections are refused) and
 * brought back up on the same port, which is how the soak run makes one
 * instance flap.
 *
 * Streams, for the tests that hold a connection open: `GET /sse?events=N&intervalMs=M`
 * (test/support/event-stream.ts), and WebSockets on /ws/echo and /ws/feed as a
 * demo instance has them (demo/websockets.mjs); taking it down drops those
 * without a close frame.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createWebSocketEndpoints, isWebSocketUpgrade, type UpgradeRecord } from "../../demo/websockets.mjs";
import { EVENT_STREAM_PATH, serveEventStream } from "../support/event-stream";

export interface LoopbackUpstream {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Requests answered so far. */
  served(): number;
  /** When and where the most recent requests arrived (the last 4096), oldest first. */
  recent(): ReadonlyArray<{ readonly at: number; readonly method: string; readonly path: string }>;
  /** Resolves at the next request whose path ends with `suffix` (e.g. an active health probe), or rejects after `timeoutMs`. */
  next(suffix: string, timeoutMs: number): Promise<void>;
  isUp(): boolean;
  /** WebSocket upgrade requests (accepted or refused), oldest first, with the headers they arrived with (the newest 100). */
  readonly upgrades: readonly UpgradeRecord[];
  /** WebSocket connections open now. */
  openWebSockets(): number;
  /** Drops every open WebSocket without a close frame (the upstream dying mid-connection), staying up; returns how many. */
  terminateWebSockets(): number;
  /** Closes every open WebSocket with `code` (default 1001), dropping those still open after `graceMs` (default 1000). */
  closeWebSockets(code?: number, reason?: string, graceMs?: number): Promise<void>;
  /** Closes the listener and drops every open connection, WebSockets included: new connections are refused. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startLoopbackUpstream(name: string): Promise<LoopbackUpstream> {
  let served = 0;
  const RECENT = 4096;
  const log: Array<{ at: number; method: string; path: string }> = [];
  let logStart = 0;
  const waiters = new Set<{ suffix: string; resolve: () => void }>();
  let server: Server | null = null;
  let port = 0;
  // One set of WebSocket endpoints across down() and up(): the counts and records go on.
  const webSockets = createWebSocketEndpoints({ service: name, instance: name, responseHeaders: { "x-upstream-name": name } });

  const make = () => {
    // Large header limit: the fuzz run sends huge headers through, and node's
    // default 16 KiB would answer 431 itself instead of this upstream.
    const s = createServer({ maxHeaderSize: 1024 * 1024, requireHostHeader: false, shouldUpgradeCallback: isWebSocketUpgrade }, (req, res: ServerResponse) => {
      const entry = { at: Date.now(), method: req.method ?? "", path: req.url ?? "" };
      if (log.length < RECENT) log.push(entry);
      else {
        log[logStart] = entry;
        logStart = (logStart + 1) % RECENT;
      }
      for (const waiter of waiters) {
        if (entry.path.endsWith(waiter.suffix)) {
          waiters.delete(waiter);
          waiter.resolve();
        }
      }
      let received = 0;
      req.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      req.once("error", () => res.destroy());
      req.once("end", () => {
        served++;
        // Split by hand: the fuzz run's paths need not parse as URLs.
        const query = entry.path.indexOf("?");
        if ((query < 0 ? entry.path : entry.path.slice(0, query)) === EVENT_STREAM_PATH) {
          serveEventStream(res, new URLSearchParams(query < 0 ? "" : entry.path.slice(query)), name);
          return;
        }
        const body = JSON.stringify({ ok: true, upstream: name });
        // How many body bytes arrived, so a client can tell its body was forwarded whole, not shortened.
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-upstream-name": name, "x-upstream-body-bytes": String(received) });
        res.end(req.method === "HEAD" ? undefined : body);
      });
    });
    s.keepAliveTimeout = 5_000;
    s.on("upgrade", (req, socket, head) => webSockets.handleUpgrade(req, socket, head));
    return s;
  };

  const listen = (s: Server, onPort: number) =>
    new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(onPort, "127.0.0.1", () => {
        s.off("error", reject);
        resolve();
      });
    });

  server = make();
  await listen(server, 0);
  port = (server.address() as AddressInfo).port;

  const down = async () => {
    const s = server;
    if (!s) return;
    server = null;
    // An upgraded socket is no longer the HTTP server's: close() would wait for it.
    webSockets.terminateAll();
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  };

  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    served: () => served,
    recent: () => [...log.slice(logStart), ...log.slice(0, logStart)],
    next: (suffix, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const waiter = {
          suffix,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no request to *${suffix} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      }),
    isUp: () => server !== null,
    upgrades: webSockets.upgrades,
    openWebSockets: () => webSockets.open(),
    terminateWebSockets: () => webSockets.terminateAll(),
    closeWebSockets: (code, reason, graceMs) => webSockets.closeAll(code, reason, graceMs),
    down,
    async up() {
      if (server) return;
      const s = make();
      // The port was ours a moment ago; retry briefly in case the kernel has not let go of it.
      for (let attempt = 0; ; attempt++) {
        try {
          await listen(s, port);
          break;
        } catch (error) {
          if (attempt >= 50) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      server = s;
    },
    close: down,
  };
}
