/**
 * WebSocket proxying against the real stack (wrangler dev, Node upstreams
 * speaking `ws`): messages both ways, subprotocols, close codes in both
 * directions, an upstream dying mid-connection, counts that come back to 0,
 * least-connections over long-lived connections, draining with 1001 on stop,
 * the per-service switch, rate limiting of the upgrade, and server-sent
 * events that outlive the upstream deadline.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { openWebSocket, refusedUpgrade, type TestWebSocket } from "../support/websocket-client";
import { countsBackToZero, socketCounts } from "../support/websocket-counts";
import { adminAuth, adminKey, baseUrl, eventually, Fleet, gateway, putServiceSettings, uniqueService } from "./upstreams";

const fleet = new Fleet();
const sockets: TestWebSocket[] = [];
afterAll(async () => {
  for (const socket of sockets.splice(0)) socket.socket.terminate();
  await fleet.cleanup();
});

const wsUrl = (path: string) => gateway(path).replace(/^http/, "ws");

async function open(path: string, options: Parameters<typeof openWebSocket>[1] = {}): Promise<TestWebSocket> {
  const socket = await openWebSocket(wsUrl(path), options);
  sockets.push(socket);
  return socket;
}

/** The registry's counts for a service: in flight and open connections, summed over its instances. */
const counts = (service: string) => socketCounts(baseUrl(), service);
const expectCountsBackToZero = (service: string) => countsBackToZero(baseUrl(), service);

