/**
 * The live dashboard's delta protocol (src/core/dashboard/delta.ts) and the
 * page's copy of it (dashboard/public/live-state.js): whatever sequence of
 * views the server pushes, applying its deltas to its first snapshot, after a
 * trip through JSON as on the wire, gives the latest view, on both sides; a
 * missed delta is a gap the page notices; and a delta carries only what changed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type LiveDelta, advanceFeed, applyDelta, snapshotOf, startFeed } from "../../src/core/dashboard/delta";
import type { LiveAlert, LiveInstance, LiveRelease, LiveService, LiveView } from "../../src/core/dashboard/live-view";
import { setOwn } from "../../src/core/metrics/own";
// The page's module: plain browser JavaScript, no DOM.
import { applyMessage, createLiveState, toWire } from "../../dashboard/public/live-state.js";

/** Keys a client chose, prototype members included: they must behave like any other key. */
const KEYS = ["api", "banking", "svc-07", "__proto__", "constructor", "toString"];

const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function recordOf<T>(entries: readonly (readonly [string, T])[]): Record<string, T> {
  const record: Record<string, T> = {};
  for (const [key, value] of entries) setOwn(record, key, value);
  return record;
}

const keyedArb = <T>(entry: (key: string) => fc.Arbitrary<T>): fc.Arbitrary<Record<string, T>> =>
  fc.subarray(KEYS).chain((keys) => fc.tuple(...keys.map((key) => entry(key).map((value) => [key, value] as const))).map((entries) => recordOf(entries)));

const statsArb = fc.record({
  requests: fc.integer({ min: 0, max: 3 }),
  rps: fc.constantFrom(0, 1.5),
  errorRate: fc.constantFrom(0, 2.5),
  recent: fc.record({ errorRate: fc.constantFrom(0, 1), p50: fc.constantFrom(null, 3), p95: fc.constantFrom(null, 9), p99: fc.constantFrom(null, 12) }),
});

const serviceArb = (_name: string): fc.Arbitrary<LiveService> =>
  fc
    .record({
      stats: statsArb,
      status: fc.constantFrom("healthy" as const, "unhealthy" as const, "stopped" as const),
      inflight: fc.integer({ min: 0, max: 2 }),
      panic: fc.boolean(),
    })
    .map(({ stats, status, inflight, panic }) => ({
      ...stats,
      status,
      admin: status === "stopped" ? ("stopped" as const) : ("active" as const),
      strategy: "round-robin",
      inflight,
      ...(panic ? { panic: true as const } : {}),
    }));

