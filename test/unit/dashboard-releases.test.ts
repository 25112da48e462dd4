/**
 * Releases on the dashboard (issue #20 item 6), from the registry to the page:
 * - the registry's summaries (durable-objects/registry/release-views.ts
 *   releaseSummaries): each service's newest release while active and for an
 *   hour after it ended, with its newest transitions only;
 * - the live view's release entry (src/core/dashboard/live-view.ts), keyed by
 *   service, and the size of the deltas while a release runs;
 * - what the page derives from it (dashboard/public/release-model.js): the
 *   versions compared, the metrics against their thresholds with the failing
 *   one marked, the time to the next step and the actions that apply.
 */
import { describe, expect, it } from "vitest";
import { RELEASE_SUMMARY_HISTORY, RELEASE_SUMMARY_WINDOW_MS, releaseSummaries } from "../../durable-objects/registry/release-views";
import { advanceFeed, startFeed } from "../../src/core/dashboard/delta";
import { type LiveRelease, type SourceInstance, type SourceService, type ViewSource, liveView } from "../../src/core/dashboard/live-view";
import type { EdgeOutcome, RegisterInput } from "../../src/core/registry/inputs";
import { applyEdgeReport } from "../../src/core/registry/edge-reports";
import { registerInstance } from "../../src/core/registry/registration";
import { actOnRelease, runDueReleases, startRelease } from "../../src/core/registry/releases";
import { emptyRegistry, type RegistryState } from "../../src/core/registry/state";
import { normalizeReleaseSpec, type ReleaseSpec } from "../../src/core/release/spec";
// The page's module: plain browser JavaScript, no DOM.
import { allowedActions, metricRows, orderedReleases, timingText, versionsText, weightLabel } from "../../dashboard/public/release-model.js";
import { ANY_URL, REGISTRY_CONFIG as config } from "./support/registry";

const T0 = 1_700_000_000_000;

function register(state: RegistryState, service: string, id: string, extra: Partial<RegisterInput> = {}) {
  const port = 9500 + state.nextSeq;
  const registered = registerInstance(state, { service, target: { kind: "url", url: `http://127.0.0.1:${port}/` }, weight: 1, metadata: {}, ...extra }, id, T0, config, ANY_URL);
  expect(registered.ok).toBe(true);
}

/** banking: two stable (v1) instances and one canary (v2); api: one instance, no version. */
function fleet(): RegistryState {
  const state = emptyRegistry();
  register(state, "banking", "s1", { version: "v1" });
  register(state, "banking", "s2", { version: "v1" });
  register(state, "banking", "c1", { version: "v2" });
  register(state, "api", "a1");
  return state;
}

