/**
 * WebSocket proxying on plain workerd, the runtime Cloudflare runs (issue #18;
 * test/e2e/websockets.test.ts checks the same on wrangler dev): messages both
 * ways with the agreed subprotocol, close codes in both directions, an
 * upstream dying mid-connection, least-connections over long-lived
 * connections, stop and restart draining with 1001, the idle timeout, rate
 * limiting of the upgrade, client affinity, and connections held in two
 * isolates counted together by the registry.
 *
 * The loopback upstreams (upstream.ts) speak /ws/echo and /ws/feed and record
 * every upgrade with the headers it arrived with; a client connection is
 * matched to its upstream by the X-Request-Id of its 101. Requests carry
 * CF-Connecting-IP, as Cloudflare's edge sets it (plain workerd does not).
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { UpgradeRecord } from "../../demo/websockets.mjs";
import { eventually } from "../support/eventually";
import { type Closed, openWebSocket, type OpenOptions, refusedUpgrade, type RefusedUpgrade, type TestWebSocket } from "../support/websocket-client";
import { countsBackToZero, countsWhen } from "../support/websocket-counts";
import { Api } from "./client";
import { IsolatesOrchestrator } from "./isolates-harness";
import { type LoopbackUpstream, startLoopbackUpstream } from "./upstream";
import { Orchestrator, sleep } from "./workerd-harness";

const DRAIN_TIMEOUT_MS = 1_500;
const IDLE_TIMEOUT_MS = 1_500;
/** Short edge intervals: isolates see a stop and report a close within a fraction of a second. */
const EDGE_VARS = { EDGE_TABLE_SOFT_TTL_MS: "250", EDGE_REPORT_INTERVAL_MS: "500", DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS), ACCESS_LOG: "errors" };
/** What src/core/registry/inflight.ts gives an isolate's report with these intervals: max(15 s, 3 × 500 ms). */
const ISOLATE_REPORT_TTL_MS = 15_000;
const CLIENT_IP = "203.0.113.7";

/** Loopback services registered on one orchestrator, and the client connections opened to them; cleanup() ends both. */
class WebSocketFleet {
  private readonly upstreams: LoopbackUpstream[] = [];
  private readonly sockets: TestWebSocket[] = [];

  constructor(private readonly api: Api) {}

  /** Starts `count` upstreams named `{service}-{i}` and registers each under `service`, in order. */
  async service(service: string, count: number): Promise<{ upstreams: LoopbackUpstream[]; ids: string[] }> {
    const upstreams: LoopbackUpstream[] = [];
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const upstream = await startLoopbackUpstream(`${service}-${i}`);
      this.upstreams.push(upstream);
      upstreams.push(upstream);
      const registered = await this.api.register({ service, url: upstream.url, ttlSeconds: 3600 });
      expect(registered.status, registered.json?.type).toBe(201);
      ids.push(registered.json.id);
    }
    return { upstreams, ids };
  }

  /** Opens `path` through the orchestrator (or the isolate at `via`) from CLIENT_IP unless the headers say otherwise. */
  async open(path: string, options: OpenOptions & { via?: string } = {}): Promise<TestWebSocket> {
    const socket = await openWebSocket(wsUrl(options.via ?? this.api.baseUrl, path), { ...options, headers: { "cf-connecting-ip": CLIENT_IP, ...options.headers } });
    this.sockets.push(socket);
    return socket;
  }

  async cleanup(): Promise<void> {
    for (const socket of this.sockets.splice(0)) socket.socket.terminate();
    await Promise.all(this.upstreams.splice(0).map((u) => u.close()));
  }
}

const wsUrl = (baseUrl: string, path: string) => baseUrl.replace(/^http/, "ws") + path;

/** The upgrade record of a client connection, found by the request id its 101 carried. */
function recordOf(socket: TestWebSocket, upstreams: readonly LoopbackUpstream[]): { at: number; record: UpgradeRecord } {
  const id = socket.responseHeaders["x-request-id"];
  for (const [at, upstream] of upstreams.entries()) {
    const record = upstream.upgrades.find((r) => r.headers["x-request-id"] === id);
    if (record) return { at, record };
  }
  throw new Error(`no upstream saw the upgrade with x-request-id ${String(id)}`);
}

/** Which of `upstreams` a client connection went to (its index). */
const whereIs = (socket: TestWebSocket, upstreams: readonly LoopbackUpstream[]) => recordOf(socket, upstreams).at;

