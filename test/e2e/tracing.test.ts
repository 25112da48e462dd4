/**
 * Following one request across services (issue #19): the orchestrator takes
 * part in the client's W3C trace (a traceparent continued with the same trace
 * id and a span of its own, tracestate passed on) or starts one, and sends it
 * upstream; invalid traceparents are replaced, never forwarded. The trace id
 * is in every problem body and in the access log line, the lifecycle hook
 * call carries the admin request's trace, and proxied answers say how long
 * the orchestrator and the upstream took (Server-Timing).
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { openWebSocket } from "../support/websocket-client";
import { adminAuth, closedPortUrl, type Echo, eventually, Fleet, gateway, putServiceSettings, readProblem, uniqueService, type Upstream } from "./upstreams";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
const TRACE_ID = /^[0-9a-f]{32}$/;

const fleet = new Fleet();
let service: string;
let upstream: Upstream;

/** A loopback server that records what it receives and answers with a Server-Timing of its own (or 204 to a lifecycle hook call). */
interface Recorder {
  readonly url: string;
  readonly received: { method: string; path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function startRecorder(): Promise<Recorder> {
  const received: Recorder["received"] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.once("end", () => {
      received.push({ method: req.method ?? "", path: req.url ?? "/", headers: req.headers });
      if (req.url?.endsWith("/__lifecycle/restart")) {
        res.writeHead(204).end();
        return;
      }
      const body = JSON.stringify({ ok: true });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "server-timing": 'app;dur=12.5;desc="db"' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const recorders: Recorder[] = [];
async function recorder(): Promise<Recorder> {
  const started = await startRecorder();
  recorders.push(started);
  return started;
}

beforeAll(async () => {
  service = uniqueService("trace");
  upstream = await fleet.upstream();
  await fleet.register(service, upstream.url);
});

afterAll(async () => {
  await fleet.cleanup();
  await Promise.all(recorders.map((r) => r.close()));
});

/** What the upstream received for one proxied request with these headers. */
async function upstreamSaw(headers: Record<string, string>): Promise<{ echo: Echo; response: Response }> {
  const response = await fetch(gateway(`/${service}/echo`), { headers });
  expect(response.status).toBe(200);
  return { echo: (await response.json()) as Echo, response };
}

function sentTraceparent(echo: Echo): { traceId: string; parentId: string; flags: string } {
  const value = echo.headers.traceparent;
  expect(typeof value, "traceparent upstream").toBe("string");
  const match = TRACEPARENT.exec(value as string);
  expect(match, `traceparent upstream: ${String(value)}`).not.toBeNull();
  const [, traceId, parentId, flags] = match as unknown as [string, string, string, string];
  expect(traceId).not.toBe("0".repeat(32));
  expect(parentId).not.toBe("0".repeat(16));
  return { traceId, parentId, flags };
}

/** The access log line (wrangler dev's output) of the request with this X-Request-Id. */
async function accessLogLine(requestId: string): Promise<Record<string, unknown>> {
  return eventually(async () => {
    for (const line of readFileSync(inject("wranglerLog"), "utf8").split("\n")) {
      if (!line.includes(`"requestId":"${requestId}"`) || !line.includes('"path"')) continue;
      return JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>;
    }
    return undefined;
  }, 10_000);
}

describe("traceparent to the upstream", () => {
  it("continues the client's trace: the same trace id and sampled flag, a new parent-id, and the tracestate passed on", async () => {
    const tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    const { echo } = await upstreamSaw({ traceparent: `00-${TRACE}-${PARENT}-01`, tracestate });
    const sent = sentTraceparent(echo);
    expect(sent.traceId).toBe(TRACE);
    expect(sent.parentId).not.toBe(PARENT);
    expect(sent.flags).toBe("01");
    expect(echo.headers.tracestate).toBe(tracestate);

    const unsampled = sentTraceparent((await upstreamSaw({ traceparent: `00-${TRACE}-${PARENT}-00` })).echo);
    expect(unsampled).toMatchObject({ traceId: TRACE, flags: "00" });
    expect(unsampled.parentId).not.toBe(sent.parentId);
  });

  it("starts a trace when the client sent none: version 00, random non-zero ids, a new trace per request", async () => {
    const first = sentTraceparent((await upstreamSaw({})).echo);
    const second = sentTraceparent((await upstreamSaw({})).echo);
    expect(first.flags).toBe("00");
    expect(first.traceId).not.toBe(second.traceId);
    expect(first.parentId).not.toBe(second.parentId);
  });

  it("drops a tracestate that comes without a traceparent", async () => {
    const { echo } = await upstreamSaw({ tracestate: "congo=t61rcWkgMzE" });
    sentTraceparent(echo);
    expect(echo.headers).not.toHaveProperty("tracestate");
  });

  it.each([
    ["too short", `00-${TRACE}-${PARENT}-1`],
    ["too long", `00-${TRACE}-${PARENT}-011`],
    ["an all-zero trace id", `00-${"0".repeat(32)}-${PARENT}-01`],
    ["an all-zero parent id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["uppercase hex", `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ["version ff", `ff-${TRACE}-${PARENT}-01`],
    ["version 00 with extra fields", `00-${TRACE}-${PARENT}-01-extra`],
  ])("replaces an invalid traceparent (%s) with a new trace, and forwards neither it nor its tracestate", async (_why, invalid) => {
    const { echo } = await upstreamSaw({ traceparent: invalid, tracestate: "congo=t61rcWkgMzE" });
    const sent = sentTraceparent(echo);
    expect(echo.headers.traceparent).not.toBe(invalid);
    expect(sent.traceId).not.toBe(TRACE);
    expect(sent.traceId).not.toBe(TRACE.toUpperCase());
    expect(sent.flags).toBe("00");
    expect(echo.headers).not.toHaveProperty("tracestate");
  });

  it("parses a later version by the forward-compatibility rule and sends version 00", async () => {
    const { echo } = await upstreamSaw({ traceparent: `cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like` });
    expect(sentTraceparent(echo)).toMatchObject({ traceId: TRACE, flags: "01" });
  });

  it("keeps a valid traceparent but drops a tracestate that breaks the rules", async () => {
    const { echo } = await upstreamSaw({ traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: "foo=1,foo=2" });
    expect(sentTraceparent(echo).traceId).toBe(TRACE);
    expect(echo.headers).not.toHaveProperty("tracestate");
  });

  it("goes with a WebSocket upgrade too, whose 101 carries Server-Timing", async () => {
    const socket = await openWebSocket(gateway(`/${service}/ws/echo`).replace(/^http/, "ws"), { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } });
    try {
      expect(String(socket.responseHeaders["server-timing"])).toMatch(/^edge;dur=\d+, upstream;dur=\d+$/);
      const arrived = upstream.upgrades.at(-1);
      expect(String(arrived?.headers.traceparent)).toMatch(new RegExp(`^00-${TRACE}-(?!${PARENT})[0-9a-f]{16}-01$`));
    } finally {
      socket.close();
      await socket.closed;
    }
  });

  it("adds no trace header to the response: the client has the trace id it sent, or the problem body's", async () => {
    const { response } = await upstreamSaw({ traceparent: `00-${TRACE}-${PARENT}-01` });
    expect(response.headers.get("traceparent")).toBeNull();
    expect(response.headers.get("traceresponse")).toBeNull();
  });
});

describe("the access log", () => {
  it("carries the trace id, and the edge's span id that the upstream got as parent-id", async () => {
    const requestId = `trace-log-${crypto.randomUUID()}`;
    const { echo } = await upstreamSaw({ "x-request-id": requestId, traceparent: `00-${TRACE}-${PARENT}-01` });
    const sent = sentTraceparent(echo);
    expect(await accessLogLine(requestId)).toMatchObject({ requestId, traceId: TRACE, spanId: sent.parentId, status: 200, service });
  });

  it("carries the trace id of a trace started here, and of an own-route error", async () => {
    const proxiedId = `trace-log-${crypto.randomUUID()}`;
    const sent = sentTraceparent((await upstreamSaw({ "x-request-id": proxiedId })).echo);
    expect(await accessLogLine(proxiedId)).toMatchObject({ traceId: sent.traceId, spanId: sent.parentId });

    const ownId = `trace-log-${crypto.randomUUID()}`;
    const refused = await fetch(gateway("/admin/services"), { headers: { "x-request-id": ownId, traceparent: `00-${TRACE}-${PARENT}-01` } });
    expect(refused.status).toBe(401);
    expect((await readProblem(refused)).traceId).toBe(TRACE);
    expect(await accessLogLine(ownId)).toMatchObject({ status: 401, traceId: TRACE });
  });
});

describe("problem bodies", () => {
  const traced = { traceparent: `00-${TRACE}-${PARENT}-01` };

  it("carry the client's trace id, on a proxied path and on the orchestrator's own routes", async () => {
    const unknown = await fetch(gateway(`/${uniqueService("ghost")}/x`), { headers: traced });
    expect(unknown.status).toBe(404);
    expect(await readProblem(unknown)).toMatchObject({ type: "urn:orchestrator:problem:unknown-service", traceId: TRACE });

    const noInstance = await fetch(gateway("/analytics/events"), { headers: traced });
    expect(noInstance.status).toBe(503);
    expect((await readProblem(noInstance)).traceId).toBe(TRACE);

    const invalid = await fetch(gateway("/registry/instances"), { method: "POST", headers: { ...traced, ...adminAuth(), "content-type": "application/json" }, body: "{}" });
    expect(invalid.status).toBe(400);
    expect((await readProblem(invalid)).traceId).toBe(TRACE);

    const notAllowed = await fetch(gateway("/health"), { method: "DELETE", headers: traced });
    expect(notAllowed.status).toBe(405);
    expect((await readProblem(notAllowed)).traceId).toBe(TRACE);
  });

  it("carry a new trace id when the client sent none, the one the upstream saw", async () => {
    const failing = uniqueService("unreachable");
    await fleet.register(failing, await closedPortUrl());
    const response = await fetch(gateway(`/${failing}/x`));
    expect(response.status).toBe(502);
    const problem = await readProblem(response);
    expect(problem.type).toBe("urn:orchestrator:problem:upstream-unreachable");
    expect(problem.traceId).toMatch(TRACE_ID);
    expect(problem.traceId).not.toBe(TRACE);
  });

  it("on 502 and 504 from the proxy, with Server-Timing showing the wait for the upstream", async () => {
    const unreachable = uniqueService("unreachable");
    await fleet.register(unreachable, await closedPortUrl());
    const badGateway = await fetch(gateway(`/${unreachable}/x`), { headers: traced });
    expect(badGateway.status).toBe(502);
    expect(badGateway.headers.get("server-timing")).toMatch(/^edge;dur=\d+, upstream;dur=\d+$/);
    expect((await readProblem(badGateway)).traceId).toBe(TRACE);

    const slow = uniqueService("slow");
    const upstream = await fleet.upstream();
    await fleet.register(slow, upstream.url);
    const configured = await putServiceSettings(slow, { timeoutMs: 300 });
    expect(configured.status).toBe(200);
    await configured.arrayBuffer();
    const timedOut = await fetch(gateway(`/${slow}/delay/3000`), { headers: traced });
    expect(timedOut.status).toBe(504);
    const timing = /^edge;dur=(\d+), upstream;dur=(\d+)$/.exec(timedOut.headers.get("server-timing") ?? "");
    expect(timing).not.toBeNull();
    expect(Number(timing?.[2])).toBeGreaterThanOrEqual(290);
    expect((await readProblem(timedOut)).traceId).toBe(TRACE);
  });
});

describe("Server-Timing", () => {
  it("tells the orchestrator's time from the upstream's on a proxied answer", async () => {
    const { response } = await upstreamSaw({});
    const timing = /^edge;dur=(\d+), upstream;dur=(\d+)$/.exec(response.headers.get("server-timing") ?? "");
    expect(timing, String(response.headers.get("server-timing"))).not.toBeNull();
  });

  it("keeps the upstream's own Server-Timing first and appends the orchestrator's", async () => {
    const withTiming = uniqueService("timing");
    const server = await recorder();
    await fleet.register(withTiming, server.url);
    const response = await fetch(gateway(`/${withTiming}/x`));
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(response.headers.get("server-timing")).toMatch(/^app;dur=12\.5;desc="db", edge;dur=\d+, upstream;dur=\d+$/);
  });
});

describe("the lifecycle hook call", () => {
  it("carries the admin request's trace (same trace id, the edge's span), and its log line the trace id", async () => {
    const hooked = uniqueService("trace-hook");
    const server = await recorder();
    await fleet.register(hooked, server.url);
    const configured = await putServiceSettings(hooked, { lifecycleHook: { url: server.url } });
    expect(configured.status).toBe(200);
    await configured.arrayBuffer();

    const requestId = `trace-hook-${crypto.randomUUID()}`;
    const restart = await fetch(gateway(`/admin/workers/${hooked}/restart`), {
      method: "POST",
      headers: { ...adminAuth(), "x-request-id": requestId, traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: "congo=t61rcWkgMzE" },
    });
    expect(restart.status).toBe(200);
    expect(await restart.json()).toMatchObject({ hook: { called: true, ok: true, status: 204 } });

    const call = server.received.find((r) => r.path.endsWith("/__lifecycle/restart"));
    expect(call, "hook call").toBeDefined();
    const match = TRACEPARENT.exec(String(call?.headers.traceparent));
    expect(match, String(call?.headers.traceparent)).not.toBeNull();
    expect(match?.[1]).toBe(TRACE);
    expect(match?.[2]).not.toBe(PARENT);
    expect(call?.headers.tracestate).toBe("congo=t61rcWkgMzE");

    const hookLine = await eventually(async () => {
      for (const line of readFileSync(inject("wranglerLog"), "utf8").split("\n")) {
        if (line.includes(`"requestId":"${requestId}"`) && line.includes("lifecycle hook called")) return JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>;
      }
      return undefined;
    }, 10_000);
    expect(hookLine).toMatchObject({ traceId: TRACE, spanId: match?.[2], service: hooked, ok: true, status: 204 });
    expect(await accessLogLine(requestId)).toMatchObject({ traceId: TRACE, spanId: match?.[2] });
  });
});
