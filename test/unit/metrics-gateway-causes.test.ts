/**
 * Gateway failures by cause (dns, refused, reset, tls, timeout, other) through
 * the metrics layers: batches, merged tallies, state persisted before causes
 * existed, the JSON view, the Prometheus text and the alerts that describe them.
 */
import { describe, expect, it } from "vitest";
import { alertFacts, type FleetSnapshot } from "../../src/core/alerts/facts";
import { DEFAULT_RULE_CONFIG } from "../../src/core/alerts/config";
import { evaluateRules, type InstanceFacts, type ServiceFacts } from "../../src/core/alerts/rules";
import { type MetricsState, applyBatch, createMetricsState } from "../../src/core/metrics/aggregate";
import { prometheusText } from "../../src/core/metrics/prometheus";
import { type GatewayKind, type OutcomeRecord, aggregateBatch } from "../../src/core/metrics/record";
import { createSketch } from "../../src/core/metrics/sketch";
import { type Tally, connectFailures, emptyTally, gatewayCount, mergeTally } from "../../src/core/metrics/tally";
import { metricsView } from "../../src/core/metrics/view";

const NOW = Date.UTC(2026, 11, 6, 10, 30, 0);

function failures(service: string, instance: string, kinds: readonly GatewayKind[]): OutcomeRecord[] {
  return kinds.map((gatewayKind, i) => ({ service, instance, statusClass: "gateway", gatewayKind, durationMs: 5, bytes: 0, at: NOW - 1000 + i }));
}

/** A tally as code before causes wrote it: only timeout and connect. */
function oldTally(timeout: number, connect: number): Tally {
  return { counts: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, gateway: timeout + connect }, gateway: { timeout, connect }, bytes: 0, sketch: createSketch() };
}

describe("tallies", () => {
  it("carry a cause only once one is counted, so tallies without such failures keep their old shape", () => {
    const batch = aggregateBatch([...failures("api", "a", ["dns", "dns", "refused", "timeout"]), ...failures("api", "b", ["connect"])]);
    expect(batch.entries[0]?.tally.gateway).toEqual({ timeout: 1, connect: 0, dns: 2, refused: 1 });
    expect(batch.entries[1]?.tally.gateway).toEqual({ timeout: 0, connect: 1 });
    expect(emptyTally().gateway).toEqual({ timeout: 0, connect: 0 });
  });

  it("merge with tallies written before causes existed, without NaN", () => {
    const merged = mergeTally(oldTally(2, 3), aggregateBatch(failures("api", "a", ["tls", "reset", "timeout"])).entries[0]?.tally ?? emptyTally());
    expect(merged.gateway).toEqual({ timeout: 3, connect: 3, reset: 1, tls: 1 });
    expect(connectFailures(merged.gateway)).toBe(5);
    expect(gatewayCount(oldTally(1, 1).gateway, "dns")).toBe(0);
  });
});

/** State as MetricsDO persisted it before causes: a JSON round trip of an old tally in totals and a minute bucket. */
function persistedBeforeCauses(): MetricsState {
  const state = applyBatch(createMetricsState(), aggregateBatch(failures("api", "a", ["timeout", "connect", "connect"])), NOW - 60_000);
  const json = JSON.stringify(state, (_key, value: unknown) => {
    if (typeof value === "object" && value !== null && "timeout" in value && "connect" in value) return { timeout: (value as { timeout: number }).timeout, connect: (value as { connect: number }).connect };
    return value;
  });
  return JSON.parse(json) as MetricsState;
}

describe("the /metrics view", () => {
  it("publishes byCause, with connect the sum of the connect causes and old connect failures as other", () => {
    const state = applyBatch(persistedBeforeCauses(), aggregateBatch(failures("api", "a", ["dns", "refused", "refused", "timeout"])), NOW);
    const errors = metricsView(state, NOW).workers.api?.errors;
    expect(errors).toEqual({ "4xx": 0, "5xx": 0, gateway: 7, timeout: 2, connect: 5, byCause: { timeout: 2, dns: 1, refused: 2, reset: 0, tls: 0, other: 2 } });
    expect(errors?.gateway).toBe((errors?.timeout ?? 0) + (errors?.connect ?? 0));
    expect(metricsView(state, NOW).global.errors.byCause.refused).toBe(2);
  });
});