/** How the upstream end of a client connection closed, once it has (at most `timeoutMs`). */
const upstreamClosed = (socket: TestWebSocket, upstreams: readonly LoopbackUpstream[], timeoutMs = 5_000) => eventually(async () => recordOf(socket, upstreams).record.closed ?? undefined, timeoutMs, 50);

/** The client's close, or a failure after `timeoutMs`. */
function closedWithin(socket: TestWebSocket, timeoutMs: number): Promise<Closed> {
  return Promise.race([socket.closed, sleep(timeoutMs).then(() => Promise.reject(new Error(`still open after ${timeoutMs} ms`)))]);
}

const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

describe("WebSocket proxying on plain workerd", () => {
  let orchestrator: Orchestrator;
  let api: Api;
  let fleet: WebSocketFleet;
  const base = () => orchestrator.baseUrl;

  beforeAll(async () => {
    // No slow start: an instance's weight ramping up after it registers grows its share of the affinity
    // ring, which moves other instances' users to it (by design), and would blur "users do not move".
    const vars = { ...EDGE_VARS, RATE_LIMIT_SERVICES: JSON.stringify({ "ws-limited": 3 }), SLOW_START_WINDOW_MS: "0" };
    orchestrator = new Orchestrator({ bundle: { dir: inject("reliabilityBundleDir") }, vars });
    await orchestrator.start();
    api = new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken);
    fleet = new WebSocketFleet(api);
  });

  afterAll(async () => {
    await fleet?.cleanup();
    await orchestrator?.dispose();
  });

  /** A service of two instances with two feeds open on each (round-robin), once the registry counts the four. */
  async function twoFeedsOnEachOfTwo(service: string): Promise<{ upstreams: LoopbackUpstream[]; ids: string[]; opened: TestWebSocket[] }> {
    const { upstreams, ids } = await fleet.service(service, 2);
    const opened: TestWebSocket[] = [];
    for (let i = 0; i < 4; i++) opened.push(await fleet.open(`/${service}/ws/feed?intervalMs=200`));
    expect(upstreams.map((u) => u.openWebSockets())).toEqual([2, 2]);
    await countsWhen(base(), service, (c) => c.websockets === 4, 10_000);
    return { upstreams, ids, opened };
  }

  it("relays text and binary (4 MiB, hash-compared) with echo.v1 agreed; the upgrade carries the 101's request id and X-Forwarded-For, never our admin key", async () => {
    const { upstreams } = await fleet.service("ws-echo", 1);
    const socket = await fleet.open("/ws-echo/ws/echo?x=1", { protocols: ["echo.v1", "other"], headers: { authorization: `Bearer ${orchestrator.adminKey}` } });
    expect(socket.protocol).toBe("echo.v1");
    const requestId = socket.responseHeaders["x-request-id"];
    expect(requestId).toMatch(/\S+/);

    socket.send("hello, ünïcode ✓");
    expect(await socket.next()).toEqual({ data: "hello, ünïcode ✓", binary: false });
    const small = randomBytes(1024);
    socket.send(small);
    expect(await socket.next()).toEqual({ data: small, binary: true });
    const big = randomBytes(4 * 1024 * 1024);
    socket.send(big);
    const echoed = await socket.next(30_000);
    expect(echoed.binary).toBe(true);
    expect((echoed.data as Buffer).length).toBe(big.length);
    expect(sha256(echoed.data as Buffer)).toBe(sha256(big));

    const { record } = recordOf(socket, upstreams);
    expect(record).toMatchObject({ path: "/ws/echo", status: 101, protocol: "echo.v1", protocols: ["echo.v1", "other"] });
    expect(record.headers["x-request-id"]).toBe(requestId);
    expect(record.headers["x-forwarded-for"]).toBe(CLIENT_IP);
    expect(record.headers.authorization).toBeUndefined();
    socket.close(1000, "done");
    expect(await closedWithin(socket, 5_000)).toEqual({ code: 1000, reason: "done" });
    await countsBackToZero(base(), "ws-echo");
  });

  it("close codes cross in both directions, and a close without a code stays without one", async () => {
    const { upstreams } = await fleet.service("ws-close", 1);
    // The client closes: the upstream gets its code and reason.
    const first = await fleet.open("/ws-close/ws/echo");
    first.close(4001, "client says bye");
    expect((await closedWithin(first, 5_000)).code).toBe(4001);
    expect(await upstreamClosed(first, upstreams)).toEqual({ code: 4001, reason: "client says bye" });
    // The upstream closes: the client gets its code and reason.
    const second = await fleet.open("/ws-close/ws/echo");
    second.send(JSON.stringify({ close: 4002, reason: "upstream says bye" }));
    expect(await closedWithin(second, 5_000)).toEqual({ code: 4002, reason: "upstream says bye" });
    expect((await upstreamClosed(second, upstreams)).code).toBe(4002);
    // No code from the client: a close frame without one on the other leg too (1005 at both ends).
    const third = await fleet.open("/ws-close/ws/echo");
    third.close();
    expect(await closedWithin(third, 5_000)).toEqual({ code: 1005, reason: "" });
    expect(await upstreamClosed(third, upstreams)).toEqual({ code: 1005, reason: "" });
    await countsBackToZero(base(), "ws-close");
  });

  it("an upstream that dies mid-connection closes the client within a few seconds with 1014, and the counts come back to 0", async () => {
    const { upstreams } = await fleet.service("ws-die", 1);
    const socket = await fleet.open("/ws-die/ws/feed?intervalMs=100");
    await socket.next();
    await countsWhen(base(), "ws-die", (c) => c.websockets === 1, 10_000);
    expect(upstreams[0]!.terminateWebSockets()).toBe(1);
    expect((await closedWithin(socket, 5_000)).code).toBe(1014);
    await countsBackToZero(base(), "ws-die");
  });

  it("least-connections spreads 20 long-lived connections 5 per instance over 4; the registry counts 20 open, then 0 after they close", async () => {
    const { upstreams, ids } = await fleet.service("ws-lc", 4);
    await api.expect(200, "PUT", "/admin/services/ws-lc", { auth: "admin", body: { strategy: "least-connections" } });
    const opened: TestWebSocket[] = [];
    for (let i = 0; i < 20; i++) opened.push(await fleet.open("/ws-lc/ws/echo"));
    expect(upstreams.map((u) => u.openWebSockets())).toEqual([5, 5, 5, 5]);
    const during = await countsWhen(base(), "ws-lc", (c) => c.websockets === 20, 10_000);
    expect(during.inflight).toBe(20);
    expect(ids.map((id) => during.perInstance[id]?.websockets)).toEqual([5, 5, 5, 5]);
    for (const socket of opened) socket.close(1000);
    await Promise.all(opened.map((s) => closedWithin(s, 5_000)));
    await countsBackToZero(base(), "ws-lc");
  });

  it("stopping one of two instances: new connections go to the other at once, its open ones get 1001 at both ends after DRAIN_TIMEOUT_MS, and the answer counts them", async () => {
    const service = "ws-drain";
    const { upstreams, ids, opened } = await twoFeedsOnEachOfTwo(service);
    const [onStopped, onOther] = [opened.filter((s) => whereIs(s, upstreams) === 0), opened.filter((s) => whereIs(s, upstreams) === 1)];
    const closedAt = new Map<TestWebSocket, number>();
    for (const socket of opened) void socket.closed.then(() => closedAt.set(socket, Date.now()));

    const stopSentAt = Date.now();
    let answered = false;
    const stopping = api.call<Record<string, unknown>>("POST", `/admin/workers/${service}/instances/${encodeURIComponent(ids[0]!)}/stop`, { auth: "admin", timeoutMs: 30_000 }).finally(() => (answered = true));
    await eventually(async () => ((await api.snapshot()).services.find((s) => s.name === service)?.instances.find((i) => i.id === ids[0])?.adminState === "stopped" ? true : undefined), 5_000, 50);
    // While the stop is still draining, a new connection goes to the other instance.
    const fresh = await fleet.open(`/${service}/ws/echo`);
    expect(whereIs(fresh, upstreams)).toBe(1);
    expect(answered).toBe(false);

    const answer = await stopping;
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json).toMatchObject({ action: "stop", adminState: "stopped", drained: true, websocketsClosed: 2, websockets: 0, inflight: 0 });
    for (const socket of onStopped) {
      expect(await closedWithin(socket, 5_000)).toEqual({ code: 1001, reason: "instance going away" });
      // Not before the drain timeout: the isolate gives them that long after it sees the stop.
      expect(closedAt.get(socket)! - stopSentAt).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_MS);
      expect((await upstreamClosed(socket, upstreams)).code).toBe(1001);
    }
    for (const socket of onOther) expect(socket.socket.readyState).toBe(socket.socket.OPEN);
    expect(upstreams.map((u) => u.openWebSockets())).toEqual([0, 3]);
  });

  it("restarting an instance closes its connections with 1001 at both ends and puts it back in rotation", async () => {
    const service = "ws-restart";
    const { upstreams, ids, opened } = await twoFeedsOnEachOfTwo(service);

    const answer = await api.call("POST", `/admin/workers/${service}/instances/${encodeURIComponent(ids[0]!)}/restart`, { auth: "admin", timeoutMs: 30_000 });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json).toMatchObject({ action: "restart", adminState: "active", drained: true, websocketsClosed: 2 });
    for (const socket of opened.filter((s) => whereIs(s, upstreams) === 0)) {
      expect(await closedWithin(socket, 5_000)).toEqual({ code: 1001, reason: "instance going away" });
      expect((await upstreamClosed(socket, upstreams)).code).toBe(1001);
    }
    for (const socket of opened.filter((s) => whereIs(s, upstreams) === 1)) expect(socket.socket.readyState).toBe(socket.socket.OPEN);
    // Back in rotation: new connections reach it again (round-robin over two).
    const landed = await eventually(
      async () => {
        const socket = await fleet.open(`/${service}/ws/echo`);
        socket.close();
        return whereIs(socket, upstreams) === 0 ? true : undefined;
      },
      5_000,
      0,
    );
    expect(landed).toBe(true);
  });

  it("the upgrade is rate-limited like any request to the service: past the limit, 429 problem+json with the rate-limit fields", async () => {
    // RATE_LIMIT_SERVICES gives ws-limited 3 requests per RATE_LIMIT_PERIOD_SECONDS (60) and client.
    await fleet.service("ws-limited", 1);
    const headers = { "cf-connecting-ip": "198.51.100.23" };
    const outcomes: Array<RefusedUpgrade | null> = [];
    for (let i = 0; i < 6; i++) {
      // refusedUpgrade rejects when the upgrade is accepted (and drops that connection): null stands for a 101.
      const outcome = await refusedUpgrade(wsUrl(base(), "/ws-limited/ws/echo"), { headers }).catch((error: unknown) => {
        if (String(error).includes("was accepted")) return null;
        throw error;
      });
      outcomes.push(outcome);
    }
    expect(outcomes.map((o) => o?.status ?? 101)).toEqual([101, 101, 101, 429, 429, 429]);
    const refused = outcomes.at(-1)!;
    expect(refused.headers["content-type"]).toContain("application/problem+json");
    expect(JSON.parse(refused.body)).toMatchObject({ type: "urn:orchestrator:problem:rate-limited", status: 429, policy: "general-ws-limited" });
    expect(refused.headers["ratelimit-policy"]).toBe('"general-ws-limited";q=3;w=60');
    expect(refused.headers.ratelimit).toMatch(/^"general-ws-limited";r=0;t=\d+$/);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.headers["x-request-id"]).toMatch(/\S+/);
  });

  it("affinity by header: one user's reconnects stay on one instance, 40 users spread over all 3, and a stop moves only the stopped instance's users", async () => {
    const service = "ws-affinity";
    const { upstreams, ids } = await fleet.service(service, 3);
    await api.expect(200, "PUT", `/admin/services/${service}`, { auth: "admin", body: { affinity: { source: "header", name: "x-user" } } });
    const landing = async (user: string) => {
      const socket = await fleet.open(`/${service}/ws/echo`, { headers: { "x-user": user } });
      const at = whereIs(socket, upstreams);
      socket.close();
      await closedWithin(socket, 5_000);
      return at;
    };
    const first = await landing("user-a");
    for (let i = 0; i < 9; i++) expect(await landing("user-a")).toBe(first);

    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const before = new Map<string, number>();
    for (const user of users) before.set(user, await landing(user));
    expect(new Set(before.values()).size).toBe(3);

    const stop = await api.call("POST", `/admin/workers/${service}/instances/${encodeURIComponent(ids[first]!)}/stop`, { auth: "admin", timeoutMs: 30_000 });
    expect(stop.status, stop.text).toBe(200);
    expect(await landing("user-a")).not.toBe(first);
    for (const user of users) {
      const now = await landing(user);
      if (before.get(user) === first) expect(now, user).not.toBe(first);
      else expect(now, `${user} stays where it was`).toBe(before.get(user));
    }
  });
});

