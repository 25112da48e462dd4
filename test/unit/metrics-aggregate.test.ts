import { describe, expect, it } from "vitest";
import {
  type MetricsState,
  applyBatch,
  createMetricsState,
  removeInstance,
  serviceWindowStats,
} from "../../src/core/metrics/aggregate";
import { type OutcomeRecord, type StatusClass, aggregateBatch } from "../../src/core/metrics/record";
import { quantile } from "../../src/core/metrics/sketch";
import { statusClassOf } from "../../src/core/metrics/status-class";
import { metricsView } from "../../src/core/metrics/view";

const NOW = Date.UTC(2024, 0, 15, 10, 30, 0);

function records(service: string, instance: string, n: number, statusClass: StatusClass, durationMs = 100, extra: Partial<OutcomeRecord> = {}): OutcomeRecord[] {
  return Array.from({ length: n }, (_, i) => ({ service, instance, statusClass, durationMs, bytes: 10, at: NOW - 1000 + i, ...extra }));
}

function deepFreeze<T>(x: T): T {
  if (typeof x === "object" && x !== null) {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}

function sampleState(): MetricsState {
  const batch = aggregateBatch([
    ...records("api", "api-1", 85, "2xx", 100),
    ...records("api", "api-1", 10, "4xx", 20),
    ...records("api", "api-2", 3, "5xx", 300),
    ...records("api", "api-2", 1, "gateway", 5000, { gatewayKind: "timeout" }),
    ...records("api", "api-2", 1, "gateway", 50, { gatewayKind: "connect" }),
    ...records("banking", "bank-1", 20, "2xx", 40),
  ]);
  return applyBatch(createMetricsState(), batch, NOW);
}

describe("aggregateBatch", () => {
  it("folds records into one entry per service+instance, sorted", () => {
    const batch = aggregateBatch([...records("b", "x", 2, "2xx"), ...records("a", "y", 1, "5xx"), ...records("a", "x", 3, "gateway", 10, { gatewayKind: "timeout" })]);
    expect(batch.entries.map((e) => `${e.service}/${e.instance}`)).toEqual(["a/x", "a/y", "b/x"]);
    const ax = batch.entries[0];
    expect(ax?.tally.counts.gateway).toBe(3);
    expect(ax?.tally.gateway.timeout).toBe(3);
    expect(ax?.tally.sketch.count).toBe(3);
    expect(ax?.tally.bytes).toBe(30);
    expect(ax?.firstAt).toBe(NOW - 1000);
    expect(ax?.lastAt).toBe(NOW - 998);
  });

  it("rejects records with impossible numbers", () => {
    expect(() => aggregateBatch(records("a", "x", 1, "2xx", Number.NaN))).toThrow(RangeError);
    expect(() => aggregateBatch(records("a", "x", 1, "2xx", 1, { bytes: -1 }))).toThrow(RangeError);
  });

  it("classifies HTTP statuses", () => {
    expect([101, 200, 204, 301, 404, 429, 500, 503].map(statusClassOf)).toEqual(["2xx", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx"]);
    expect(() => statusClassOf(99)).toThrow(RangeError);
    expect(() => statusClassOf(600)).toThrow(RangeError);
  });
});

describe("metricsView", () => {
  it("has the seed README's shape", () => {
    const view = metricsView(sampleState(), NOW);
    expect(view.timestamp).toBe("2024-01-15T10:30:00.000Z");
    expect(view.global).toMatchObject({ totalRequests: 120, errorRate: expect.any(Number), avgResponseTime: expect.any(Number) });
    expect(Object.keys(view.workers)).toEqual(["api", "banking"]);
    const api = view.workers.api;
    expect(api).toBeDefined();
    expect(Object.keys(api?.instances ?? {})).toEqual(["api-1", "api-2"]);
    for (const stats of [view.global, api, api?.instances["api-1"]]) {
      expect(stats).toMatchObject({
        totalRequests: expect.any(Number),
        errorRate: expect.any(Number),
        avgResponseTime: expect.any(Number),
        p50: expect.any(Number),
        p90: expect.any(Number),
        p95: expect.any(Number),
        p99: expect.any(Number),
        throughput: { m1: expect.any(Number), m5: expect.any(Number), m15: expect.any(Number) },
        errors: { "4xx": expect.any(Number), "5xx": expect.any(Number), gateway: expect.any(Number), timeout: expect.any(Number), connect: expect.any(Number) },
        bytes: expect.any(Number),
      });
    }
    // Plain JSON: survives a round trip unchanged.
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
  });

  it("computes errorRate from 5xx + gateway only; 4xx is reported but not counted", () => {
    const view = metricsView(sampleState(), NOW);
    const api = view.workers.api;
    expect(api?.totalRequests).toBe(100);
    expect(api?.errors).toEqual({ "4xx": 10, "5xx": 3, gateway: 2, timeout: 1, connect: 1, byCause: { timeout: 1, dns: 0, refused: 0, reset: 0, tls: 0, other: 1 } });
    expect(api?.errorRate).toBe(5); // (3 + 2) / 100, the 10 4xx excluded
    expect(view.global.errorRate).toBe(4.17); // 5 / 120
    expect(api?.instances["api-1"]?.errorRate).toBe(0);
    expect(api?.instances["api-2"]?.errorRate).toBe(100);
  });

  it("averages, percentiles and throughput come from the merged instances", () => {
    const view = metricsView(sampleState(), NOW);
    const bank = view.workers.banking;
    expect(bank?.avgResponseTime).toBe(40);
    expect(bank?.p50).toBe(40);
    expect(bank?.throughput.m1).toBeCloseTo(20 / 60, 3);
    expect(view.global.throughput.m15).toBeCloseTo(120 / 900, 3);
    expect(view.global.p99).toBeGreaterThan(290);
    expect(view.workers.api?.recent).toMatchObject({ minutes: 5, requests: 100, errorRate: 5 });
  });

  it("shows registry services and instances with no traffic, with health and inflight from extras", () => {
    const view = metricsView(sampleState(), NOW, {
      api: { status: "degraded", instances: { "api-1": { health: "healthy", inflight: 3 }, "api-2": { health: "unhealthy", inflight: 1 } } },
      security: { status: "no-instances" },
      frontend: { status: "healthy", instances: { "fe-1": { health: "healthy", inflight: 0 } } },
    });
    expect(Object.keys(view.workers)).toEqual(["api", "banking", "frontend", "security"]);
    expect(view.workers.api).toMatchObject({ status: "degraded", inflight: 4 });
    expect(view.workers.api?.instances["api-2"]).toMatchObject({ health: "unhealthy", inflight: 1 });
    expect(view.workers.security).toMatchObject({ status: "no-instances", totalRequests: 0, errorRate: 0, avgResponseTime: null, p95: null, instances: {} });
    expect(view.workers.frontend?.instances["fe-1"]).toMatchObject({ totalRequests: 0, health: "healthy", inflight: 0, lastSeen: null });
    expect(view.workers.banking).toMatchObject({ status: null, inflight: 0 });
    expect(view.global.inflight).toBe(4);
  });

  it("an empty state gives zeros and nulls, not NaN", () => {
    const view = metricsView(createMetricsState(), NOW);
    expect(view.global).toMatchObject({ totalRequests: 0, errorRate: 0, avgResponseTime: null, p50: null, throughput: { m1: 0, m5: 0, m15: 0 } });
    expect(JSON.stringify(view)).not.toContain("NaN");
  });
});

describe("state updates", () => {
  it("applyBatch never mutates the previous state and accumulates", () => {
    const first = deepFreeze(sampleState());
    const again = applyBatch(first, aggregateBatch(records("api", "api-1", 5, "2xx")), NOW + 1000);
    expect(metricsView(first, NOW).workers.api?.totalRequests).toBe(100);
    expect(metricsView(again, NOW + 1000).workers.api?.totalRequests).toBe(105);
    expect(again.services.banking).toBe(first.services.banking); // untouched parts shared
  });

  it("survives a JSON round trip (storage / RPC)", () => {
    const state = sampleState();
    const back = JSON.parse(JSON.stringify(state)) as MetricsState;
    expect(metricsView(back, NOW)).toEqual(metricsView(state, NOW));
  });

  it("removing an instance keeps service and global totals", () => {
    const state = sampleState();
    const after = removeInstance(state, "api", "api-2", NOW);
    const view = metricsView(after, NOW);
    expect(Object.keys(view.workers.api?.instances ?? {})).toEqual(["api-1"]);
    expect(view.workers.api?.totalRequests).toBe(100);
    expect(view.workers.api?.errorRate).toBe(5);
    expect(view.global.totalRequests).toBe(120);
    expect(removeInstance(state, "nope", "x", NOW)).toBe(state);
  });

  it("treats hostile instance ids as plain keys", () => {
    const state = applyBatch(createMetricsState(), aggregateBatch([...records("api", "__proto__", 2, "2xx"), ...records("api", "constructor", 1, "5xx")]), NOW);
    const view = metricsView(state, NOW);
    expect(Object.keys(view.workers.api?.instances ?? {})).toEqual(["__proto__", "constructor"]);
    expect(view.workers.api?.totalRequests).toBe(3);
    expect(Object.getPrototypeOf(state.services.api?.instances)).toBe(Object.prototype);
  });

  it("serviceWindowStats gives the alert rules their window", () => {
    const s = serviceWindowStats(sampleState(), "api", NOW, 5);
    expect(s.requests).toBe(100);
    expect(s.errorRatePercent).toBe(5);
    expect(quantile(s.sketch, 0.95)).toBeCloseTo(100, -1);
    expect(serviceWindowStats(sampleState(), "unknown", NOW, 5).requests).toBe(0);
  });
});