function spec(over: Record<string, unknown> = {}): ReleaseSpec {
  const result = normalizeReleaseSpec({
    version: "v2",
    steps: [5, 25, 50, 100],
    stepIntervalSeconds: 300,
    analysis: { minRequests: 20, maxErrorRatePercent: 2, maxP95Ms: 800, maxErrorRateVsStable: 2, maxP95VsStable: 1.5 },
    ...over,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.spec;
}

const outcomes = (n: number, status: number, ms: number): EdgeOutcome[] => Array.from({ length: n }, () => [status, ms, null] as const);

function report(state: RegistryState, byInstance: Record<string, EdgeOutcome[]>, now: number): void {
  applyEdgeReport(state, { isolateId: "iso-1", inflight: {}, outcomes: byInstance }, now, config);
}

/** The dashboard state around the registry's summaries, as MetricsDO builds it (only what the view reads). */
function source(state: RegistryState, now: number, instances: readonly SourceInstance[] = []): ViewSource {
  const services: SourceService[] = [...new Set(instances.map((i) => i.service))].map((name) => ({
    name,
    strategy: "round-robin",
    adminState: "active",
    status: "healthy",
    panic: false,
    inflight: 0,
    instances: instances.filter((i) => i.service === name),
  }));
  const zero = { totalRequests: 0, errorRate: 0, avgResponseTime: 0, p50: null, p90: null, p95: null, p99: null, throughput: { m1: 0, m5: 0, m15: 0 }, errors: { "4xx": 0, "5xx": 0, gateway: 0, timeout: 0, connect: 0 }, bytes: 0, recent: { minutes: 5, requests: 0, errorRate: 0, p50: null, p95: null, p99: null } };
  return {
    environment: "development",
    services,
    metrics: { global: { ...zero, inflight: 0, websockets: { open: 0, opened: 0, closed: 0, closedBy: { normal: 0, error: 0, abnormal: 0, other: 0 }, avgDurationMs: null, p50DurationMs: null, p95DurationMs: null } }, workers: {} },
    alerts: { active: [], history: { entries: [], dropped: 0 } },
    autoscaling: [],
    releases: releaseSummaries(state, now),
    loop: { lastSweepAt: null, lastSweepProbed: 0, lastSweepShards: 1, vantagePoints: ["local"], lastCompletedSweep: null, consecutiveSweepFailures: 0, consecutiveAlertFailures: 0 },
  };
}

const versionCounts = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe("the registry's release summaries", () => {
  it("names each service's newest release while it runs, with its thresholds, its window's numbers and its newest transitions", () => {
    const state = fleet();
    expect(startRelease(state, "banking", spec(), "r1", "key:a", T0).ok).toBe(true);
    report(state, { s1: outcomes(30, 200, 20), s2: outcomes(30, 200, 20), c1: outcomes(10, 200, 25) }, T0 + 1_000);
    const [summary, ...others] = releaseSummaries(state, T0 + 2_000);
    expect(others).toEqual([]);
    expect(summary).toMatchObject({
      id: "r1",
      service: "banking",
      version: "v2",
      state: "running",
      stepIndex: 0,
      weightPercent: 5,
      routedWeightPercent: 5,
      spec: { steps: [5, 25, 50, 100], stepIntervalSeconds: 300, analysis: { minRequests: 20, maxErrorRatePercent: 2, maxP95Ms: 800 } },
      judgeAt: new Date(T0 + 300_000).toISOString(),
      analysis: { verdict: "pending", canary: { requests: 10, failures: 0 }, stable: { requests: 60, failures: 0 } },
      transitions: 1,
    });
    expect(summary?.history.map((t) => t.kind)).toEqual(["started"]);
  });

  it("carries only the newest transitions, says how many there are, and forgets an ended release after an hour", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    for (let i = 0; i < 4; i++) {
      actOnRelease(state, "banking", "r1", "pause", "key:o", T0 + 10 * i + 1);
      actOnRelease(state, "banking", "r1", "resume", "key:o", T0 + 10 * i + 2);
    }
    const summary = releaseSummaries(state, T0 + 100)[0];
    expect(summary?.transitions).toBe(9);
    expect(summary?.history).toHaveLength(RELEASE_SUMMARY_HISTORY);
    expect(summary?.history.at(-1)).toMatchObject({ kind: "resumed", at: new Date(T0 + 32).toISOString() });
    actOnRelease(state, "banking", "r1", "abort", "key:o", T0 + 1_000);
    expect(releaseSummaries(state, T0 + 1_000 + RELEASE_SUMMARY_WINDOW_MS).map((r) => [r.state, r.weightPercent, r.endedAt])).toEqual([["aborted", 0, new Date(T0 + 1_000).toISOString()]]);
    expect(releaseSummaries(state, T0 + 1_001 + RELEASE_SUMMARY_WINDOW_MS)).toEqual([]);
  });

  it("shows the newest release of a service only: a new one replaces the one that ended", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    actOnRelease(state, "banking", "r1", "abort", "key:o", T0 + 1);
    startRelease(state, "banking", spec({ dryRun: true }), "r2", "key:a", T0 + 2);
    expect(releaseSummaries(state, T0 + 3).map((r) => [r.id, r.dryRun])).toEqual([["r2", true]]);
  });
});

