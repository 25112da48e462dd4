/**
 * Progressive delivery (issue #20) against the real Worker and the global
 * registry, with real traffic through the edge to the loopback upstream:
 * - a release whose canary holds up reaches 100 % on its own (promoted), and
 *   versions show in /health/workers, /metrics and Prometheus;
 * - a canary answering 503s is rolled back within one step interval, the
 *   CanaryRolledBack alert reaches the Slack and Discord receivers, and the
 *   audit log shows each transition;
 * - the API's validation and its refusals.
 *
 * The canary's steps are 25 % and 50 %: whether the edge splits by weight or
 * leaves it to the service's strategy, it gets enough requests to be judged.
 */
import { runDurableObjectAlarm, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { AuditEntry, ReleaseView } from "../../src/contracts/registry";
import { metricsStub, registryStub } from "../../src/platform/stubs";
import { controlUpstream, sleep } from "./helpers";
import { TEST_KEYS } from "./test-keys";

const ADMIN = "test-admin-key-0123456789";
const REGISTRATION = "test-registration-token";
const port = inject("upstreamPort");
let nextIp = 0;
/** A client address of its own per request: the admin class allows 10 a minute per address. */
const ip = () => {
  nextIp++;
  return `198.18.${120 + Math.floor(nextIp / 250)}.${(nextIp % 250) + 1}`;
};
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

function call(method: string, path: string, key: string | null = ADMIN, body?: unknown): Promise<Response> {
  return SELF.fetch(`https://orchestrator.test${path}`, {
    method,
    headers: { "cf-connecting-ip": ip(), ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function jsonOf<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`expected ${status}, got ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** A fresh service on the loopback upstream: two stable instances (v1) and one canary (v2), registered through the API. */
async function fleet(canaryMode = "ok") {
  const service = unique("rel");
  const names = { stable: [unique("rs"), unique("rs")], canary: unique("rc") };
  const ids: Record<string, string> = {};
  for (const [name, version, mode] of [[names.stable[0], "v1", "ok"], [names.stable[1], "v1", "ok"], [names.canary, "v2", canaryMode]] as const) {
    await controlUpstream(name as string, mode);
    // The stable ones say their version in metadata, the canary in its own field: both are read.
    const body = version === "v1" ? { metadata: { version } } : { version };
    const registered = await jsonOf<{ id: string }>(await call("POST", "/registry/instances", REGISTRATION, { service, url: `http://127.0.0.1:${port}/i/${name as string}`, ttlSeconds: 3600, ...body }), 201);
    ids[name as string] = registered.id;
  }
  return { service, names, ids };
}

/** Requests through the edge, so isolates report their outcomes to the registry. */
async function traffic(service: string, requests: number): Promise<void> {
  await Promise.all(Array.from({ length: requests }, async (_, i) => (await SELF.fetch(`https://orchestrator.test/${service}/r/${i}`, { headers: { "cf-connecting-ip": ip() } })).arrayBuffer()));
}

/** Drives traffic and the registry's alarm (the controller) until the release satisfies `done`. */
async function driveUntil(service: string, id: string, done: (release: ReleaseView) => boolean, timeoutMs: number): Promise<ReleaseView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const release = await jsonOf<ReleaseView>(await call("GET", `/admin/services/${service}/releases/${id}`, TEST_KEYS.viewer), 200);
    if (done(release)) return release;
    if (Date.now() > deadline) throw new Error(`release not done within ${timeoutMs} ms: ${JSON.stringify({ state: release.state, analysis: release.analysis, history: release.history })}`);
    await traffic(service, 6);
    await sleep(250);
    await runDurableObjectAlarm(registryStub(env));
  }
}

interface Received {
  at: number;
  body: string;
  status: number;
}

async function receiver(name: string): Promise<Received[]> {
  return ((await (await fetch(`http://127.0.0.1:${port}/control/${name}`)).json()) as { received: Received[] }).received;
}

/** Runs MetricsDO's loop (rule evaluation and delivery) until a receiver has a CanaryRolledBack notification for the service. */
async function notified(name: string, service: string, timeoutMs = 10_000): Promise<Received> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await receiver(name)).find((r) => r.body.includes(`CanaryRolledBack ${service}`) && r.status === 200);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no CanaryRolledBack for ${service} at ${name} within ${timeoutMs} ms`);
    await sleep(150);
    await runDurableObjectAlarm(metricsStub(env));
  }
}

const releaseBody = (over: Record<string, unknown> = {}) => ({ version: "v2", steps: [50, 100], stepIntervalSeconds: 5, analysis: { minRequests: 5, maxErrorRatePercent: 10 }, ...over });

describe("releases", () => {
  it("a healthy canary walks 50 → 100 on its own and is promoted; versions show in health and metrics", async () => {
    const { service, names, ids } = await fleet();
    const started = await jsonOf<ReleaseView>(await call("POST", `/admin/services/${service}/releases`, ADMIN, releaseBody()), 201);
    expect(started).toMatchObject({ service, version: "v2", state: "running", stepIndex: 0, weightPercent: 50, routedWeightPercent: 50, dryRun: false });
    expect(started.history.map((t) => t.kind)).toEqual(["started"]);

    const promoted = await driveUntil(service, started.id, (r) => r.state !== "running", 20_000);
    expect(promoted.state).toBe("promoted");
    expect(promoted.history.map((t) => [t.kind, t.weightPercent, t.actor])).toEqual([
      ["started", 50, expect.stringMatching(/^key:/) as string],
      ["promoted", 100, "release-controller"],
    ]);
    expect(promoted.routedWeightPercent).toBe(100);
    expect(promoted.analysis?.verdict).toBe("pass");
    expect(promoted.analysis?.canary.requests).toBeGreaterThanOrEqual(5);
    // Judged at the end of the step, not before.
    expect(Date.parse(promoted.endedAt as string) - Date.parse(started.createdAt)).toBeGreaterThanOrEqual(5_000);

    const listed = await jsonOf<{ service: string; releases: ReleaseView[] }>(await call("GET", `/admin/services/${service}/releases`, TEST_KEYS.viewer), 200);
    expect(listed.releases.map((r) => r.id)).toEqual([started.id]);

    const health = await jsonOf<{ workers: Record<string, { versions: Record<string, { totalInstances: number }>; instances: { id: string; version: string | null }[] }> }>(await call("GET", "/health/workers", null), 200);
    expect(health.workers[service]?.versions).toEqual({ v1: { totalInstances: 2, healthyInstances: expect.any(Number) as number }, v2: { totalInstances: 1, healthyInstances: expect.any(Number) as number } });
    expect(health.workers[service]?.instances.find((i) => i.id === ids[names.canary])?.version).toBe("v2");
    const metrics = await jsonOf<{ workers: Record<string, { versions: Record<string, { instances: number; totalRequests: number }> }> }>(await call("GET", `/metrics/worker/${service}`, null), 200);
    expect(metrics.workers[service]?.versions.v2?.instances).toBe(1);
    const prometheus = await (await call("GET", `/metrics/worker/${service}?format=prometheus`, null)).text();
    expect(prometheus).toContain(`instance="${ids[names.canary] as string}",version="v2"`);
  });

  it("a canary answering 503s is rolled back within one step interval, alerts reach Slack and Discord, and the audit log shows each transition", async () => {
    const { service } = await fleet("error");
    const started = await jsonOf<ReleaseView>(await call("POST", `/admin/services/${service}/releases`, ADMIN, releaseBody({ steps: [25, 50, 100] })), 201);
    const rolledBack = await driveUntil(service, started.id, (r) => r.state !== "running", 15_000);
    expect(rolledBack.state).toBe("rolled-back");
    expect(rolledBack.weightPercent).toBe(0);
    expect(rolledBack.routedWeightPercent).toBe(0);
    // Before the first step could even end: the threshold was crossed within it.
    expect(Date.parse(rolledBack.endedAt as string) - Date.parse(started.createdAt)).toBeLessThan(5_000);
    expect(rolledBack.analysis).toMatchObject({ verdict: "fail", checks: [{ threshold: "maxErrorRatePercent", result: "fail" }] });
    const last = rolledBack.history[rolledBack.history.length - 1];
    expect(last).toMatchObject({ kind: "rolled-back", from: "running", to: "rolled-back", weightPercent: 0, actor: "release-controller" });
    expect(last?.detail).toMatch(/step 1 of 3 \(25%\): threshold crossed: error rate \d+(\.\d+)?% > 10%/);

    // Nothing more happens to it: operators cannot act on it any more.
    const refused = await jsonOf<{ type: string }>(await call("POST", `/admin/services/${service}/releases/${started.id}/promote`, TEST_KEYS.operator), 409);
    expect(refused.type).toBe("urn:orchestrator:problem:conflict");

    for (const name of ["slack-receiver", "discord-receiver"]) {
      const body = (await notified(name, service)).body;
      expect(body).toContain("v2");
      // Discord's markup escapes the brackets: the step is checked without them.
      expect(body).toContain("step 1 of 3");
      expect(body).toContain("25%");
      expect(body).toMatch(/error rate \d+(\.\d+)?%/);
    }

    const audit = await jsonOf<{ entries: AuditEntry[] }>(await call("GET", "/admin/audit?limit=500", TEST_KEYS.viewer), 200);
    const ours = audit.entries.filter((e) => e.target === `${service}/${started.id}`).reverse();
    expect(ours.map((e) => [e.action, e.status, e.actor])).toEqual([
      ["release.start", 201, expect.stringMatching(/^key:/) as string],
      ["release.rollback", 200, "release-controller"],
      ["release.promote", 409, expect.stringMatching(/^key:/) as string],
    ]);
    expect(ours[0]?.role).toBe("admin");
    expect(ours[1]).toMatchObject({ role: null, requestId: null });
    expect(ours[1]?.detail).toMatch(/running → rolled-back, 0%: step 1 of 3/);
  });

  it("operators pause, resume and abort; each transition answers with the release and is audited", async () => {
    const { service } = await fleet();
    const started = await jsonOf<ReleaseView>(await call("POST", `/admin/services/${service}/releases`, ADMIN, releaseBody({ stepIntervalSeconds: 3600, dryRun: true })), 201);
    expect(started.routedWeightPercent).toBeNull();
    const path = `/admin/services/${service}/releases/${started.id}`;
    expect((await jsonOf<ReleaseView>(await call("POST", `${path}/pause`, TEST_KEYS.operator), 200)).state).toBe("paused");
    await jsonOf(await call("POST", `${path}/pause`, TEST_KEYS.operator), 409);
    expect((await jsonOf<ReleaseView>(await call("POST", `${path}/resume`, TEST_KEYS.operator), 200)).state).toBe("running");
    await jsonOf(await call("POST", `${path}/resume`, TEST_KEYS.operator), 409);
    const aborted = await jsonOf<ReleaseView>(await call("POST", `${path}/abort`, TEST_KEYS.operator), 200);
    expect(aborted.history.map((t) => [t.kind, t.detail.startsWith("dry run: ")])).toEqual([
      ["started", true],
      ["paused", true],
      ["resumed", true],
      ["aborted", true],
    ]);
    await jsonOf(await call("POST", `${path}/abort`, TEST_KEYS.viewer), 403);
    const audit = await jsonOf<{ entries: AuditEntry[] }>(await call("GET", "/admin/audit?limit=500", TEST_KEYS.viewer), 200);
    const actions = audit.entries.filter((e) => e.target === `${service}/${started.id}`).reverse().map((e) => `${e.action}:${e.status}`);
    expect(actions).toEqual(["release.start:201", "release.pause:200", "release.pause:409", "release.resume:200", "release.resume:409", "release.abort:200"]);
  });

  it("refuses bad specs naming the field, conflicts with 409, and unknown services and releases with 404", async () => {
    const { service } = await fleet();
    const releases = `/admin/services/${service}/releases`;
    const cases: [unknown, string][] = [
      [releaseBody({ steps: [50, 40, 100] }), "steps.1"],
      [releaseBody({ steps: [25, 50] }), "steps.1"],
      [releaseBody({ analysis: { minRequests: 5 } }), "analysis"],
      [releaseBody({ version: "v 2" }), "version"],
      [releaseBody({ stepIntervalSeconds: 1 }), "stepIntervalSeconds"],
      [releaseBody({ mirrorPercent: 150 }), "mirrorPercent"],
      [releaseBody({ stickiness: { source: "query" } }), "stickiness.source"],
      [releaseBody({ surprise: true }), "surprise"],
    ];
    for (const [body, field] of cases) {
      const problem = await jsonOf<{ type: string; field: string }>(await call("POST", releases, ADMIN, body), 400);
      expect(problem, JSON.stringify(body)).toMatchObject({ type: "urn:orchestrator:problem:validation", field });
    }
    await jsonOf(await call("POST", releases, TEST_KEYS.operator, releaseBody()), 403);
    const noCanary = await jsonOf<{ field: string; detail: string }>(await call("POST", releases, ADMIN, releaseBody({ version: "v9" })), 409);
    expect(noCanary.field).toBe("version");
    // Any version may be the canary (here the old one, against v2): then one release at a time.
    expect((await jsonOf<ReleaseView>(await call("POST", releases, ADMIN, releaseBody({ version: "v1", stepIntervalSeconds: 3600 })), 201)).version).toBe("v1");
    const busy = await jsonOf<{ detail: string }>(await call("POST", releases, ADMIN, releaseBody()), 409);
    expect(busy.detail).toMatch(/running release already/);
    await jsonOf(await call("POST", `/admin/services/${unique("rel-none")}/releases`, ADMIN, releaseBody()), 404);
    await jsonOf(await call("GET", `${releases}/${crypto.randomUUID()}`, ADMIN), 404);
    await jsonOf(await call("GET", `${releases}/not_an_id!`, ADMIN), 404);

    // Versions at registration: checked, whether in their own field or in the metadata.
    const url = `http://127.0.0.1:${port}/i/${unique("rv")}`;
    expect((await jsonOf<{ field: string }>(await call("POST", "/registry/instances", REGISTRATION, { service, url, version: "v/2" }), 400)).field).toBe("version");
    expect((await jsonOf<{ field: string }>(await call("POST", "/registry/instances", REGISTRATION, { service, url, metadata: { version: "build 42" } }), 400)).field).toBe("metadata.version");
  });
});
