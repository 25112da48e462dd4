/**
 * Releases in the registry's decisions (src/core/registry/releases.ts and
 * friends): versions at registration and in configuration, when a release
 * may start, edge outcomes counted on each side of the active release, the
 * controller's round, what the routing table carries in each state, and a
 * restart that keeps the release but starts its window afresh.
 */
import { describe, expect, it } from "vitest";
import { buildFleetTable } from "../../durable-objects/registry/fleet-table";
import { releaseFacts } from "../../durable-objects/registry/release-views";
import { syncDeclaredInstances } from "../../src/core/registry/declared-instances";
import { applyEdgeReport } from "../../src/core/registry/edge-reports";
import type { EdgeOutcome, RegisterInput } from "../../src/core/registry/inputs";
import { registerInstance, removeInstance } from "../../src/core/registry/registration";
import { routedRelease } from "../../src/core/registry/release-routing";
import { actOnRelease, releasesDueAt, restoreReleases, runDueReleases, startRelease } from "../../src/core/registry/releases";
import { emptyRegistry, type RegistryState } from "../../src/core/registry/state";
import { normalizeReleaseSpec, type ReleaseSpec } from "../../src/core/release/spec";
import type { RegistryWrite } from "../../src/core/registry/writes";
import { ANY_URL, REGISTRY_CONFIG as config } from "./support/registry";

const T0 = 1_700_000_000_000;

function register(state: RegistryState, id: string, extra: Partial<RegisterInput> = {}) {
  const port = 9500 + state.nextSeq;
  return registerInstance(state, { service: "banking", target: { kind: "url", url: `http://127.0.0.1:${port}/` }, weight: 1, metadata: {}, ...extra }, id, T0, config, ANY_URL);
}

/** banking with two stable (v1) instances and one canary (v2). */
function fleet(): RegistryState {
  const state = emptyRegistry();
  for (const [id, version] of [["s1", "v1"], ["s2", "v1"], ["c1", "v2"]] as const) expect(register(state, id, { version }).ok).toBe(true);
  return state;
}

function spec(over: Record<string, unknown> = {}): ReleaseSpec {
  const result = normalizeReleaseSpec({ version: "v2", steps: [50, 100], stepIntervalSeconds: 10, analysis: { minRequests: 5, maxErrorRatePercent: 10 }, ...over });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.spec;
}

function report(state: RegistryState, outcomes: Record<string, EdgeOutcome[]>, now: number): void {
  applyEdgeReport(state, { isolateId: "iso-1", inflight: {}, outcomes }, now, config);
}

const ok = (n: number): EdgeOutcome[] => Array.from({ length: n }, () => [200, 20, null] as const);
const failed = (n: number): EdgeOutcome[] => Array.from({ length: n }, () => [503, 5, null] as const);

describe("versions", () => {
  it("an instance declares its version, or its metadata's; an invalid one is refused naming the field", () => {
    const state = emptyRegistry();
    const explicit = register(state, "a", { version: "1.4.0+b7", metadata: { version: "ignored" } });
    expect(explicit.ok && explicit.instance.version).toBe("1.4.0+b7");
    const fromMetadata = register(state, "b", { metadata: { version: "2026-06-01" } });
    expect(fromMetadata.ok && fromMetadata.instance.version).toBe("2026-06-01");
    const none = register(state, "c");
    expect(none.ok && none.instance.version).toBeNull();
    expect(register(state, "d", { version: "v 2" })).toMatchObject({ ok: false, reason: "invalid", field: "version" });
    expect(register(state, "e", { metadata: { version: "build 42" } })).toMatchObject({ ok: false, reason: "invalid", field: "metadata.version" });
  });

  it("declared instances carry their configured version, and a changed one is written", () => {
    const state = emptyRegistry();
    const targets = { ...ANY_URL, isServiceBinding: (name: string) => name === "BANKING" };
    syncDeclaredInstances(state, { seedServices: ["banking"], staticInstances: [{ service: "banking", url: "https://canary.example/", version: "v2" }], seedVersions: { banking: "v1" } }, T0, targets);
    expect([...state.instances.values()].map((i) => [i.target.kind, i.version])).toEqual([["binding", "v1"], ["url", "v2"]]);
    const synced = syncDeclaredInstances(state, { seedServices: ["banking"], staticInstances: [{ service: "banking", url: "https://canary.example/", version: "v3" }], seedVersions: { banking: "v1" } }, T0, targets);
    expect(synced.writes.map((w: RegistryWrite) => w.kind)).toEqual(["instance"]);
    expect([...state.instances.values()].map((i) => i.version)).toEqual(["v1", "v3"]);
  });

  it("the routing table carries each instance's version", () => {
    const table = buildFleetTable(fleet(), 0, T0, config);
    expect(table.services[0]?.instances.map((i) => [i.id, i.version])).toEqual([["s1", "v1"], ["s2", "v1"], ["c1", "v2"]]);
    expect(table.services[0]?.release).toBeNull();
  });
});