describe("the live view's releases", () => {
  it("keys each release by its service, in epoch ms, with the reason left out while a step is in progress", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    report(state, { s1: outcomes(30, 200, 20), c1: outcomes(25, 200, 30) }, T0 + 1_000);
    const view = liveView(source(state, T0 + 2_000), T0 + 2_000);
    const release = view.releases.banking as LiveRelease;
    expect(release).toMatchObject({ id: "r1", version: "v2", state: "running", stepIndex: 0, steps: [5, 25, 50, 100], stepSeconds: 300, weight: 5, stepStartedAt: T0, judgeAt: T0 + 300_000, transitions: 1 });
    expect(release.thresholds).toEqual({ minRequests: 20, maxErrorRatePercent: 2, maxP95Ms: 800, maxErrorRateVsStable: 2, maxP95VsStable: 1.5, errorRateAllowancePercent: 1, p95AllowanceMs: 10 });
    expect(release.analysis).toMatchObject({ verdict: "pending", windowStartedAt: T0, canary: { requests: 25, failures: 0, errorRatePercent: 0 }, stable: { requests: 30 } });
    expect(release.analysis).not.toHaveProperty("reason");
    expect(release.analysis?.checks.map((c) => [c.threshold, c.result])).toEqual([
      ["maxErrorRatePercent", "pass"],
      ["maxP95Ms", "pass"],
      ["maxErrorRateVsStable", "pass"],
      ["maxP95VsStable", "pass"],
    ]);
    expect(release.history).toEqual([{ at: T0, kind: "started", to: "running", stepIndex: 0, weight: 5, actor: "key:a", detail: expect.stringContaining("v2 at 5%") as string }]);
    for (const absent of ["dryRun", "pausedBy", "endedAt"]) expect(release).not.toHaveProperty(absent);
    // A quiet release does not change from one build to the next: nothing in it is "now".
    expect(liveView(source(state, T0 + 3_000), T0 + 3_000).releases.banking).toEqual(release);
  });

  it("a rollback: weight 0, the judgement that ended it with its reason, the transition first", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    report(state, { s1: outcomes(30, 200, 20), c1: outcomes(20, 503, 5) }, T0 + 1_000);
    expect(runDueReleases(state, T0 + 30_000).transitions.map((t) => t.transition.kind)).toEqual(["rolled-back"]);
    const release = liveView(source(state, T0 + 31_000), T0 + 31_000).releases.banking as LiveRelease;
    expect(release).toMatchObject({ state: "rolled-back", weight: 0, endedAt: T0 + 30_000, analysis: { verdict: "fail", reason: expect.stringMatching(/^threshold crossed: error rate 100% > 2%/) as string } });
    expect(release.history.map((t) => t.kind)).toEqual(["rolled-back", "started"]);
    expect(release.history[0]?.actor).toBe("release-controller");
  });

  it("while a release runs, a push with new numbers sends that release's entry: about 1 KB at 500 instances", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    const instances: SourceInstance[] = [];
    for (let s = 0; s < 25; s++) {
      for (let i = 0; i < 20; i++) {
        instances.push({
          id: `svc-${s}-i-${i}-${"0".repeat(20)}`,
          service: `svc-${String(s).padStart(2, "0")}`,
          target: { kind: "url", url: `http://127.0.0.1:4000/svc-${s}/i-${i}` },
          weight: 1,
          effectiveWeight: 1,
          adminState: "active",
          pool: false,
          health: "healthy",
          checkStatus: "passing",
          inflight: 0,
          websockets: 0,
          metadata: {},
          version: i === 0 ? "v2" : "v1",
          activeCheck: { lastResult: "pass", lastError: null },
          ejectedUntil: null,
        });
      }
    }
    let feed = startFeed(liveView(source(state, T0, instances), T0), T0, 1);
    const sizes: number[] = [];
    for (let push = 1; push <= 5; push++) {
      const now = T0 + push * 1_000;
      report(state, { s1: outcomes(40, 200, 20), c1: outcomes(3, push === 5 ? 503 : 200, 30) }, now);
      const next = advanceFeed(feed, liveView(source(state, now, instances), now), now);
      feed = next.feed;
      expect(Object.keys(next.delta.put ?? {})).toEqual(["releases"]);
      expect(Object.keys(next.delta.put?.releases ?? {})).toEqual(["banking"]);
      sizes.push(JSON.stringify(next.delta).length);
    }
    const snapshot = JSON.stringify({ type: "snapshot", version: feed.version, at: feed.at, view: feed.view }).length;
    console.log(`[dashboard-releases] delta per push while a release runs: ${sizes.join(", ")} bytes; snapshot at 500 instances with one release: ${snapshot} bytes`);
    for (const size of sizes) expect(size).toBeLessThan(1_500);
    // With no new outcomes the release's entry stays as it was: a heartbeat carries nothing.
    const quiet = advanceFeed(feed, liveView(source(state, T0 + 9_000, instances), T0 + 9_000), T0 + 9_000);
    expect(quiet.delta.put).toBeUndefined();
  });
});

