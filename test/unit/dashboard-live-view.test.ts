/**
 * The live dashboard's view (src/core/dashboard/live-view.ts): what it keeps
 * from the full dashboard state, what it leaves out, and how it encodes it.
 */
import { describe, expect, it } from "vitest";
import { HISTORY_SHOWN, type SourceInstance, type SourceService, type ViewSource, liveError, liveView } from "../../src/core/dashboard/live-view";
import type { StatsView } from "../../src/core/metrics/view";

const NOW = Date.parse("2026-12-01T12:00:00Z");

const stats: StatsView = {
  totalRequests: 100,
  errorRate: 2,
  avgResponseTime: 5,
  p50: 4,
  p90: 8,
  p95: 9,
  p99: 15,
  throughput: { m1: 1.5, m5: 1, m15: 0.5 },
  errors: { "4xx": 1, "5xx": 2, gateway: 0, timeout: 0, connect: 0 },
  bytes: 1000,
  recent: { minutes: 5, requests: 50, errorRate: 4, p50: 3, p95: 7, p99: 11 },
};

function instance(id: string, over: Partial<SourceInstance> = {}): SourceInstance {
  return {
    id,
    service: "api",
    target: { kind: "url", url: `http://127.0.0.1:9/${id}` },
    weight: 1,
    effectiveWeight: 1,
    adminState: "active",
    pool: false,
    health: "healthy",
    checkStatus: "passing",
    inflight: 0,
    websockets: 0,
    metadata: {},
    version: null,
    activeCheck: { lastResult: "pass", lastError: null },
    ejectedUntil: null,
    ...over,
  };
}

function source(instances: SourceInstance[], over: Partial<ViewSource> = {}): ViewSource {
  const service: SourceService = { name: "api", strategy: "round-robin", adminState: "active", status: "healthy", panic: false, inflight: 0, instances };
  return {
    environment: "development",
    services: [service],
    metrics: {
      global: { ...stats, inflight: 0, websockets: { open: 0, opened: 0, closed: 0, closedBy: { normal: 0, error: 0, abnormal: 0, other: 0 }, avgDurationMs: null, p50DurationMs: null, p95DurationMs: null } },
      workers: {},
    },
    alerts: { active: [], history: { entries: [], dropped: 0 } },
    autoscaling: [],
    releases: [],
    loop: {
      lastSweepAt: NOW,
      lastSweepProbed: 1,
      lastSweepShards: 1,
      vantagePoints: ["local", "weur"],
      lastCompletedSweep: { vantagePoints: [{ name: "local", discounted: 0 }, { name: "weur", discounted: 2 }] },
      consecutiveSweepFailures: 0,
      consecutiveAlertFailures: 0,
    },
    ...over,
  };
}