describe("starting a release", () => {
  it("needs a known service, an instance in rotation with the version and one without, and no active release", () => {
    const state = fleet();
    expect(startRelease(state, "nothing", spec(), "r0", "key:a", T0)).toMatchObject({ ok: false, reason: "unknown-service" });
    expect(startRelease(state, "banking", spec({ version: "v9" }), "r0", "key:a", T0)).toMatchObject({ ok: false, reason: "release-conflict", field: "version" });
    expect(startRelease(state, "banking", spec({ version: "v1" }), "r0", "key:a", T0)).toMatchObject({ ok: true });
    expect(startRelease(state, "banking", spec(), "r1", "key:a", T0)).toMatchObject({ ok: false, reason: "release-conflict", field: null });
    const onlyCanary = emptyRegistry();
    register(onlyCanary, "c1", { version: "v2" });
    expect(startRelease(onlyCanary, "banking", spec(), "r0", "key:a", T0)).toMatchObject({ ok: false, reason: "release-conflict", detail: expect.stringMatching(/no stable side/) as string });
  });

  it("is written whole and watched: the alarm is due at the first evaluation", () => {
    const state = fleet();
    const started = startRelease(state, "banking", spec(), "r1", "key:a", T0);
    expect(started.ok && started.writes).toEqual([{ kind: "release", release: started.ok ? started.release : null }]);
    expect(releasesDueAt(state)).toBe(T0 + 1_000);
  });
});