describe("Prometheus", () => {
  it("labels gateway failures by kind (as before) and cause, six series per instance", () => {
    const state = applyBatch(persistedBeforeCauses(), aggregateBatch(failures("api", "a", ["dns", "tls", "timeout"])), NOW);
    const lines = prometheusText(state)
      .split("\n")
      .filter((line) => line.startsWith("orchestrator_gateway_errors_total{"));
    expect(lines).toEqual([
      'orchestrator_gateway_errors_total{service="api",instance="a",kind="timeout",cause="timeout"} 2',
      'orchestrator_gateway_errors_total{service="api",instance="a",kind="connect",cause="dns"} 1',
      'orchestrator_gateway_errors_total{service="api",instance="a",kind="connect",cause="refused"} 0',
      'orchestrator_gateway_errors_total{service="api",instance="a",kind="connect",cause="reset"} 0',
      'orchestrator_gateway_errors_total{service="api",instance="a",kind="connect",cause="tls"} 1',
      'orchestrator_gateway_errors_total{service="api",instance="a",kind="connect",cause="other"} 2',
    ]);
  });
});

describe("alerts say the class", () => {
  const instance = (id: string, over: Partial<InstanceFacts> = {}): InstanceFacts => ({ id, health: "healthy", consecutiveFailures: 0, heartbeatLapsed: false, ...over });
  const service = (over: Partial<ServiceFacts>): ServiceFacts => ({ service: "api", seed: true, instances: [], window: { minutes: 5, requests: 0, errorRatePercent: 0, p95Ms: null }, ...over });

  it("InstanceUnhealthy: the class in the summary, the last failure in the description", () => {
    const [alert] = evaluateRules([service({ instances: [instance("a", { consecutiveFailures: 3, health: "unhealthy", lastError: "dns: lookup failed for nx.invalid" }), instance("b")] })], DEFAULT_RULE_CONFIG, NOW);
    expect(alert?.labels).toEqual({ alertname: "InstanceUnhealthy", service: "api", instance: "a", severity: "warning" });
    expect(alert?.annotations.summary).toBe("api/a failed 3 health checks in a row (dns)");
    expect(alert?.annotations.description).toContain("Last failure: dns: lookup failed for nx.invalid.");
  });

  it("ServiceDown: the classes of its instances' failures, most common first", () => {
    const down = (id: string, lastError: string) => instance(id, { health: "unhealthy", lastError });
    const alerts = evaluateRules([service({ instances: [down("a", "refused: connection to 10.0.0.1:80 refused"), down("b", "timeout: no answer within 5000 ms"), down("c", "refused: connection to 10.0.0.3:80 refused")] })], { ...DEFAULT_RULE_CONFIG, alertThreshold: 99 }, NOW);
    const serviceDown = alerts.find((a) => a.labels.alertname === "ServiceDown");
    expect(serviceDown?.annotations.summary).toBe("api is down: 0 of 3 instances available (refused ×2, timeout)");
    expect(serviceDown?.annotations.description).toContain("Last failures: a: refused: connection to 10.0.0.1:80 refused;");
  });

  it("HighErrorRate: requests that got no answer, by cause, from the metrics window", () => {
    const records = [
      ...failures("api", "a", ["dns", "dns", "dns", "timeout"]),
      ...Array.from({ length: 6 }, (_, i): OutcomeRecord => ({ service: "api", instance: "a", statusClass: "2xx", durationMs: 5, bytes: 0, at: NOW - 500 + i })),
    ];
    const metrics = applyBatch(createMetricsState(), aggregateBatch(records), NOW);
    const snapshot: FleetSnapshot = {
      services: [{ name: "api", seed: true, adminState: "active", instances: [{ id: "a", adminState: "active", health: "healthy", static: false, checkStatus: "passing", activeCheck: { consecutiveFailures: 0, lastError: null } }] }],
    };
    const facts = alertFacts(snapshot, metrics, NOW);
    expect(facts[0]?.window.gatewayCauses).toEqual({ dns: 3, timeout: 1 });
    const alert = evaluateRules(facts, { ...DEFAULT_RULE_CONFIG, minRequestVolume: 1 }, NOW).find((a) => a.labels.alertname === "HighErrorRate");
    expect(alert?.annotations.description).toContain("by cause: timeout 1, dns 3.");
  });
});
