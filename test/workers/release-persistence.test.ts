/**
 * A restarted RegistryDO keeps its releases and its instances' versions
 * (SQLite), and its release controller carries on: a running step starts
 * over with a fresh window (the window was in memory), a final release
 * stays final and keeps its weight in the routing table.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { REGISTRY_MIGRATIONS } from "../../durable-objects/registry/schema";
import { RegistryDO } from "../../src/index";
import { freshRegistry, registerOk, urlInstance } from "./helpers";

const requester = { actor: "key:0123456789ab", role: "admin" as const, requestId: "req-persist-1" };
const spec = { version: "v2", steps: [20, 100], stepIntervalSeconds: 60, analysis: { maxErrorRatePercent: 5 } };

describe("release persistence", () => {
  it("keeps releases, their history and the instances' versions across eviction; a running step restarts its window", async () => {
    const registry = freshRegistry();
    await registerOk(registry, urlInstance("banking", 9101, { version: "v1" }));
    await registerOk(registry, urlInstance("banking", 9102, { metadata: { version: "v2" } }));
    const first = await registry.startRelease("banking", spec, requester);
    if (!first.ok) throw new Error(JSON.stringify(first.problem));
    const aborted = await registry.actOnRelease("banking", first.release.id, "abort", requester);
    expect(aborted.ok).toBe(true);
    const second = await registry.startRelease("banking", { ...spec, steps: [10, 50, 100] }, requester);
    if (!second.ok) throw new Error(JSON.stringify(second.problem));
    const before = await registry.listReleases("banking");
    if (!before.ok) throw new Error("no releases");

    const after = await runInDurableObject(registry, async (_object, state) => {
      const revived = new RegistryDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined);
      return { releases: revived.listReleases("banking"), snapshot: revived.snapshot(), table: revived.edgeSync({ isolateId: "iso", inflight: {}, outcomes: {} }) };
    });
    if (!after.releases.ok) throw new Error("no releases after the restart");
    const stable = (r: (typeof before.releases)[number]) => ({ ...r, stepStartedAt: null, judgeAt: null, analysis: null });
    expect(after.releases.releases.map(stable)).toEqual(before.releases.map(stable));
    expect(after.releases.releases.map((r) => [r.id, r.state, r.history.length])).toEqual([
      [second.release.id, "running", 1],
      [first.release.id, "aborted", 2],
    ]);
    const running = after.releases.releases[0];
    expect(Date.parse(running?.stepStartedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(second.release.stepStartedAt));
    expect(running?.analysis).toMatchObject({ verdict: "pending", canary: { requests: 0 }, stable: { requests: 0 } });
    expect(after.snapshot.services.find((s) => s.name === "banking")?.instances.map((i) => i.version)).toEqual(["v1", "v2"]);
    const route = after.table.services.find((s) => s.service === "banking");
    expect(route?.release).toMatchObject({ id: second.release.id, version: "v2", weightPercent: 10 });
    expect(route?.instances.map((i) => i.version)).toEqual(["v1", "v2"]);
  });

  it("a database made before versions and releases gains them: instances without a version, no releases", async () => {
    const registry = freshRegistry();
    await registerOk(registry, urlInstance("legacy", 9111, { metadata: { zone: "a" } }));
    // Undo this feature's migration (the newest), as a database from before it would be.
    const version = REGISTRY_MIGRATIONS.findIndex((statements) => statements.some((s) => s.includes("CREATE TABLE releases"))) + 1;
    expect(version).toBe(REGISTRY_MIGRATIONS.length);
    const revived = await runInDurableObject(registry, async (_object, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE releases");
      sql.exec("ALTER TABLE instances DROP COLUMN version");
      sql.exec("DELETE FROM schema_migrations WHERE version = ?", version);
      const object = new RegistryDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined);
      return { service: object.service("legacy"), releases: object.listReleases("legacy") };
    });
    expect(revived.service?.instances.map((i) => [i.version, i.metadata])).toEqual([[null, { zone: "a" }]]);
    expect(revived.releases).toEqual({ ok: true, service: "legacy", releases: [] });
  });
});