const instanceArb = (id: string): fc.Arbitrary<LiveInstance> =>
  fc
    .record({
      health: fc.constantFrom("healthy" as const, "degraded" as const, "unhealthy" as const),
      admin: fc.constantFrom("active", "stopped"),
      inflight: fc.integer({ min: 0, max: 2 }),
      error: fc.constantFrom(undefined, "HTTP 503", { class: "dns", message: "no such host", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" }),
      version: fc.constantFrom(undefined, "v1", "v2"),
    })
    .map(({ health, admin, inflight, error, version }) => ({
      service: "api",
      target: `http://127.0.0.1:9/${id}`,
      health,
      ...(admin === "stopped" ? { admin } : {}),
      ...(inflight > 0 ? { inflight } : {}),
      ...(error !== undefined ? { error } : {}),
      ...(version !== undefined ? { version } : {}),
    }));

const alertArb = (fingerprint: string): fc.Arbitrary<LiveAlert> =>
  fc.record({ state: fc.constantFrom("active" as const, "suppressed" as const), summary: fc.constantFrom("down", "still down") }).map(({ state, summary }) => ({
    state,
    name: "InstanceUnhealthy",
    service: "api",
    instance: fingerprint,
    summary,
    startsAt: 1,
  }));

const sideArb = fc.record({ requests: fc.integer({ min: 0, max: 40 }), failures: fc.integer({ min: 0, max: 3 }), errorRatePercent: fc.constantFrom(null, 0, 7.5), p95Ms: fc.constantFrom(null, 31, 812.5) });

/** A release in any state, its numbers moving as they do while it runs. */
const releaseArb = (_service: string): fc.Arbitrary<LiveRelease> =>
  fc
    .record({
      id: fc.constantFrom("r1", "r2"),
      state: fc.constantFrom("running" as const, "paused" as const, "promoted" as const, "rolled-back" as const, "aborted" as const),
      stepIndex: fc.integer({ min: 0, max: 3 }),
      dryRun: fc.boolean(),
      analysis: fc.option(
        fc.record({
          verdict: fc.constantFrom("pending" as const, "fail" as const, "pass" as const, "inconclusive" as const),
          canary: sideArb,
          stable: sideArb,
          result: fc.constantFrom("pass" as const, "fail" as const, "unjudged" as const),
        }),
        { nil: undefined },
      ),
      transitions: fc.integer({ min: 1, max: 3 }),
    })
    .map(({ id, state, stepIndex, dryRun, analysis, transitions }) => {
      const steps = [5, 25, 50, 100];
      const weight = state === "promoted" ? 100 : state === "rolled-back" || state === "aborted" ? 0 : (steps[stepIndex] as number);
      return {
        id,
        version: "v2",
        state,
        ...(dryRun ? { dryRun: true as const } : {}),
        ...(state === "paused" ? { pausedBy: "operator" as const } : {}),
        stepIndex,
        steps,
        stepSeconds: 300,
        weight,
        stepStartedAt: 1_000,
        ...(state === "running" ? { judgeAt: 301_000 } : {}),
        ...(state !== "running" && state !== "paused" ? { endedAt: 2_000 } : {}),
        thresholds: { minRequests: 20, maxErrorRatePercent: 2, maxP95VsStable: 1.5, errorRateAllowancePercent: 1, p95AllowanceMs: 10 },
        ...(analysis === undefined
          ? {}
          : {
              analysis: {
                verdict: analysis.verdict,
                windowStartedAt: 1_000,
                canary: analysis.canary,
                stable: analysis.stable,
                checks: [{ threshold: "maxErrorRatePercent" as const, limit: 2, observed: analysis.canary.errorRatePercent, result: analysis.result }],
                ...(analysis.verdict !== "pending" ? { reason: "threshold crossed: error rate 7.5% > 2%" } : {}),
              },
            }),
        history: Array.from({ length: transitions }, (_, i) => ({ at: 2_000 - i, kind: "started" as const, to: "running" as const, stepIndex: 0, weight: 5, actor: "key:2def41e79737", detail: "v2 at 5%" })),
        transitions,
      };
    });

const viewArb: fc.Arbitrary<LiveView> = fc.record({
  environment: fc.constantFrom("development", "staging"),
  global: statsArb.chain((stats) => fc.record({ inflight: fc.integer({ min: 0, max: 2 }) }).map(({ inflight }) => ({ ...stats, inflight, websockets: 0 }))),
  loop: fc.record({
    lastSweepAt: fc.constantFrom(null, 1, 2),
    probed: fc.constant(3),
    shards: fc.constant(1),
    vantagePoints: fc.constant(["local"]),
    discounted: fc.constant([]),
    sweepFailures: fc.constant(0),
    alertFailures: fc.constant(0),
  }),
  services: keyedArb(serviceArb),
  instances: keyedArb(instanceArb),
  alerts: keyedArb(alertArb),
  releases: keyedArb(releaseArb),
  history: fc.record({ entries: fc.constant([]), total: fc.integer({ min: 0, max: 2 }), dropped: fc.constant(0) }),
  autoscaling: fc.constantFrom([], [{ service: "api", current: 2, standby: 1, policy: { mode: "enforce", min: 1, max: 3 }, decisions: [] }]),
});

describe("dashboard deltas (property)", () => {
  it("applying every delta to the first snapshot yields the latest view, on the server's applier and the page's", () => {
    fc.assert(
      fc.property(viewArb, fc.array(viewArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 2 ** 40 }), (first, rest, seed) => {
        let feed = startFeed(first, 1_000, seed);
        const snapshot = wire(snapshotOf(feed));
        let applied = snapshot.view;
        const page = createLiveState();
        expect(applyMessage(page, snapshot).kind).toBe("snapshot");
        rest.forEach((view, i) => {
          const next = advanceFeed(feed, view, 2_000 + i);
          feed = next.feed;
          const delta = wire(next.delta);
          expect(delta.to).toBe(delta.from + 1);
          applied = applyDelta(applied, delta);
          expect(applied).toEqual(wire(view));
          expect(applyMessage(page, delta).kind).toBe("delta");
          expect(toWire(page.view)).toEqual(wire(view));
          expect(page.version).toBe(feed.version);
        });
        // Prototype names stayed keys: nothing leaked onto Object.prototype.
        expect(({} as Record<string, unknown>).api).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it("a delta names exactly the keys that changed or went away", () => {
    fc.assert(
      fc.property(viewArb, viewArb, (a, b) => {
        const { delta } = advanceFeed(startFeed(a, 1, 1), b, 2);
        for (const section of ["services", "instances", "alerts", "releases"] as const) {
          const before = a[section] as Readonly<Record<string, unknown>>;
          const after = b[section] as Readonly<Record<string, unknown>>;
          const put = Object.keys(delta.put?.[section] ?? {}).sort();
          const expected = Object.keys(after)
            .filter((key) => !Object.hasOwn(before, key) || JSON.stringify(before[key]) !== JSON.stringify(after[key]))
            .sort();
          expect(put).toEqual(expected);
          expect([...(delta.del?.[section] ?? [])].sort()).toEqual(Object.keys(before).filter((key) => !Object.hasOwn(after, key)).sort());
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the page sees a gap when a delta is missed, and takes a snapshot again", () => {
    fc.assert(
      fc.property(viewArb, viewArb, viewArb, (a, b, c) => {
        const start = startFeed(a, 1, 10);
        const one = advanceFeed(start, b, 2);
        const two = advanceFeed(one.feed, c, 3);
        const page = createLiveState();
        expect(applyMessage(page, wire(two.delta)).kind).toBe("gap"); // nothing to apply it to
        applyMessage(page, wire(snapshotOf(start)));
        expect(applyMessage(page, wire(two.delta)).kind).toBe("gap"); // skipped version 11
        expect(page.version).toBe(10);
        expect(applyMessage(page, wire(snapshotOf(two.feed))).kind).toBe("snapshot");
        expect(toWire(page.view)).toEqual(wire(c));
      }),
      { numRuns: 100 },
    );
  });
});

describe("dashboard deltas", () => {
  /** 500 instances in 25 services, as in issue #19's trial. */
  function fleet(): LiveView {
    const services: Record<string, LiveService> = {};
    const instances: Record<string, LiveInstance> = {};
    for (let s = 0; s < 25; s++) {
      const name = `svc-${String(s).padStart(2, "0")}`;
      services[name] = { status: "healthy", admin: "active", strategy: "round-robin", inflight: 0, requests: 10, rps: 1, errorRate: 0, recent: { errorRate: 0, p50: 3, p95: 9, p99: 12 } };
      for (let i = 0; i < 20; i++) {
        const id = crypto.randomUUID();
        instances[id] = { service: name, target: `http://127.0.0.1:4000/${name}/i-${i}`, health: "healthy", check: "pass" };
      }
    }
    return {
      environment: "development",
      global: { requests: 250, rps: 25, errorRate: 0, recent: { errorRate: 0, p50: 3, p95: 9, p99: 12 }, inflight: 0, websockets: 0 },
      loop: { lastSweepAt: 1, probed: 500, shards: 1, vantagePoints: ["local"], discounted: [], sweepFailures: 0, alertFailures: 0 },
      services,
      instances,
      alerts: {},
      releases: {},
      history: { entries: [], total: 0, dropped: 0 },
      autoscaling: [],
    };
  }

  it("one instance stopped among 500: the delta carries that instance and nothing else", () => {
    const view = fleet();
    const feed = startFeed(view, 1, 1);
    const id = Object.keys(view.instances)[123] as string;
    const next: LiveView = { ...view, instances: { ...view.instances, [id]: { ...(view.instances[id] as LiveInstance), admin: "stopped" } } };
    // The snapshot: about 150 bytes an instance, a random UUID for its key included (the full state has about 700).
    const { delta } = advanceFeed(feed, next, 2);
    expect(Object.keys(delta.put?.instances ?? {})).toEqual([id]);
    expect(delta.put?.services).toBeUndefined();
    expect(delta.set).toBeUndefined();
    expect(delta.del).toBeUndefined();
    expect(JSON.stringify(delta).length).toBeLessThan(400);
    expect(JSON.stringify(snapshotOf(feed)).length).toBeLessThan(80_000);
  });

  it("an unchanged view is a heartbeat: a version and a time, nothing else", () => {
    const view = fleet();
    const { delta, feed } = advanceFeed(startFeed(view, 1, 41), wire(view), 2);
    expect(delta).toEqual({ type: "delta", from: 41, to: 42, at: 2 } satisfies LiveDelta);
    expect(feed.version).toBe(42);
  });

  it("a service and its instances that go away are deleted by key", () => {
    const view = fleet();
    const gone = Object.entries(view.instances)
      .filter(([, i]) => i.service === "svc-03")
      .map(([id]) => id);
    const services = { ...view.services };
    delete services["svc-03"];
    const instances = { ...view.instances };
    for (const id of gone) delete instances[id];
    const { delta } = advanceFeed(startFeed(view, 1, 1), { ...view, services, instances }, 2);
    expect(delta.del).toEqual({ services: ["svc-03"], instances: gone });
    expect(delta.put).toBeUndefined();
  });
});
