/**
 * WebSocket connection metrics end to end in the Workers runtime: events
 * recorded through the real edge recorder, flushed to MetricsDO in one call,
 * read back from GET /metrics (JSON and Prometheus) with the open count from
 * the registry; and MetricsDO reading state persisted before connections
 * were counted.
 */
import { SELF, createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { aggregateBatch } from "../../src/core/metrics/record";
import type { MetricsView } from "../../src/core/metrics/view";
import { recordOutcome, recordSocketClosed, recordSocketOpened } from "../../src/edge/metrics-recorder";
import { MetricsDO } from "../../src/index";
import { doCallCounts } from "../../src/platform/do-calls";
import { registryStub } from "../../src/platform/stubs";
import { registerOk } from "./helpers";

const HOUR = 3_600_000;
const FLUSH_MS = 20;
let nextIp = 1;
const ip = () => `198.18.41.${nextIp++ % 250}`;

async function get(path: string): Promise<Response> {
  return SELF.fetch(`https://orchestrator.test${path}`, { headers: { "cf-connecting-ip": ip() } });
}

/** Prometheus sample lines of one family (a histogram's series included) for one service, as `name{labels} value` strings. */
function samples(text: string, family: string, service: string): string[] {
  const name = new RegExp(`^${family}(_bucket|_sum|_count)?\\{`);
  return text.split("\n").filter((line) => name.test(line) && line.includes(`service="${service}"`));
}

describe("WebSocket connection metrics", () => {
  it("records connections opened and closed at the edge, in one MetricsDO call, into /metrics and the Prometheus text", async () => {
    const service = `ws-${crypto.randomUUID().slice(0, 8)}`;
    const registry = registryStub(env);
    const id = await registerOk(registry, { service, target: { kind: "url", url: `http://127.0.0.1:${inject("upstreamPort")}/i/ws` }, weight: 1, metadata: {}, ttlSeconds: 3600 });

    // What the relay records: each upgrade as a request (101), then the connections themselves.
    const callsBefore = doCallCounts.metrics;
    const ctx = createExecutionContext();
    for (let i = 0; i < 3; i++) {
      recordOutcome(env, ctx, FLUSH_MS, { service, instance: id, outcome: { status: 101, failure: null, durationMs: 12 }, bytes: 0 });
      recordSocketOpened(env, ctx, FLUSH_MS, { service, instance: id });
    }
    recordSocketClosed(env, ctx, FLUSH_MS, { service, instance: id, durationMs: 45_000, closeCode: 1000 });
    recordSocketClosed(env, ctx, FLUSH_MS, { service, instance: id, durationMs: 2.5 * HOUR, closeCode: 1006 });
    // A broken record is logged and dropped; it does not throw into the relay.
    recordSocketClosed(env, ctx, FLUSH_MS, { service, instance: id, durationMs: Number.NaN, closeCode: 1000 });
    await waitOnExecutionContext(ctx);
    expect(doCallCounts.metrics - callsBefore).toBe(1);

    // The open count is the registry's, from the isolates' reports: one isolate says 1 is open.
    const isolateId = `ws-test-${crypto.randomUUID()}`;
    await registry.edgeSync({ isolateId, inflight: { [id]: 1 }, sockets: { [id]: 1 }, outcomes: {} });
    try {
      const response = await get(`/metrics/worker/${service}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as MetricsView;
      const worker = body.workers[service];
      // The upgrades are requests, and only they: connection lifetimes stay out of the request latencies.
      expect(worker).toMatchObject({ totalRequests: 3, p99: 12, errors: { "4xx": 0, "5xx": 0, gateway: 0 } });
      expect(worker?.websockets).toMatchObject({ open: 1, opened: 3, closed: 2, closedBy: { normal: 1, error: 0, abnormal: 1, other: 0 } });
      expect(worker?.websockets.p50DurationMs).toBeCloseTo(45_000, -3);
      expect(Math.abs((worker?.websockets.p95DurationMs ?? 0) - 2.5 * HOUR) / (2.5 * HOUR)).toBeLessThanOrEqual(0.01);
      expect(worker?.websockets.avgDurationMs).toBe((45_000 + 2.5 * HOUR) / 2);
      expect(worker?.instances[id]?.websockets).toEqual(worker?.websockets);
      expect(body.global.websockets.open).toBeGreaterThanOrEqual(1);
      expect(body.global.websockets.opened).toBeGreaterThanOrEqual(3);

      const prometheus = await get(`/metrics?format=prometheus`);
      expect(prometheus.status).toBe(200);
      const text = await prometheus.text();
      const labels = `service="${service}",instance="${id}"`;
      expect(samples(text, "orchestrator_websocket_connections_open", service)).toEqual([`orchestrator_websocket_connections_open{${labels}} 1`]);
      expect(samples(text, "orchestrator_websocket_connections_opened_total", service)).toEqual([`orchestrator_websocket_connections_opened_total{${labels}} 3`]);
      expect(samples(text, "orchestrator_websocket_connections_closed_total", service)).toEqual([
        `orchestrator_websocket_connections_closed_total{${labels},class="normal"} 1`,
        `orchestrator_websocket_connections_closed_total{${labels},class="error"} 0`,
        `orchestrator_websocket_connections_closed_total{${labels},class="abnormal"} 1`,
        `orchestrator_websocket_connections_closed_total{${labels},class="other"} 0`,
      ]);
      const duration = samples(text, "orchestrator_websocket_connection_duration_seconds", service);
      expect(duration).toContain(`orchestrator_websocket_connection_duration_seconds_bucket{${labels},le="60"} 1`);
      expect(duration).toContain(`orchestrator_websocket_connection_duration_seconds_bucket{${labels},le="+Inf"} 2`);
      expect(duration).toContain(`orchestrator_websocket_connection_duration_seconds_count{${labels}} 2`);
      expect(samples(text, "orchestrator_request_duration_seconds_count", service)).toEqual([`orchestrator_request_duration_seconds_count{${labels}} 3`]);
      for (const family of [
        "orchestrator_websocket_connections_open",
        "orchestrator_websocket_connections_opened_total",
        "orchestrator_websocket_connections_closed_total",
        "orchestrator_websocket_connection_duration_seconds",
      ]) {
        expect(text).toContain(`# HELP ${family} `);
        expect(text).toMatch(new RegExp(`^# TYPE ${family} (gauge|counter|histogram)$`, "m"));
      }
    } finally {
      await registry.edgeSync({ isolateId, inflight: {}, outcomes: {} });
    }

    // The isolate's report gone, nothing is open; the lifetime counters stay.
    const after = (await (await get(`/metrics/worker/${service}`)).json()) as MetricsView;
    expect(after.workers[service]?.websockets).toMatchObject({ open: 0, opened: 3, closed: 2 });
  });

  it("reads metrics persisted before connections were counted as zero connections, and counts new ones on top", async () => {
    const service = `old-${crypto.randomUUID().slice(0, 8)}`;
    const tally = (n: number) => ({
      counts: { "2xx": n, "3xx": 0, "4xx": 0, "5xx": 0, gateway: 0 },
      gateway: { timeout: 0, connect: 0 },
      bytes: 10 * n,
      sketch: { bins: { "171": n }, zeroCount: 0, count: n, sum: 30 * n, min: 30, max: 30 },
    });
    const now = Date.now();
    // A "metrics" document as MetricsDO wrote it before this change: no `sockets` anywhere.
    const oldDocument = JSON.stringify({
      version: 1,
      services: {
        [service]: {
          instances: { "i-1": { totals: tally(4), windows: { minutes: [{ minute: Math.floor(now / 60_000), tally: tally(4) }] }, firstSeenAt: now - 1000, lastSeenAt: now - 500 } },
          retired: { totals: tally(1), windows: { minutes: [] } },
        },
      },
    });
    // A fresh object, not the global one: what an eviction does is a new object over the same storage.
    const stub = env.METRICS.get(env.METRICS.idFromName(`test-${crypto.randomUUID()}`));
    const { before, after, text } = await runInDurableObject(stub, async (_object, state) => {
      state.storage.sql.exec("INSERT OR REPLACE INTO documents (key, value, updated_at) VALUES ('metrics', ?, ?)", oldDocument, now);
      const revived = new MetricsDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined); // the constructor's load has run
      // This object is only for reading: its loop must not sweep or alert beside the global one.
      await state.storage.deleteAlarm();
      try {
        const before = await revived.view(null);
        await revived.ingest(aggregateBatch([], [{ kind: "opened", service, instance: "i-1", at: Date.now() }, { kind: "closed", service, instance: "i-1", at: Date.now(), durationMs: 5_000, closeCode: 1001 }]));
        return { before, after: await revived.view(null), text: (await revived.prometheus(null)) ?? "" };
      } finally {
        await state.storage.deleteAlarm();
      }
    });
    expect(before?.workers[service]).toMatchObject({ totalRequests: 5, websockets: { open: 0, opened: 0, closed: 0, avgDurationMs: null, p50DurationMs: null, p95DurationMs: null } });
    expect(before?.workers[service]?.instances["i-1"]).toMatchObject({ totalRequests: 4, websockets: { open: null, opened: 0, closed: 0 } });
    expect(after?.workers[service]).toMatchObject({ totalRequests: 5, websockets: { opened: 1, closed: 1, closedBy: { normal: 1, error: 0, abnormal: 0, other: 0 } } });
    expect(after?.workers[service]?.websockets.p50DurationMs).toBeCloseTo(5_000, -2);
    expect(samples(text, "orchestrator_websocket_connections_opened_total", service)).toEqual([`orchestrator_websocket_connections_opened_total{service="${service}",instance="i-1"} 1`]);
  });
});
