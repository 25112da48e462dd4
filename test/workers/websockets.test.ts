/**
 * WebSocket proxying through the real Worker in workerd, to the loopback
 * upstream (upstream-server.ts, `ws` in Node): the relay in both directions,
 * the connection counted in the registry (in flight and as a socket) until it
 * closes, an upstream that dies, and upgrades the upstream refuses.
 */
import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import worker from "../../src/index";
import { registryStub } from "../../src/platform/stubs";
import { controlUpstream, sleep } from "./helpers";

const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.40.${nextIp++ % 250}`;

async function serviceOn(names: readonly string[]): Promise<string> {
  const service = `ws-${crypto.randomUUID().slice(0, 8)}`;
  for (const name of names) {
    await controlUpstream(name, "ok");
    const result = await registryStub(env).register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${name}` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
    expect(result.ok).toBe(true);
  }
  // Registered behind the Worker's back: an isolate asks the registry about a name it does not
  // know at most once per soft TTL (200 ms here), so let that pass.
  await sleep(250);
  return service;
}

function upgrade(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`https://orchestrator.test${path}`, { headers: { upgrade: "websocket", "cf-connecting-ip": ip(), ...headers } });
}

/** Our end of a proxied connection: messages and the close, as promises. */
function client(response: Response) {
  const socket = response.webSocket;
  if (socket === null) throw new Error(`no WebSocket: ${response.status}`);
  socket.binaryType = "arraybuffer";
  const messages: (string | ArrayBuffer)[] = [];
  const waiting: ((message: string | ArrayBuffer) => void)[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason })));
  socket.addEventListener("message", (event) => {
    const data = event.data as string | ArrayBuffer;
    const waiter = waiting.shift();
    if (waiter) waiter(data);
    else messages.push(data);
  });
  socket.accept();
  return {
    socket,
    closed,
    next: () => (messages.length > 0 ? Promise.resolve(messages.shift() as string | ArrayBuffer) : new Promise<string | ArrayBuffer>((resolve) => waiting.push(resolve))),
  };
}

/** The registry's view of a service's connections, once the isolate has reported (within its soft TTL). */
async function waitForCounts(service: string, expected: { inflight: number; websockets: number }, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await registryStub(env).lifecycle(service, null);
    if (!state.ok) throw new Error(JSON.stringify(state.problem));
    if (state.inflight === expected.inflight && state.websockets === expected.websockets) return state;
    if (Date.now() > deadline) throw new Error(`counts ${JSON.stringify({ inflight: state.inflight, websockets: state.websockets })}, expected ${JSON.stringify(expected)}`);
    await sleep(50);
  }
}

describe("WebSocket proxying in workerd", () => {
  it("relays text and binary, counts the connection in flight and as a socket until the client closes, then 0", async () => {
    const service = await serviceOn(["ws-a"]);
    const response = await upgrade(`/${service}/ws/echo`, { "sec-websocket-protocol": "echo.v1" });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBe("echo.v1");
    expect(response.headers.get("x-request-id")).toBeTruthy();
    const connection = client(response);
    connection.socket.send("ping?");
    expect(await connection.next()).toBe("ping?");
    const bytes = crypto.getRandomValues(new Uint8Array(64 * 1024));
    connection.socket.send(bytes);
    const echoed = await connection.next();
    expect(echoed).toBeInstanceOf(ArrayBuffer);
    expect(new Uint8Array(echoed as ArrayBuffer)).toEqual(bytes);
    await waitForCounts(service, { inflight: 1, websockets: 1 });
    connection.socket.close(1000, "bye");
    await waitForCounts(service, { inflight: 0, websockets: 0 });
  });

  it("an upstream that drops the connection closes the client with 1014, and the counts come back down", async () => {
    const service = await serviceOn(["ws-b"]);
    const connection = client(await upgrade(`/${service}/ws/feed?intervalMs=50`));
    await connection.next();
    await waitForCounts(service, { inflight: 1, websockets: 1 });
    const dropped = await fetch(`http://127.0.0.1:${port}/control/ws-b/terminate-websockets`);
    expect(((await dropped.json()) as { terminated: number }).terminated).toBe(1);
    expect((await connection.closed).code).toBe(1014);
    await waitForCounts(service, { inflight: 0, websockets: 0 });
  });

  it("an upstream that answers the upgrade with an error passes it through; one that is down gives 502; nothing stays counted", async () => {
    const service = await serviceOn(["ws-c"]);
    await controlUpstream("ws-c", "error");
    const refused = await upgrade(`/${service}/ws/echo`);
    expect(refused.status).toBe(503);
    expect(refused.webSocket).toBeNull();
    await refused.arrayBuffer();
    await controlUpstream("ws-c", "down");
    const down = await upgrade(`/${service}/ws/echo`);
    expect(down.status).toBe(502);
    expect(((await down.json()) as { type: string }).type).toBe("urn:orchestrator:problem:upstream-unreachable");
    await controlUpstream("ws-c", "ok");
    await waitForCounts(service, { inflight: 0, websockets: 0 });
  });

  it("a non-GET with Upgrade: websocket is an ordinary request, and another upgrade token is not a WebSocket", async () => {
    const service = await serviceOn(["ws-d"]);
    // Straight to the Worker: SELF.fetch would turn any request with Upgrade: websocket into a GET upgrade.
    const ctx = createExecutionContext();
    const request = new Request(`https://orchestrator.test/${service}/plain`, { method: "POST", body: "x", headers: { upgrade: "websocket", "cf-connecting-ip": ip() } });
    const post = await worker.fetch(request as Parameters<typeof worker.fetch>[0], env, ctx);
    expect(post.status).toBe(200);
    expect(post.webSocket).toBeNull();
    await post.arrayBuffer();
    await waitOnExecutionContext(ctx);
    const h2c = await SELF.fetch(`https://orchestrator.test/${service}/plain`, { headers: { upgrade: "h2c", "cf-connecting-ip": ip() } });
    expect(h2c.status).toBe(200);
    await h2c.arrayBuffer();
  });
});