describe("WebSocket idle timeout on plain workerd", () => {
  let orchestrator: Orchestrator;
  let fleet: WebSocketFleet;

  beforeAll(async () => {
    orchestrator = new Orchestrator({ bundle: { dir: inject("reliabilityBundleDir") }, vars: { ...EDGE_VARS, WEBSOCKET_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS) } });
    await orchestrator.start();
    fleet = new WebSocketFleet(new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken));
  });

  afterAll(async () => {
    await fleet?.cleanup();
    await orchestrator?.dispose();
  });

  it("a connection with no messages is closed with 1001 at both ends; one with a feed ticking faster stays open", async () => {
    const { upstreams } = await fleet.service("ws-idle", 1);
    const quiet = await fleet.open("/ws-idle/ws/echo");
    const busy = await fleet.open("/ws-idle/ws/feed?intervalMs=300");
    const openedAt = Date.now();
    expect(await closedWithin(quiet, IDLE_TIMEOUT_MS + 5_000)).toEqual({ code: 1001, reason: "idle timeout" });
    expect(await upstreamClosed(quiet, upstreams)).toEqual({ code: 1001, reason: "idle timeout" });
    // Well past two idle timeouts, the busy one is still open and still ticking.
    await sleep(Math.max(0, openedAt + 2 * IDLE_TIMEOUT_MS + 500 - Date.now()));
    expect(busy.socket.readyState).toBe(busy.socket.OPEN);
    expect(recordOf(busy, upstreams).record.closed).toBeNull();
    expect((await busy.next()).binary).toBe(false);
    busy.close(1000);
    expect((await closedWithin(busy, 5_000)).code).toBe(1000);
    await countsBackToZero(orchestrator.baseUrl, "ws-idle");
  });
});