describe("the controller's round", () => {
  it("counts edge outcomes on each side and rolls a failing canary back at the next evaluation", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    report(state, { s1: ok(10), s2: ok(10), c1: failed(5) }, T0 + 500);
    const watched = state.releaseWatches.get("banking");
    expect([watched?.window.canary.requests, watched?.window.canary.failures, watched?.window.stable.requests]).toEqual([5, 5, 20]);
    const round = runDueReleases(state, T0 + 1_000);
    expect(round.transitions.map((t) => t.transition.kind)).toEqual(["rolled-back"]);
    expect(round.writes.map((w) => w.kind)).toEqual(["release"]);
    expect(state.releaseWatches.size).toBe(0);
    expect(releasesDueAt(state)).toBeNull();
    expect(routedRelease(state, "banking")).toMatchObject({ weightPercent: 0 });
    expect(buildFleetTable(state, 0, T0, config).services[0]?.release).toEqual({ id: "r1", version: "v2", weightPercent: 0, stickiness: null, pinHeader: null, mirrorPercent: 0 });
  });

  it("a healthy canary is promoted at the end of the step into 100 %, and is routed at 100 while the old version remains", () => {
    const state = fleet();
    startRelease(state, "banking", spec({ pinHeader: "X-Version", mirrorPercent: 10, stickiness: { source: "ip" } }), "r1", "key:a", T0);
    expect(buildFleetTable(state, 0, T0, config).services[0]?.release).toEqual({ id: "r1", version: "v2", weightPercent: 50, stickiness: { source: "ip" }, pinHeader: "x-version", mirrorPercent: 10 });
    report(state, { s1: ok(10), c1: ok(10) }, T0 + 500);
    for (let t = T0 + 1_000; t < T0 + 10_000; t += 1_000) expect(runDueReleases(state, t).transitions).toEqual([]);
    expect(runDueReleases(state, T0 + 10_000).transitions.map((t) => t.transition.kind)).toEqual(["promoted"]);
    expect(routedRelease(state, "banking")?.weightPercent).toBe(100);
    // The old version's instances gone: nothing left to split.
    const writes: RegistryWrite[] = [];
    removeInstance(state, "s1", writes);
    removeInstance(state, "s2", writes);
    expect(routedRelease(state, "banking")).toBeNull();
  });

  it("rolls back a release whose canary instances are all gone", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    removeInstance(state, "c1", []);
    const round = runDueReleases(state, T0 + 1_000);
    expect(round.transitions[0]?.transition).toMatchObject({ kind: "rolled-back", detail: "no instance of version v2 is left in banking" });
    expect(routedRelease(state, "banking")).toBeNull();
  });

  it("a dry run is never routed, and raises no alert facts", () => {
    const state = fleet();
    startRelease(state, "banking", spec({ dryRun: true }), "r1", "key:a", T0);
    expect(routedRelease(state, "banking")).toBeNull();
    report(state, { c1: failed(5) }, T0 + 100);
    expect(runDueReleases(state, T0 + 1_000).transitions[0]?.transition.detail).toMatch(/^dry run: /);
    expect(releaseFacts(state, T0 + 1_000)).toEqual([]);
  });

  it("operator actions go through the registry and refuse unknown releases", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    expect(actOnRelease(state, "banking", "nope", "abort", "key:o", T0)).toMatchObject({ ok: false, reason: "unknown-release" });
    expect(actOnRelease(state, "banking", "r1", "abort", "key:o", T0 + 1)).toMatchObject({ ok: true, transition: { kind: "aborted", actor: "key:o" } });
    expect(state.releaseWatches.size).toBe(0);
    expect(actOnRelease(state, "banking", "r1", "resume", "key:o", T0 + 2)).toMatchObject({ ok: false, reason: "release-conflict" });
    expect(routedRelease(state, "banking")?.weightPercent).toBe(0);
    // A new release replaces the old one in the table.
    startRelease(state, "banking", spec({ steps: [10, 100] }), "r2", "key:a", T0 + 3);
    expect(routedRelease(state, "banking")).toMatchObject({ release: { id: "r2" }, weightPercent: 10 });
  });

  it("after a restart the release is back, its running step starting over with an empty window", () => {
    const before = fleet();
    const started = startRelease(before, "banking", spec(), "r1", "key:a", T0);
    if (!started.ok) throw new Error("not started");
    const after = fleet();
    restoreReleases(after, [JSON.parse(JSON.stringify(started.release)) as typeof started.release], T0 + 60_000);
    const watched = after.releaseWatches.get("banking");
    expect(watched?.window.startedAt).toBe(T0 + 60_000);
    expect(watched?.window.canary.requests).toBe(0);
    expect(after.releases.get("banking")?.[0]).toMatchObject({ id: "r1", state: "running", stepStartedAt: T0 + 60_000, judgeAt: T0 + 70_000 });
  });
});

describe("release alert facts", () => {
  it("rollbacks and promotions within the window, and releases the controller paused", () => {
    const state = fleet();
    startRelease(state, "banking", spec(), "r1", "key:a", T0);
    report(state, { c1: failed(5) }, T0 + 100);
    runDueReleases(state, T0 + 1_000);
    const facts = releaseFacts(state, T0 + 2_000);
    expect(facts).toEqual([
      { service: "banking", version: "v2", releaseId: "r1", state: "rolled-back", at: T0 + 1_000, stepIndex: 0, steps: [50, 100], actor: "release-controller", detail: expect.stringMatching(/error rate 100% > 10%/) as string },
    ]);
    expect(releaseFacts(state, T0 + 1_000 + 16 * 60_000)).toEqual([]);
  });
});