describe("live view", () => {
  it("keeps an instance's operator facts and leaves usual values out", () => {
    const view = liveView(source([instance("a"), instance("b", { target: { kind: "binding", binding: "API" }, metadata: { name: "api-2" }, websockets: 2, inflight: 3, pool: true, adminState: "standby", effectiveWeight: 0.333333, weight: 2 })]), NOW);
    expect(view.instances.a).toEqual({ service: "api", target: "http://127.0.0.1:9/a", health: "healthy", check: "pass" });
    expect(view.instances.b).toEqual({
      service: "api",
      target: "binding:API",
      health: "healthy",
      admin: "standby",
      inflight: 3,
      websockets: 2,
      check: "pass",
      name: "api-2",
      weight: 2,
      warming: true,
      pool: true,
    });
  });

  it("tags an instance with the version it declared, and leaves it out when it declared none", () => {
    const view = liveView(source([instance("a", { version: "v2" }), instance("b")]), NOW);
    expect(view.instances.a?.version).toBe("v2");
    expect(view.instances.b).not.toHaveProperty("version");
  });

  it("shows an ejection only while it lasts, and a lapsed heartbeat", () => {
    const view = liveView(
      source([
        instance("now", { ejectedUntil: new Date(NOW + 30_000).toISOString(), checkStatus: "critical" }),
        instance("over", { ejectedUntil: new Date(NOW - 1).toISOString() }),
      ]),
      NOW,
    );
    expect(view.instances.now?.ejectedUntil).toBe(NOW + 30_000);
    expect(view.instances.now?.heartbeat).toBe("critical");
    expect(view.instances.over?.ejectedUntil).toBeUndefined();
  });

  it("renders any shape of probe error: a string, a classified object with a trace id, or something else", () => {
    expect(liveError(null)).toBeUndefined();
    expect(liveError("")).toBeUndefined();
    expect(liveError("HTTP 503")).toBe("HTTP 503");
    expect(liveError({ class: "dns", message: "no such host", traceId: "4bf92f3577b34da6a3ce929d0e0e4736", extra: 1 })).toEqual({ class: "dns", message: "no such host", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" });
    expect(liveError({ message: "reset" })).toEqual({ message: "reset" });
    expect(liveError({ code: 7 })).toBe('{"code":7}');
    expect((liveError("x".repeat(1_000)) as string).length).toBe(300);
    const view = liveView(source([instance("a", { health: "unhealthy", activeCheck: { lastResult: "fail", lastError: { class: "refused", message: "connection refused" } } })]), NOW);
    expect(view.instances.a?.error).toEqual({ class: "refused", message: "connection refused" });
  });

  it("takes each service's traffic from the metrics, and zeros for a service without any", () => {
    const base = source([instance("a")]);
    const withTraffic: ViewSource = {
      ...base,
      metrics: {
        ...base.metrics,
        workers: {
          api: { ...stats, status: "healthy", inflight: 2, websockets: { ...base.metrics.global.websockets, open: 2 }, instances: {} },
        },
      },
    };
    expect(liveView(withTraffic, NOW).services.api).toEqual({
      status: "healthy",
      admin: "active",
      strategy: "round-robin",
      inflight: 0,
      websockets: 2,
      requests: 100,
      rps: 1.5,
      errorRate: 2,
      recent: { errorRate: 4, p50: 3, p95: 7, p99: 11 },
    });
    expect(liveView(base, NOW).services.api).toMatchObject({ requests: 0, rps: 0, recent: { p95: null } });
  });

  it("keys services, instances and alerts by names that are Object.prototype members like any other", () => {
    const names = ["__proto__", "constructor", "toString"];
    const services: SourceService[] = names.map((name) => ({ name, strategy: "round-robin", adminState: "active", status: "healthy", panic: false, inflight: 0, instances: [instance(name, { service: name })] }));
    const view = liveView({ ...source([]), services }, NOW);
    for (const name of names) {
      expect(Object.hasOwn(view.services, name)).toBe(true);
      expect(Object.hasOwn(view.instances, name)).toBe(true);
    }
    const parsed = JSON.parse(JSON.stringify(view.instances)) as Record<string, { service: string }>;
    expect(Object.hasOwn(parsed, "__proto__") && parsed["__proto__"]?.service).toBe("__proto__");
  });

  it("lists active and suppressed alerts with why, and leaves resolved ones out", () => {
    const alert = (fingerprint: string, labels: Record<string, string>) => ({ fingerprint, groupKey: "g", labels, annotations: { summary: `s-${fingerprint}`, description: "long text" }, startsAt: NOW - 5_000, endsAt: null });
    const view = liveView(
      source([], {
        alerts: {
          active: [
            { alert: alert("f1", { alertname: "InstanceUnhealthy", service: "api", instance: "a", severity: "warning" }), state: "active", silencedBy: [], inhibited: false },
            { alert: alert("f2", { alertname: "ServiceDown", service: "api" }), state: "suppressed", silencedBy: ["s1"], inhibited: false },
            { alert: alert("f3", { alertname: "HighLatency", service: "api" }), state: "resolved", silencedBy: [], inhibited: false },
          ],
          history: { entries: [], dropped: 0 },
        },
      }),
      NOW,
    );
    expect(view.alerts).toEqual({
      f1: { state: "active", name: "InstanceUnhealthy", severity: "warning", service: "api", instance: "a", summary: "s-f1", startsAt: NOW - 5_000 },
      f2: { state: "suppressed", why: "silenced", name: "ServiceDown", service: "api", summary: "s-f2", startsAt: NOW - 5_000 },
    });
  });

  it("sends the newest notifications only, with how many there are", () => {
    const entry = (at: number) => ({
      groupKey: `g${at}`,
      groupLabels: {},
      status: "firing" as const,
      alerts: Array.from({ length: 7 }, (_, i) => ({ fingerprint: `f${i}`, status: "firing" as const, labels: { alertname: "InstanceUnhealthy", service: "api", instance: `i${i}` }, annotations: { summary: `sum ${at}`, description: "" }, startsAt: at, endsAt: null })),
      counts: { firing: 9, resolved: 0 },
      truncated: 2,
      at,
    });
    const entries = Array.from({ length: 120 }, (_, i) => entry(NOW - i * 1_000));
    const view = liveView(source([], { alerts: { active: [], history: { entries, dropped: 3 } } }), NOW);
    expect(view.history.total).toBe(120);
    expect(view.history.dropped).toBe(3);
    expect(view.history.entries).toHaveLength(HISTORY_SHOWN);
    expect(view.history.entries[0]).toMatchObject({ at: NOW, alerts: expect.any(Array), more: 4, summary: `sum ${NOW}` });
    expect(view.history.entries[0]?.alerts).toHaveLength(5);
  });

  it("summarises the loop, naming the vantage points whose votes were discounted", () => {
    expect(liveView(source([]), NOW).loop).toEqual({ lastSweepAt: NOW, probed: 1, shards: 1, vantagePoints: ["local", "weur"], discounted: ["weur"], sweepFailures: 0, alertFailures: 0 });
  });
});
