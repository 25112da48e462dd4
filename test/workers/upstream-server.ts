/**
 * A controllable upstream for Workers-pool tests, run in Node by globalSetup:
 * one HTTP server on 127.0.0.1 hosting many named "instances" under
 * /i/<name>/…, each switchable between behaviours through /control/<name>.
 *
 * Each instance also serves `GET /i/<name>/sse?events=N&intervalMs=M`
 * (test/support/event-stream.ts) and WebSockets on /i/<name>/ws/echo and
 * /i/<name>/ws/feed (demo/websockets.mjs; any other path refuses the upgrade
 * with 404); its mode applies to upgrades too (down: the socket is destroyed,
 * error: 503, hang: no answer, slow: answered after delayMs, flap: every other
 * one 503). /control/<name> reports `openWebSockets` and `upgrades` (with the
 * headers each arrived with); /control/<name>/terminate-websockets drops the
 * instance's open WebSockets without a close frame.
 */
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { verifyLifecycleHook } from "../../demo/hook-signature.mjs";
import type * as WebSocketsModule from "../../demo/websockets.mjs";
import type { WebSocketEndpoints } from "../../demo/websockets.mjs";
import { EVENT_STREAM_PATH, serveEventStream } from "../support/event-stream";

// Loaded by Node itself, not through vitest: this project resolves packages as workerd does (its
// plugin drops the "node" condition), which gives `ws`'s browser stub, and this file runs in Node.
const { createWebSocketEndpoints, isWebSocketUpgrade, refuseUpgrade } = createRequire(import.meta.url)("../../demo/websockets.mjs") as typeof WebSocketsModule;

/** LIFECYCLE_HOOK_SECRET of the Workers-pool orchestrator (vitest.config.ts): the upstream checks hook signatures with it. */
export const TEST_LIFECYCLE_HOOK_SECRET = "test-lifecycle-hook-secret-0123456789abc";

export type Mode = "ok" | "down" | "hang" | "slow" | "error" | "flap" | "429-new-bodies";

interface InstanceState {
  mode: Mode;
  delayMs: number;
  hits: number;
  /** The last POSTs received, newest last (a webhook receiver's inbox). */
  received: ReceivedPost[];
  seenBodies: Set<string>;
  webSockets: WebSocketEndpoints;
}

export interface ReceivedPost {
  at: number;
  /** The path on the wire, /i/<name>/… included (what the orchestrator signs for a hook). */
  path: string;
  body: string;
  status: number;
  timestamp: string | null;
  signature: string | null;
  /** The lifecycle hook check of demo/hook-signature.mjs with TEST_LIFECYCLE_HOOK_SECRET, over exactly this path and body. */
  hookSignature: { ok: true } | { ok: false; reason: string };
}

export async function startControllableUpstream(): Promise<{ port: number; close: () => Promise<void> }> {
  const instances = new Map<string, InstanceState>();
  const stateOf = (name: string) => {
    let state = instances.get(name);
    if (!state) {
      const webSockets = createWebSocketEndpoints({ service: name, instance: name, responseHeaders: { "x-upstream-name": name } });
      instances.set(name, (state = { mode: "ok", delayMs: 0, hits: 0, received: [], seenBodies: new Set(), webSockets }));
    }
    return state;
  };
  /** Upgrade requests left unanswered (mode "hang"), destroyed on close. */
  const hanging = new Set<Duplex>();
  const server: Server = createServer({ shouldUpgradeCallback: isWebSocketUpgrade }, (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const control = /^\/control\/([\w-]+)(\/terminate-websockets)?$/.exec(url.pathname);
    if (control) {
      const state = stateOf(control[1] as string);
      state.mode = (url.searchParams.get("mode") as Mode | null) ?? state.mode;
      state.delayMs = Number(url.searchParams.get("delayMs") ?? state.delayMs);
      const terminated = control[2] ? { terminated: state.webSockets.terminateAll() } : {};
      const { seenBodies, webSockets, ...rest } = state;
      const view = { ...rest, seenBodies: seenBodies.size, openWebSockets: webSockets.open(), upgrades: webSockets.upgrades, ...terminated };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(view));
      return;
    }
    const match = /^\/i\/([\w-]+)(\/.*)?$/.exec(url.pathname);
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const name = match[1] as string;
    const state = stateOf(name);
    state.hits++;
    if (req.method === "POST") {
      // A webhook receiver: keeps what it was sent, answering once the body is in.
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      req.on("end", () => {
        // Briefly over its own rate limit: the first delivery of each message gets 429 + Retry-After.
        const status = state.mode === "429-new-bodies" && !state.seenBodies.has(body) ? 429 : 200;
        state.seenBodies.add(body);
        const timestamp = header(req.headers["x-orchestrator-timestamp"]);
        const signature = header(req.headers["x-orchestrator-signature"]);
        const path = req.url ?? "/";
        const hookSignature = verifyLifecycleHook({ secret: TEST_LIFECYCLE_HOOK_SECRET, method: "POST", path, body, timestamp: timestamp ?? undefined, signature: signature ?? undefined });
        state.received = [...state.received, { at: Date.now(), path, body, status, timestamp, signature, hookSignature }].slice(-50);
        if (status === 429) res.writeHead(429, { "retry-after": "1", "content-type": "text/plain" }).end("slow down");
        else res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
      return;
    }
    if (req.method === "GET" && match[2] === EVENT_STREAM_PATH && state.mode === "ok") {
      serveEventStream(res, url.searchParams, name);
      return;
    }
    const answer = () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name, path: match[2] ?? "/" }));
    switch (state.mode) {
      case "ok":
        return answer();
      case "down":
        req.socket.destroy();
        return;
      case "hang":
        return; // never answers; the server's close() destroys the socket
      case "slow":
        setTimeout(answer, state.delayMs);
        return;
      case "error":
        res.writeHead(503, { "content-type": "text/plain" }).end("unavailable");
        return;
      case "429-new-bodies":
        return answer();
      case "flap":
        // Alternates pass, fail, pass, fail… per request, however often it is asked.
        if (state.hits % 2 === 0) answer();
        else res.writeHead(503, { "content-type": "text/plain" }).end("flapping");
        return;
    }
  });
  server.on("upgrade", (req, socket: Duplex, head: Buffer) => {
    const target = req.url ?? "/";
    const match = /^\/i\/([\w-]+)(\/[^?]*)?/.exec(target);
    if (!match) {
      refuseUpgrade(socket, 404);
      return;
    }
    const state = stateOf(match[1] as string);
    state.hits++;
    const accept = () => state.webSockets.handleUpgrade(req, socket, head, match[2] ?? "/");
    switch (state.mode) {
      case "down":
        socket.destroy();
        return;
      case "hang":
        hanging.add(socket);
        socket.once("close", () => hanging.delete(socket));
        return;
      case "slow":
        setTimeout(accept, state.delayMs);
        return;
      case "error":
        refuseUpgrade(socket, 503, "unavailable");
        return;
      case "flap":
        if (state.hits % 2 === 0) accept();
        else refuseUpgrade(socket, 503, "flapping");
        return;
      default:
        accept();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // Upgraded and hanging upgrade sockets are no longer the HTTP server's: close() would wait for them.
        for (const state of instances.values()) state.webSockets.terminateAll();
        for (const socket of hanging) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(value: string | string[] | undefined): string | null {
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}