/** Reads a text/event-stream to its end: the data of each event. */
async function readEventData(response: Response): Promise<string[]> {
  const text = await response.text();
  return text
    .split("\n\n")
    .map((block) => block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n"))
    .filter((data) => data.length > 0);
}

describe("WebSocket proxying (wrangler dev)", () => {
  it("relays text and binary both ways with the agreed subprotocol; the upgrade carries the request id and forwarding headers, not our credential", async () => {
    const service = uniqueService("ws");
    const { upstreams } = await fleet.service(service, 1);
    const upstream = upstreams[0]!;
    const socket = await open(`/${service}/ws/echo?x=1`, { protocols: ["echo.v1", "other"], headers: { authorization: `Bearer ${adminKey()}` } });
    expect(socket.protocol).toBe("echo.v1");
    const requestId = socket.responseHeaders["x-request-id"];
    expect(requestId).toMatch(/\S+/);
    socket.send("hello, ünïcode ✓");
    expect(await socket.next()).toEqual({ data: "hello, ünïcode ✓", binary: false });
    const binary = randomBytes(1024 * 1024);
    socket.send(binary);
    const echoed = await socket.next();
    expect(echoed.binary).toBe(true);
    expect(createHash("sha256").update(echoed.data as Buffer).digest("hex")).toBe(createHash("sha256").update(binary).digest("hex"));
    const arrived = upstream.upgrades.at(-1)!;
    expect(arrived.path).toBe("/ws/echo");
    expect(arrived.headers["x-request-id"]).toBe(requestId);
    expect(arrived.headers["x-forwarded-for"]).toBeDefined();
    expect(arrived.headers.authorization).toBeUndefined();
    expect(arrived.protocols).toEqual(["echo.v1", "other"]);
    socket.close(1000, "done");
    expect(await socket.closed).toEqual({ code: 1000, reason: "done" });
    await expectCountsBackToZero(service);
  });

  it("a 16 MiB binary message crosses intact", async () => {
    const service = uniqueService("ws-big");
    await fleet.service(service, 1);
    const socket = await open(`/${service}/ws/echo`);
    const big = randomBytes(16 * 1024 * 1024);
    socket.send(big);
    const echoed = await socket.next(60_000);
    expect((echoed.data as Buffer).length).toBe(big.length);
    expect(createHash("sha256").update(echoed.data as Buffer).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
    socket.close();
    await socket.closed;
  });

  it("close codes cross in both directions", async () => {
    const service = uniqueService("ws-close");
    const { upstreams } = await fleet.service(service, 1);
    // The client closes: the upstream gets its code and reason.
    const first = await open(`/${service}/ws/echo`);
    first.close(4001, "client says bye");
    expect((await first.closed).code).toBe(4001);
    const record = await eventually(async () => upstreams[0]!.upgrades.at(-1)?.closed ?? undefined, 5_000, 50);
    expect(record).toEqual({ code: 4001, reason: "client says bye" });
    // The upstream closes: the client gets its code and reason.
    const second = await open(`/${service}/ws/echo`);
    second.send(JSON.stringify({ close: 4002, reason: "upstream says bye" }));
    expect(await second.closed).toEqual({ code: 4002, reason: "upstream says bye" });
    await expectCountsBackToZero(service);
  });

  it("an upstream that dies mid-connection closes the client promptly with 1014, and the count comes back down", async () => {
    const service = uniqueService("ws-die");
    const { upstreams } = await fleet.service(service, 1);
    const socket = await open(`/${service}/ws/feed?intervalMs=100`);
    await socket.next();
    await eventually(async () => ((await counts(service)).websockets === 1 ? true : undefined), 5_000);
    const killedAt = Date.now();
    expect(upstreams[0]!.terminateWebSockets()).toBe(1);
    const closed = await socket.closed;
    expect(closed.code).toBe(1014);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    await expectCountsBackToZero(service);
  });

  it("a client that vanishes without a close frame is not counted forever", async () => {
    const service = uniqueService("ws-vanish");
    const { upstreams } = await fleet.service(service, 1);
    const socket = await open(`/${service}/ws/feed?intervalMs=100`);
    await socket.next();
    socket.socket.terminate();
    const closed = await eventually(async () => upstreams[0]!.upgrades.at(-1)?.closed ?? undefined, 10_000, 50);
    expect(closed.code).toBe(1001);
    await expectCountsBackToZero(service);
  });

  it("an upgrade the upstream refuses: its 404 goes back as it is; an unreachable instance: 502 problem+json", async () => {
    const service = uniqueService("ws-refuse");
    await fleet.service(service, 1);
    const refused = await refusedUpgrade(wsUrl(`/${service}/not-a-socket`));
    expect(refused.status).toBe(404);
    const dead = uniqueService("ws-dead");
    const { upstreams } = await fleet.service(dead, 1);
    await upstreams[0]!.close();
    const unreachable = await refusedUpgrade(wsUrl(`/${dead}/ws/echo`));
    expect(unreachable.status).toBe(502);
    expect(unreachable.headers["content-type"]).toContain("application/problem+json");
    expect(JSON.parse(unreachable.body)).toMatchObject({ type: "urn:orchestrator:problem:upstream-unreachable", service: dead });
    await expectCountsBackToZero(service);
  });

  it("a service whose websockets setting is off answers 403 problem+json; its HTTP traffic still flows", async () => {
    const service = uniqueService("ws-off");
    await fleet.service(service, 1);
    const configured = await putServiceSettings(service, { websockets: false });
    expect(configured.status).toBe(200);
    const refused = await refusedUpgrade(wsUrl(`/${service}/ws/echo`));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ type: "urn:orchestrator:problem:websocket-not-allowed", field: "upgrade" });
    expect((await fetch(gateway(`/${service}/plain`))).status).toBe(200);
  });

  it("least-connections spreads 20 long-lived connections evenly over 4 instances, and the counts return to 0 after they close", async () => {
    const service = uniqueService("ws-lc");
    const { upstreams } = await fleet.service(service, 4);
    expect((await putServiceSettings(service, { strategy: "least-connections" })).status).toBe(200);
    const opened: TestWebSocket[] = [];
    for (let i = 0; i < 20; i++) opened.push(await open(`/${service}/ws/echo`));
    expect(upstreams.map((u) => u.openWebSockets())).toEqual([5, 5, 5, 5]);
    const during = await eventually(async () => {
      const now = await counts(service);
      return now.websockets === 20 ? now : undefined;
    }, 10_000);
    expect(during.inflight).toBe(20);
    for (const socket of opened) socket.close(1000);
    await Promise.all(opened.map((s) => s.closed));
    await expectCountsBackToZero(service);
  });

  it("stopping an instance sends new connections elsewhere at once and closes its open ones with 1001 after DRAIN_TIMEOUT_MS; the answer counts them", async () => {
    const service = uniqueService("ws-drain");
    const { upstreams, ids } = await fleet.service(service, 2);
    const opened: TestWebSocket[] = [];
    for (let i = 0; i < 4; i++) opened.push(await open(`/${service}/ws/feed?intervalMs=200`));
    expect(upstreams.map((u) => u.openWebSockets())).toEqual([2, 2]);
    await eventually(async () => ((await counts(service)).websockets === 4 ? true : undefined), 10_000);
    const stopping = fetch(gateway(`/admin/workers/${service}/instances/${encodeURIComponent(ids[0]!)}/stop`), { method: "POST", headers: adminAuth() });
    // New connections go to the other instance at once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const fresh = await open(`/${service}/ws/echo`);
    expect(upstreams[1]!.openWebSockets()).toBe(3);
    const answer = await stopping;
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { drained: boolean; websocketsClosed: number; websockets: number; inflight: number };
    expect(body).toMatchObject({ drained: true, websocketsClosed: 2, websockets: 0, inflight: 0 });
    const onStopped = upstreams[0]!.upgrades.filter((u) => u.status === 101);
    for (const record of onStopped) expect(record.closed?.code).toBe(1001);
    const codes = await Promise.all(opened.map(async (s) => (s.socket.readyState === s.socket.OPEN ? null : (await s.closed).code)));
    expect(codes.filter((code) => code === 1001)).toHaveLength(2);
    expect(upstreams[1]!.openWebSockets()).toBe(3);
    fresh.close();
    for (const socket of opened) socket.close();
  });

  it("affinity keeps a client on one instance across reconnects; other clients spread over all of them", async () => {
    const service = uniqueService("ws-sticky");
    const { upstreams } = await fleet.service(service, 3);
    expect((await putServiceSettings(service, { affinity: { source: "header", name: "x-user" } })).status).toBe(200);
    const instanceOf = async (user: string): Promise<number> => {
      const socket = await open(`/${service}/ws/echo`, { headers: { "x-user": user } });
      const index = upstreams.findIndex((u) => u.openWebSockets() === 1);
      socket.close();
      await socket.closed;
      await eventually(async () => (upstreams.every((u) => u.openWebSockets() === 0) ? true : undefined), 5_000, 20);
      return index;
    };
    const first = await instanceOf("alice");
    for (let i = 0; i < 5; i++) expect(await instanceOf("alice")).toBe(first);
    const used = new Set<number>();
    for (let i = 0; i < 30; i++) used.add(await instanceOf(`user-${i}`));
    expect(used.size).toBe(3);
  });

  it("the upgrade is rate-limited like any request to the service", async () => {
    // RATE_LIMIT_SERVICES gives ws-limited 3 requests per period (global-setup.ts).
    const results: number[] = [];
    await fleet.service("ws-limited", 1);
    for (let i = 0; i < 6; i++) {
      const outcome = await refusedUpgrade(wsUrl("/ws-limited/ws/echo")).catch(() => null);
      results.push(outcome?.status ?? 101);
    }
    expect(results.filter((status) => status === 101).length).toBeGreaterThanOrEqual(1);
    expect(results).toContain(429);
    for (const socket of sockets) if (socket.socket.url.includes("/ws-limited/")) socket.close();
  });

  it("server-sent events outlive the upstream deadline once headers have arrived, counted in flight until the stream ends", async () => {
    const service = uniqueService("sse");
    await fleet.service(service, 1);
    expect((await putServiceSettings(service, { timeoutMs: 1_000 })).status).toBe(200);
    const response = await fetch(gateway(`/${service}/sse?events=6&intervalMs=500`));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const midway = eventually(async () => ((await counts(service)).inflight === 1 ? true : undefined), 2_000, 100);
    const events = await readEventData(response);
    expect(await midway).toBe(true);
    expect(events.map((data) => (JSON.parse(data) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5, 6]);
    await expectCountsBackToZero(service);
  });
});
