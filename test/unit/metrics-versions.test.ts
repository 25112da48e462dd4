/**
 * The per-version breakdown (issue #20): /metrics gives each service a
 * `versions` block over the instances that declared one, and each instance its
 * version; every Prometheus series of a versioned instance has a `version`
 * label, and an unversioned one's has none.
 */
import { describe, expect, it } from "vitest";
import { applyBatch, createMetricsState } from "../../src/core/metrics/aggregate";
import { prometheusText } from "../../src/core/metrics/prometheus";
import { aggregateBatch, type OutcomeRecord } from "../../src/core/metrics/record";
import { type MetricsExtras, metricsView } from "../../src/core/metrics/view";

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

function outcomes(instance: string, n: number, failures: number, durationMs: number): OutcomeRecord[] {
  return Array.from({ length: n }, (_, i) => ({ service: "banking", instance, statusClass: i < failures ? "5xx" : "2xx", durationMs, bytes: 10, at: NOW - 1_000 }));
}

const state = applyBatch(createMetricsState(), aggregateBatch([...outcomes("s1", 50, 0, 20), ...outcomes("s2", 50, 1, 20), ...outcomes("c1", 20, 10, 200), ...outcomes("legacy", 5, 0, 10)]), NOW);
const extras: MetricsExtras = {
  banking: {
    status: "healthy",
    instances: { s1: { health: "healthy", version: "v1" }, s2: { health: "healthy", version: "v1" }, c1: { health: "healthy", version: "v2" }, legacy: { health: "healthy" }, idle: { health: "healthy", version: "v3" } },
  },
};

describe("per-version metrics", () => {
  it("groups the service's instances by version, beside the service's own totals", () => {
    const service = metricsView(state, NOW, extras).workers.banking;
    expect(service?.totalRequests).toBe(125);
    expect(Object.keys(service?.versions ?? {})).toEqual(["v1", "v2", "v3"]);
    expect(service?.versions.v1).toMatchObject({ instances: 2, totalRequests: 100, errorRate: 1 });
    expect(service?.versions.v2).toMatchObject({ instances: 1, totalRequests: 20, errorRate: 50, recent: { minutes: 5, requests: 20, errorRate: 50 } });
    expect(service?.versions.v2?.p95).toBeCloseTo(200, -1);
    expect(service?.versions.v3).toMatchObject({ instances: 1, totalRequests: 0, p95: null });
    expect(service?.instances.c1?.version).toBe("v2");
    expect(service?.instances.legacy?.version).toBeNull();
  });

  it("labels every series of a versioned instance with its version", () => {
    const text = prometheusText(state, extras);
    expect(text).toContain('orchestrator_requests_total{service="banking",instance="c1",version="v2",class="5xx"} 10');
    expect(text).toContain('orchestrator_instance_up{service="banking",instance="s1",version="v1"} 1');
    expect(text).toContain('orchestrator_requests_total{service="banking",instance="legacy",class="2xx"} 5');
  });
});