describe("WebSocket connections held in two isolates", () => {
  let isolates: IsolatesOrchestrator;
  let api: Api;
  let fleet: WebSocketFleet;

  beforeAll(async () => {
    isolates = new IsolatesOrchestrator({ bundleDir: inject("reliabilityBundleDir"), isolates: 2, vars: EDGE_VARS });
    await isolates.start();
    api = new Api(isolates.baseUrl(0), isolates.adminKey, isolates.registrationToken);
    fleet = new WebSocketFleet(api);
  });

  afterAll(async () => {
    await fleet?.cleanup();
    await isolates?.dispose();
  });

  it("the registry counts the sum of both isolates' open connections, and 0 within the isolate report TTL after they close", async () => {
    const service = "ws-isolates";
    const { upstreams } = await fleet.service(service, 2);
    const opened: TestWebSocket[] = [];
    for (let i = 0; i < 3; i++) opened.push(await fleet.open(`/${service}/ws/echo`, { via: isolates.baseUrl(0) }));
    for (let i = 0; i < 2; i++) opened.push(await fleet.open(`/${service}/ws/echo`, { via: isolates.baseUrl(1) }));
    expect(upstreams.reduce((sum, u) => sum + u.openWebSockets(), 0)).toBe(5);
    // Read through either isolate: the registry's count is one.
    for (const via of [isolates.baseUrl(0), isolates.baseUrl(1)]) {
      const counted = await countsWhen(via, service, (c) => c.websockets === 5, 10_000);
      expect(counted.inflight).toBe(5);
    }
    for (const socket of opened) socket.close(1000);
    await Promise.all(opened.map((s) => closedWithin(s, 5_000)));
    await countsBackToZero(isolates.baseUrl(0), service, ISOLATE_REPORT_TTL_MS);
  });

  it("a stop through one isolate closes the connections another isolate holds with 1001, and its answer counts them", async () => {
    const service = "ws-isolates-drain";
    const { upstreams, ids } = await fleet.service(service, 1);
    const held = await fleet.open(`/${service}/ws/feed?intervalMs=200`, { via: isolates.baseUrl(1) });
    await countsWhen(isolates.baseUrl(0), service, (c) => c.websockets === 1, 10_000);
    const answer = await api.call("POST", `/admin/workers/${service}/instances/${encodeURIComponent(ids[0]!)}/stop`, { auth: "admin", timeoutMs: 30_000 });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json).toMatchObject({ adminState: "stopped", drained: true, websocketsClosed: 1, websockets: 0, inflight: 0 });
    expect(await closedWithin(held, 5_000)).toEqual({ code: 1001, reason: "instance going away" });
    expect((await upstreamClosed(held, upstreams)).code).toBe(1001);
  });
});
