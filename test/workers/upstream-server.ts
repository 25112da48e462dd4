/**
 * A controllable upstream for Workers-pool tests, run in Node by globalSetup:
 * one HTTP server on 127.0.0.1 hosting many named "instances" under
 * /i/<name>/…, each switchable between behaviours through /control/<name>.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { verifyLifecycleHook } from "../../demo/hook-signature.mjs";

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
    if (!state) instances.set(name, (state = { mode: "ok", delayMs: 0, hits: 0, received: [], seenBodies: new Set() }));
    return state;
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const control = /^\/control\/([\w-]+)$/.exec(url.pathname);
    if (control) {
      const state = stateOf(control[1] as string);
      state.mode = (url.searchParams.get("mode") as Mode | null) ?? state.mode;
      state.delayMs = Number(url.searchParams.get("delayMs") ?? state.delayMs);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...state, seenBodies: state.seenBodies.size }));
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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(value: string | string[] | undefined): string | null {
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}