describe("the page's release panel model", () => {
  function running(over: Partial<LiveRelease> = {}): LiveRelease {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    report(state, { s1: outcomes(30, 200, 20), s2: outcomes(10, 503, 20), c1: outcomes(20, 200, 30), ...(over as Record<string, never>) }, T0 + 1_000);
    return { ...(liveView(source(state, T0 + 2_000), T0 + 2_000).releases.banking as LiveRelease), ...over };
  }

  it("lists the canary's version against the others, with instance counts", () => {
    const release = running();
    expect(versionsText(release, versionCounts({ v1: 2, v2: 1, "": 1 }))).toBe("v2 ×1 vs v1 ×2, unversioned ×1");
    expect(versionsText(release, versionCounts({ v1: 2 }))).toBe("v2 ×0 vs v1 ×2");
    expect(weightLabel(release)).toBe("Canary weight 5 %, step 1 of 4 (steps 5, 25, 50, 100 %)");
  });

  it("compares requests, error rate and p95 against their thresholds, relative ones with their effective limit", () => {
    const rows = metricRows(running());
    expect(rows.map((r: { metric: string; canary: string; stable: string; threshold: string; state: string | null }) => [r.metric, r.canary, r.stable, r.threshold, r.state])).toEqual([
      ["requests", "20", "40 (10 failed)", "≥ 20 to judge", "pass"],
      ["errorRate", "0 %", "25 %", "≤ 2 % · ≤ 2× stable + 1 pt = 51 %", "pass"],
      ["p95", "30 ms", "20 ms", "≤ 800 ms · ≤ 1.5× stable + 10 ms = 40 ms", "pass"],
    ]);
  });

  it("marks the failing threshold, and leaves unjudged ones unmarked", () => {
    const release = running();
    const analysis = release.analysis as NonNullable<LiveRelease["analysis"]>;
    const failing: LiveRelease = {
      ...release,
      analysis: { ...analysis, verdict: "fail", canary: { ...analysis.canary, failures: 3, errorRatePercent: 15 }, checks: analysis.checks.map((c) => (c.threshold === "maxErrorRatePercent" ? { ...c, observed: 15, result: "fail" as const } : c)) },
    };
    const rows = metricRows(failing);
    expect(rows.find((r: { metric: string }) => r.metric === "errorRate")).toMatchObject({ state: "fail", parts: [{ text: "≤ 2 %", state: "fail" }, { state: "pass" }] });
    expect(rows.find((r: { metric: string }) => r.metric === "p95")).toMatchObject({ state: "pass" });
    const early = metricRows({ ...release, analysis: { ...analysis, canary: { requests: 3, failures: 0, errorRatePercent: 0, p95Ms: 12 }, checks: analysis.checks.map((c) => ({ ...c, observed: null, result: "unjudged" as const })) } });
    expect(early.map((r: { state: string | null }) => r.state)).toEqual(["unjudged", "unjudged", "unjudged"]);
    const none = metricRows({ ...release, analysis: undefined } as LiveRelease);
    expect(none.map((r: { canary: string; state: string | null }) => [r.canary, r.state])).toEqual([["—", null], ["—", null], ["—", null]]);
  });

  it("says when the step ends and what happens then, and which actions apply in each state", () => {
    const release = running();
    expect(timingText(release, T0 + 300_000 - 65_000)).toBe("Step ends in 1 m 05 s (to 25 % if it holds)");
    expect(timingText({ ...release, stepIndex: 2, judgeAt: T0 + 10_000 }, T0)).toBe("Step ends in 10 s (promoted if it holds)");
    expect(timingText({ ...release, state: "paused", pausedBy: "operator", judgeAt: undefined } as LiveRelease, T0)).toMatch(/^Paused by an operator/);
    expect(timingText({ ...release, state: "rolled-back", weight: 0 }, T0)).toBe("Rolled back");
    expect([...allowedActions(release)].sort()).toEqual(["abort", "pause", "promote"]);
    expect([...allowedActions({ ...release, state: "paused" })].sort()).toEqual(["abort", "promote", "resume"]);
    expect(allowedActions({ ...release, state: "aborted" }).size).toBe(0);
  });

  it("orders active releases first, then rollbacks, then the rest, the newest change first", () => {
    const at = (t: number) => [{ at: t, kind: "started", to: "running", stepIndex: 0, weight: 5, actor: "a", detail: "" }];
    const releases = new Map<string, Partial<LiveRelease>>([
      ["promoted-svc", { state: "promoted", history: at(5) } as Partial<LiveRelease>],
      ["rolled-svc", { state: "rolled-back", history: at(4) } as Partial<LiveRelease>],
      ["paused-svc", { state: "paused", history: at(1) } as Partial<LiveRelease>],
      ["running-svc", { state: "running", history: at(2) } as Partial<LiveRelease>],
    ]);
    expect(orderedReleases(releases).map(([name]: [string]) => name)).toEqual(["running-svc", "paused-svc", "rolled-svc", "promoted-svc"]);
  });
});
