import { describe, expect, it } from "vitest";
import { DEFAULT_RULE_CONFIG, ruleConfigFromEnv } from "../../src/core/alerts/config";
import { type InstanceFacts, type ServiceFacts, evaluateRules } from "../../src/core/alerts/rules";
import { applyBatch, createMetricsState, serviceWindowStats } from "../../src/core/metrics/aggregate";
import { type OutcomeRecord, aggregateBatch } from "../../src/core/metrics/record";
import { quantile } from "../../src/core/metrics/sketch";

const NOW = Date.UTC(2024, 0, 15, 10, 30, 0);

function instance(id: string, over: Partial<InstanceFacts> = {}): InstanceFacts {
  return { id, health: "healthy", consecutiveFailures: 0, heartbeatLapsed: false, ...over };
}

function service(over: Partial<ServiceFacts> = {}): ServiceFacts {
  return {
    service: "api",
    seed: true,
    instances: [instance("api-1"), instance("api-2")],
    window: { minutes: 5, requests: 1000, errorRatePercent: 0.5, p95Ms: 120 },
    ...over,
  };
}

function names(facts: readonly ServiceFacts[]): string[] {
  return evaluateRules(facts, DEFAULT_RULE_CONFIG, NOW).map((a) => `${a.labels.alertname}:${a.labels.service}${a.labels.instance === undefined ? "" : `/${a.labels.instance}`}`);
}

describe("alert rules", () => {
  it("a healthy service raises nothing", () => {
    expect(names([service()])).toEqual([]);
  });

  it("InstanceUnhealthy after alertThreshold (2) consecutive failures, not before", () => {
    expect(names([service({ instances: [instance("api-1", { consecutiveFailures: 1 }), instance("api-2")] })])).toEqual([]);
    const alerts = evaluateRules([service({ instances: [instance("api-1", { consecutiveFailures: 2, health: "unhealthy" }), instance("api-2")] })], DEFAULT_RULE_CONFIG, NOW);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      labels: { alertname: "InstanceUnhealthy", service: "api", instance: "api-1", severity: "warning" },
      startsAt: NOW,
    });
    expect(alerts[0]?.annotations.summary).toContain("api-1");
  });

  it("ServiceDown when instances exist and none is available; degraded still counts as available", () => {
    const down = [instance("a", { health: "unhealthy" }), instance("b", { health: "unhealthy" })];
    expect(names([service({ instances: down })])).toEqual(["ServiceDown:api"]);
    expect(evaluateRules([service({ instances: down })], DEFAULT_RULE_CONFIG, NOW)[0]?.labels.severity).toBe("critical");
    expect(names([service({ instances: [instance("a", { health: "unhealthy" }), instance("b", { health: "degraded" })] })])).toEqual([]);
  });

  it("NoInstances for a seed service with no instance at all (and no ServiceDown)", () => {
    expect(names([service({ instances: [] })])).toEqual(["NoInstances:api"]);
    expect(names([service({ instances: [], seed: false })])).toEqual([]);
  });

  it("HighErrorRate above 5 % with enough volume", () => {
    const w = (requests: number, errorRatePercent: number) => service({ window: { minutes: 5, requests, errorRatePercent, p95Ms: 100 } });
    expect(names([w(100, 5.01)])).toEqual(["HighErrorRate:api"]);
    expect(names([w(100, 5)])).toEqual([]); // "above" the threshold
    expect(names([w(19, 50)])).toEqual([]); // below minRequestVolume: noise
    expect(names([w(20, 50)])).toEqual(["HighErrorRate:api"]);
  });

  it("HighLatency when p95 is above 5000 ms with enough volume", () => {
    const w = (requests: number, p95Ms: number | null) => service({ window: { minutes: 5, requests, errorRatePercent: 0, p95Ms } });
    expect(names([w(100, 5001)])).toEqual(["HighLatency:api"]);
    expect(names([w(100, 5000)])).toEqual([]);
    expect(names([w(5, 9000)])).toEqual([]);
    expect(names([w(100, null)])).toEqual([]);
  });

  it("HeartbeatLapsed per instance", () => {
    expect(names([service({ instances: [instance("api-1", { heartbeatLapsed: true })] })])).toEqual(["HeartbeatLapsed:api/api-1"]);
  });

  it("a stopped service raises nothing", () => {
    expect(names([service({ stopped: true, instances: [] }), service({ service: "b", stopped: true, instances: [instance("x", { health: "unhealthy", consecutiveFailures: 9 })] })])).toEqual([]);
  });

  it("output is ordered by service, independent of input order", () => {
    const a = service({ service: "zeta", instances: [] });
    const b = service({ service: "alpha", instances: [] });
    expect(names([a, b])).toEqual(["NoInstances:alpha", "NoInstances:zeta"]);
  });

  it("respects configured thresholds", () => {
    const config = { ...DEFAULT_RULE_CONFIG, errorRateThresholdPercent: 1, alertThreshold: 5 };
    const facts = service({ instances: [instance("a", { consecutiveFailures: 4 })], window: { minutes: 5, requests: 100, errorRatePercent: 2, p95Ms: 10 } });
    expect(evaluateRules([facts], config, NOW).map((a) => a.labels.alertname)).toEqual(["HighErrorRate"]);
  });

  it("works from real metrics: 4xx do not trip HighErrorRate, 5xx do", () => {
    const rec = (statusClass: OutcomeRecord["statusClass"], n: number): OutcomeRecord[] =>
      Array.from({ length: n }, () => ({ service: "api", instance: "api-1", statusClass, durationMs: 30, bytes: 0, at: NOW }));
    const facts = (records: OutcomeRecord[]): ServiceFacts => {
      const stats = serviceWindowStats(applyBatch(createMetricsState(), aggregateBatch(records), NOW), "api", NOW, 5);
      return service({ window: { minutes: 5, requests: stats.requests, errorRatePercent: stats.errorRatePercent, p95Ms: quantile(stats.sketch, 0.95) } });
    };
    expect(names([facts([...rec("2xx", 50), ...rec("4xx", 50)])])).toEqual([]);
    expect(names([facts([...rec("2xx", 90), ...rec("5xx", 6), ...rec("gateway", 4)])])).toEqual(["HighErrorRate:api"]);
  });
});

