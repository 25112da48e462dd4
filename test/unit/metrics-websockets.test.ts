/**
 * WebSocket connection metrics in the pure modules: close classes, the batch,
 * additivity through every layer (tally, windows, state, retired instances),
 * the /metrics view, and state persisted before connections were counted.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type MetricsState, applyBatch, createMetricsState, removeInstance } from "../../src/core/metrics/aggregate";
import { CLOSE_CLASSES, closeClassOf } from "../../src/core/metrics/close-class";
import { prometheusText } from "../../src/core/metrics/prometheus";
import { BatchBuilder, type OutcomeRecord, type SocketRecord, aggregateBatch } from "../../src/core/metrics/record";
import { quantile, sketchOf } from "../../src/core/metrics/sketch";
import { type Tally, emptyTally, mergeTally, socketsOf, tallyRequests, tallySocketsClosed } from "../../src/core/metrics/tally";
import { metricsView } from "../../src/core/metrics/view";
import { addToWindows, createWindows, mergeWindows } from "../../src/core/metrics/windows";

const NOW = Date.UTC(2024, 0, 15, 10, 30, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function opened(service: string, instance: string, n = 1, at = NOW - 1000): SocketRecord[] {
  return Array.from({ length: n }, () => ({ kind: "opened", service, instance, at }));
}

function closed(service: string, instance: string, durations: readonly number[], closeCode: number | null = 1000, at = NOW - 500): SocketRecord[] {
  return durations.map((durationMs) => ({ kind: "closed", service, instance, at, durationMs, closeCode }));
}

function requests(service: string, instance: string, n: number, durationMs = 20): OutcomeRecord[] {
  return Array.from({ length: n }, () => ({ service, instance, statusClass: "2xx", durationMs, bytes: 10, at: NOW - 1000 }));
}

function state(records: OutcomeRecord[], sockets: SocketRecord[], now = NOW): MetricsState {
  return applyBatch(createMetricsState(), aggregateBatch(records, sockets), now);
}

describe("closeClassOf", () => {
  it("puts every code in one of four classes", () => {
    const cases: [number | null, string][] = [
      [1000, "normal"],
      [1001, "normal"],
      [1005, "normal"],
      [1011, "error"],
      [1012, "error"],
      [1013, "error"],
      [1014, "error"],
      [1006, "abnormal"],
      [1015, "abnormal"],
      [null, "abnormal"],
      [1002, "other"],
      [1008, "other"],
      [1009, "other"],
      [3000, "other"],
      [4999, "other"],
      [0, "other"],
      [65535, "other"],
    ];
    for (const [code, cls] of cases) expect(closeClassOf(code), String(code)).toBe(cls);
    fc.assert(fc.property(fc.option(fc.integer()), (code) => (CLOSE_CLASSES as readonly string[]).includes(closeClassOf(code))));
  });
});

describe("connections in the batch", () => {
  it("count opened and closed per instance, with the durations in their own sketch", () => {
    const batch = aggregateBatch(requests("chat", "c-1", 3, 20), [...opened("chat", "c-1", 4), ...closed("chat", "c-1", [2 * HOUR, 30_000], 1000), ...closed("chat", "c-1", [5], 1011)]);
    expect(batch.entries).toHaveLength(1);
    const tally = batch.entries[0]?.tally as Tally;
    // The requests are untouched by the connections: three 20 ms requests.
    expect(tallyRequests(tally)).toBe(3);
    expect(tally.sketch.count).toBe(3);
    expect(tally.sketch.max).toBe(20);
    const sockets = socketsOf(tally);
    expect(sockets.opened).toBe(4);
    expect(sockets.closed).toEqual({ normal: 2, error: 1, abnormal: 0, other: 0 });
    expect(tallySocketsClosed(sockets)).toBe(3);
    expect(sockets.sketch.count).toBe(3);
    expect(sockets.sketch.sum).toBe(2 * HOUR + 30_000 + 5);
  });

  it("an entry of plain HTTP traffic carries no connection part (old-sized JSON)", () => {
    const batch = aggregateBatch([...requests("api", "a-1", 2)], opened("chat", "c-1"));
    const api = batch.entries.find((e) => e.service === "api");
    expect(api?.tally.sockets).toBeUndefined();
    expect(JSON.stringify(api)).not.toContain("sockets");
    expect(socketsOf(api?.tally as Tally)).toEqual({ opened: 0, closed: { normal: 0, error: 0, abnormal: 0, other: 0 }, sketch: expect.objectContaining({ count: 0 }) });
  });

  it("a connection-only entry has the first and last event times, and zero requests", () => {
    const batch = aggregateBatch([], [...opened("chat", "c-1", 1, NOW - 9000), ...closed("chat", "c-1", [8000], 1000, NOW - 1000)]);
    const e = batch.entries[0];
    expect(e).toMatchObject({ service: "chat", instance: "c-1", firstAt: NOW - 9000, lastAt: NOW - 1000 });
    expect(tallyRequests(e?.tally as Tally)).toBe(0);
  });

  it("counts events toward the builder's size and refuses impossible numbers", () => {
    const builder = new BatchBuilder();
    builder.addSocket({ kind: "opened", service: "s", instance: "i", at: NOW });
    builder.addSocket({ kind: "closed", service: "s", instance: "i", at: NOW, durationMs: 10, closeCode: null });
    expect(builder.size).toBe(2);
    expect(() => builder.addSocket({ kind: "closed", service: "s", instance: "i", at: NOW, durationMs: Number.NaN, closeCode: 1000 })).toThrow(RangeError);
    expect(() => builder.addSocket({ kind: "opened", service: "s", instance: "i", at: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(builder.size).toBe(2);
  });
});

describe("additivity", () => {
  const socketRecord = fc.oneof(
    fc.record({ kind: fc.constant("opened" as const), service: fc.constantFrom("a", "b"), instance: fc.constantFrom("1", "2"), at: fc.constant(NOW) }),
    fc.record({
      kind: fc.constant("closed" as const),
      service: fc.constantFrom("a", "b"),
      instance: fc.constantFrom("1", "2"),
      at: fc.constant(NOW),
      durationMs: fc.integer({ min: 0, max: 48 * HOUR }),
      closeCode: fc.option(fc.constantFrom(1000, 1001, 1006, 1011, 1008, 4000)),
    }),
  );

  it("two batches applied one after the other equal one batch of both (totals, windows, view)", () => {
    fc.assert(
      fc.property(fc.array(socketRecord, { maxLength: 30 }), fc.array(socketRecord, { maxLength: 30 }), (first, second) => {
        const split = applyBatch(applyBatch(createMetricsState(), aggregateBatch([], first), NOW), aggregateBatch([], second), NOW);
        const whole = applyBatch(createMetricsState(), aggregateBatch([], [...first, ...second]), NOW);
        // Insertion order differs between the two (first seen first), so compare in name order.
        const socketsOfState = (s: MetricsState) =>
          Object.entries(s.services)
            .flatMap(([name, svc]) => Object.entries(svc.instances).map(([id, i]) => ({ key: `${name}/${id}`, sockets: socketsOf(i.totals) })))
            .sort((a, b) => a.key.localeCompare(b.key))
            .map(({ key, sockets }) => [key, sockets.opened, sockets.closed, sockets.sketch.bins, sockets.sketch.count]);
        expect(socketsOfState(split)).toEqual(socketsOfState(whole));
        expect(metricsView(split, NOW)).toEqual(metricsView(whole, NOW));
      }),
      { numRuns: 100 },
    );
  });

  it("mergeTally adds connections, and keeps a tally without them as it was", () => {
    const withSockets = aggregateBatch([], [...opened("s", "i", 2), ...closed("s", "i", [1000], 1006)]).entries[0]?.tally as Tally;
    const plain = aggregateBatch(requests("s", "i", 3)).entries[0]?.tally as Tally;
    expect(mergeTally(plain, plain).sockets).toBeUndefined();
    const both = mergeTally(plain, withSockets);
    expect(mergeTally(withSockets, plain)).toEqual(both);
    expect(tallyRequests(both)).toBe(3);
    expect(both.sketch.count).toBe(3);
    const twice = socketsOf(mergeTally(both, withSockets));
    expect(twice.opened).toBe(4);
    expect(twice.closed.abnormal).toBe(2);
    expect(twice.sketch.count).toBe(2);
  });

  it("windows carry connections per minute and merge them like requests", () => {
    const a = aggregateBatch([], opened("s", "i", 2, NOW - MINUTE)).entries[0];
    const b = aggregateBatch([], closed("s", "i", [500], 1000, NOW)).entries[0];
    if (a === undefined || b === undefined) throw new Error("empty batch");
    const w = mergeWindows(addToWindows(createWindows(), a, NOW), addToWindows(createWindows(), b, NOW));
    expect(w.minutes.map((m) => [socketsOf(m.tally).opened, tallySocketsClosed(socketsOf(m.tally))])).toEqual([
      [2, 0],
      [0, 1],
    ]);
  });

  it("a removed instance's connections stay in its service's totals", () => {
    const s = state([], [...opened("chat", "c-1", 3), ...closed("chat", "c-1", [HOUR], 1000), ...opened("chat", "c-2", 1)]);
    const before = metricsView(s, NOW).workers.chat?.websockets;
    const after = metricsView(removeInstance(s, "chat", "c-1", NOW), NOW);
    expect(Object.keys(after.workers.chat?.instances ?? {})).toEqual(["c-2"]);
    expect(after.workers.chat?.websockets).toEqual(before);
    expect(after.global.websockets).toMatchObject({ opened: 4, closed: 1 });
  });
});

describe("the /metrics view", () => {
  const s = state(requests("chat", "c-1", 2), [
    ...opened("chat", "c-1", 3),
    ...closed("chat", "c-1", [10_000, 20_000], 1000),
    ...closed("chat", "c-1", [3 * HOUR], 1011),
    ...opened("chat", "c-2", 1),
  ]);

  it("shows opened, closed, closedBy and duration stats per instance, service and globally, with open from the registry", () => {
    const view = metricsView(s, NOW, { chat: { instances: { "c-1": { health: "healthy", inflight: 2, websockets: 1 }, "c-2": { health: "healthy", inflight: 1, websockets: 1 } } } });
    const c1 = view.workers.chat?.instances["c-1"]?.websockets;
    expect(c1).toEqual({
      open: 1,
      opened: 3,
      closed: 3,
      closedBy: { normal: 2, error: 1, abnormal: 0, other: 0 },
      avgDurationMs: Math.round(((10_000 + 20_000 + 3 * HOUR) / 3) * 100) / 100,
      p50DurationMs: expect.closeTo(20_000, -3),
      p95DurationMs: expect.closeTo(3 * HOUR, -5),
    });
    expect(Math.abs((c1?.p50DurationMs ?? 0) - 20_000) / 20_000).toBeLessThanOrEqual(0.01);
    expect(Math.abs((c1?.p95DurationMs ?? 0) - 3 * HOUR) / (3 * HOUR)).toBeLessThanOrEqual(0.01);
    expect(view.workers.chat?.instances["c-2"]?.websockets).toEqual({
      open: 1,
      opened: 1,
      closed: 0,
      closedBy: { normal: 0, error: 0, abnormal: 0, other: 0 },
      avgDurationMs: null,
      p50DurationMs: null,
      p95DurationMs: null,
    });
    expect(view.workers.chat?.websockets).toMatchObject({ open: 2, opened: 4, closed: 3 });
    expect(view.global.websockets).toMatchObject({ open: 2, opened: 4, closed: 3 });
    // Connection durations never reach the request latencies: two 20 ms requests.
    expect(view.workers.chat).toMatchObject({ totalRequests: 2, p99: 20, avgResponseTime: 20 });
  });

  it("open is null for an instance the registry has no count for (like inflight), and the sums skip it", () => {
    const view = metricsView(s, NOW, { chat: { instances: { "c-1": { health: "healthy", inflight: 0 } } } });
    expect(view.workers.chat?.instances["c-1"]?.websockets.open).toBeNull();
    expect(view.workers.chat?.instances["c-2"]?.websockets.open).toBeNull();
    expect(view.workers.chat?.websockets.open).toBe(0);
    expect(view.global.websockets.open).toBe(0);
  });

  it("services and instances without connections show zeros and null durations", () => {
    const view = metricsView(state(requests("api", "a-1", 5), []), NOW, { api: { instances: { "a-1": { inflight: 0, websockets: 0 } } }, idle: { status: "no-instances" } });
    const zero = { opened: 0, closed: 0, closedBy: { normal: 0, error: 0, abnormal: 0, other: 0 }, avgDurationMs: null, p50DurationMs: null, p95DurationMs: null };
    expect(view.workers.api?.instances["a-1"]?.websockets).toEqual({ open: 0, ...zero });
    expect(view.workers.api?.websockets).toEqual({ open: 0, ...zero });
    expect(view.workers.idle?.websockets).toEqual({ open: 0, ...zero });
    expect(view.global.websockets).toEqual({ open: 0, ...zero });
  });
});

describe("state persisted before connections were counted", () => {
  /** What MetricsDO wrote before this change: tallies with no `sockets` member anywhere. */
  const OLD_STATE_JSON = JSON.stringify({
    version: 1,
    services: {
      chat: {
        instances: {
          "c-1": {
            totals: {
              counts: { "2xx": 4, "3xx": 0, "4xx": 1, "5xx": 0, gateway: 0 },
              gateway: { timeout: 0, connect: 0 },
              bytes: 120,
              sketch: { bins: { "171": 5 }, zeroCount: 0, count: 5, sum: 150, min: 30, max: 30 },
            },
            windows: {
              minutes: [
                {
                  minute: Math.floor((NOW - MINUTE) / MINUTE),
                  tally: {
                    counts: { "2xx": 4, "3xx": 0, "4xx": 1, "5xx": 0, gateway: 0 },
                    gateway: { timeout: 0, connect: 0 },
                    bytes: 120,
                    sketch: { bins: { "171": 5 }, zeroCount: 0, count: 5, sum: 150, min: 30, max: 30 },
                  },
                },
              ],
            },
            firstSeenAt: NOW - 2 * MINUTE,
            lastSeenAt: NOW - MINUTE,
          },
        },
        retired: {
          totals: { counts: { "2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0, gateway: 0 }, gateway: { timeout: 0, connect: 0 }, bytes: 0, sketch: { bins: { "171": 1 }, zeroCount: 0, count: 1, sum: 30, min: 30, max: 30 } },
          windows: { minutes: [] },
        },
      },
    },
  });
  const old = () => JSON.parse(OLD_STATE_JSON) as MetricsState;

  it("reads as zero connections in the view and the exposition", () => {
    const view = metricsView(old(), NOW, { chat: { instances: { "c-1": { health: "healthy", inflight: 0, websockets: 0 } } } });
    expect(view.workers.chat).toMatchObject({ totalRequests: 6, websockets: { open: 0, opened: 0, closed: 0, avgDurationMs: null } });
    expect(view.workers.chat?.instances["c-1"]?.websockets).toMatchObject({ open: 0, opened: 0, closed: 0, p95DurationMs: null });
    expect(JSON.stringify(view)).not.toContain("NaN");
    const text = prometheusText(old(), { chat: { instances: { "c-1": { websockets: 0 } } } });
    expect(text).toContain('orchestrator_websocket_connections_open{service="chat",instance="c-1"} 0');
    expect(text).not.toMatch(/^orchestrator_websocket_connections_opened_total\{/m);
  });

  it("takes new batches with connections on top, keeping the old request counts", () => {
    const next = applyBatch(old(), aggregateBatch(requests("chat", "c-1", 1), [...opened("chat", "c-1", 2), ...closed("chat", "c-1", [90_000], 1001)]), NOW);
    const view = metricsView(next, NOW);
    expect(view.workers.chat?.totalRequests).toBe(7);
    expect(view.workers.chat?.instances["c-1"]?.websockets).toMatchObject({ opened: 2, closed: 1, closedBy: { normal: 1, error: 0, abnormal: 0, other: 0 } });
    expect(view.workers.chat?.instances["c-1"]?.websockets.p50DurationMs).toBeCloseTo(90_000, -3);
    // And retiring the old-shaped instance merges into the old-shaped retired totals.
    const retired = metricsView(removeInstance(next, "chat", "c-1", NOW), NOW);
    expect(retired.workers.chat).toMatchObject({ totalRequests: 7, websockets: { opened: 2, closed: 1 } });
  });

  it("a batch from an isolate running the old code (no connection part) merges into new state", () => {
    const withSockets = state([], opened("chat", "c-1", 1));
    const oldBatch = JSON.parse(JSON.stringify(aggregateBatch(requests("chat", "c-1", 2)))) as ReturnType<typeof aggregateBatch>;
    const view = metricsView(applyBatch(withSockets, oldBatch, NOW), NOW);
    expect(view.workers.chat).toMatchObject({ totalRequests: 2, websockets: { opened: 1 } });
  });
});

describe("the sketch over connection lifetimes", () => {
  it("keeps 1% accuracy from milliseconds to days", () => {
    const durations = [5, 250, 1_000, 59_000, HOUR, 3 * HOUR, 12 * HOUR, 24 * HOUR, 7 * 24 * HOUR];
    const sketch = sketchOf(durations);
    durations.forEach((d, i) => {
      const q = quantile(sketch, (i + 1) / durations.length) as number;
      expect(Math.abs(q - d) / d, `${d} ms`).toBeLessThanOrEqual(0.01);
    });
    expect(emptyTally().sockets).toBeUndefined();
  });
});