describe("ruleConfigFromEnv", () => {
  it("defaults to 5 % and 5000 ms", () => {
    expect(ruleConfigFromEnv({})).toEqual({ config: DEFAULT_RULE_CONFIG, problems: [] });
    expect(DEFAULT_RULE_CONFIG).toMatchObject({ errorRateThresholdPercent: 5, responseTimeThresholdMs: 5000, minRequestVolume: 20, alertThreshold: 2 });
  });

  it("reads percentages and milliseconds with or without units", () => {
    expect(ruleConfigFromEnv({ ERROR_RATE_THRESHOLD: "2.5%", RESPONSE_TIME_THRESHOLD: "1500ms" }).config).toMatchObject({
      errorRateThresholdPercent: 2.5,
      responseTimeThresholdMs: 1500,
    });
    expect(ruleConfigFromEnv({ ERROR_RATE_THRESHOLD: " 10 ", RESPONSE_TIME_THRESHOLD: "800" }).config).toMatchObject({
      errorRateThresholdPercent: 10,
      responseTimeThresholdMs: 800,
    });
  });

  it("falls back to the default and says so for bad values", () => {
    const { config, problems } = ruleConfigFromEnv({ ERROR_RATE_THRESHOLD: "abc", RESPONSE_TIME_THRESHOLD: "-5" });
    expect(config).toEqual(DEFAULT_RULE_CONFIG);
    expect(problems).toHaveLength(2);
    expect(ruleConfigFromEnv({ ERROR_RATE_THRESHOLD: "150" }).problems).toHaveLength(1);
    expect(ruleConfigFromEnv({ ERROR_RATE_THRESHOLD: "0" }).problems).toHaveLength(1);
  });
});
