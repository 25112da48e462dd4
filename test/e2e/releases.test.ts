/**
 * Progressive delivery (issue #20) end to end: real traffic through a running
 * orchestrator to loopback upstreams of two versions, counted where it lands.
 *
 * - a healthy canary follows its steps (20 → 50 → 100 %) within a tolerance,
 *   a sticky client only ever moves from stable to canary, and the release is
 *   promoted on its own; then v1 gets nothing;
 * - a canary that starts answering 500 in its second step is rolled back
 *   within one step interval; after that no request, and no mirrored copy,
 *   reaches it; the audit log has every transition;
 * - the pin header reaches the version it names at weight 5 and at weight 0,
 *   and a version that does not exist is a 400 naming the header;
 * - mirroring never changes what the client gets, whether the canary's copy
 *   is answered, fails, hangs past the service timeout or is refused, and
 *   POST/PUT are never copied.
 *
 * Timing: the edge reports outcomes every EDGE_REPORT_INTERVAL_MS (5 s here, the
 * default; failures at once) and routes by a new weight within its soft TTL
 * (1 s), so a step's share is counted from SETTLE_MS after the step began, and
 * steps last 15 s (what the docs promise a rollback within one step for). The
 * four tests run at once, each on a service of its own: the promotion's two
 * steps are the file's length.
 */
import { describe, expect, it } from "vitest";
import type { AuditEntry, ReleaseView } from "../../src/contracts/registry";
import { stickyBucket } from "../../src/core/balancer/version-split";
import { adminAuth, type Echo, eventually, Fleet, gateway, putServiceSettings, readProblem, type Upstream, uniqueService } from "./upstreams";

const STEP_SECONDS = 15;
/** How long after a transition the edge is sure to route by it (soft TTL 1 s, plus a sync). */
const SETTLE_MS = 2_000;
const FINAL = new Set(["promoted", "rolled-back", "aborted"]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Hit {
  readonly key: string | null;
  readonly sentAt: number;
  readonly doneAt: number;
  /** 0: no HTTP answer (a transport error). */
  readonly status: number;
  /** The upstream that answered (x-upstream-name), or null: the orchestrator did. */
  readonly upstream: string | null;
  readonly text: string;
}

async function hit(path: string, headers: Record<string, string> = {}, method = "GET", body?: string): Promise<Hit> {
  const sentAt = Date.now();
  try {
    const response = await fetch(gateway(path), { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    return { key: headers["x-user-id"] ?? null, sentAt, doneAt: Date.now(), status: response.status, upstream: response.headers.get("x-upstream-name"), text };
  } catch (error) {
    return { key: headers["x-user-id"] ?? null, sentAt, doneAt: Date.now(), status: 0, upstream: null, text: String(error) };
  }
}

/** Runs `loops` request loops, each sending its next request once the last is answered, until `done()`. */
async function loopUntil(done: () => boolean, loops: number, send: (loop: number, n: number) => Promise<unknown>, pauseMs = 0): Promise<void> {
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      for (let n = 0; !done(); n++) {
        await send(loop, n);
        if (pauseMs > 0) await sleep(pauseMs);
      }
    }),
  );
}

async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(gateway(path), {
    method,
    headers: { ...adminAuth(), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function expectJson<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`${response.url}: expected ${status}, got ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

const startRelease = async (service: string, spec: Record<string, unknown>) => expectJson<ReleaseView>(await admin("POST", `/admin/services/${service}/releases`, spec), 201);
const getRelease = async (service: string, id: string) => expectJson<ReleaseView>(await admin("GET", `/admin/services/${service}/releases/${id}`), 200);
const releaseAction = async (service: string, id: string, action: string) => expectJson<ReleaseView>(await admin("POST", `/admin/services/${service}/releases/${id}/${action}`), 200);

/** Polls the release until `done` holds (every 200 ms), for at most `timeoutMs`. */
function watchRelease(service: string, id: string, done: (release: ReleaseView) => boolean, timeoutMs: number): Promise<ReleaseView> {
  return eventually(async () => {
    const release = await getRelease(service, id);
    return done(release) ? release : undefined;
  }, timeoutMs, 200);
}

/** Requests an upstream received on the paths the tests send (not the orchestrator's health probes). */
const trafficTo = (upstream: Upstream, prefix = "/r/") => upstream.received.filter((e) => e.path.startsWith(prefix)).length;

/** A service of `v1Count` upstreams registered as v1 and one as v2, on a fleet cleaned up when the test ends. */
async function twoVersions(fleet: Fleet, prefix: string, v1Count: number) {
  const service = uniqueService(prefix);
  const v1: Upstream[] = [];
  for (let i = 0; i < v1Count; i++) {
    const upstream = await fleet.upstream(`${service}-v1-${i}`);
    await fleet.register(service, upstream.url, { version: "v1" });
    v1.push(upstream);
  }
  const v2 = await fleet.upstream(`${service}-v2`);
  // The canary declares its version in metadata: both places are read.
  await fleet.register(service, v2.url, { metadata: { version: "v2" } });
  const versionOf = (hit: Hit) => (hit.upstream === v2.name ? "v2" : hit.upstream !== null && v1.some((u) => u.name === hit.upstream) ? "v1" : null);
  return { service, v1, v2, versionOf };
}

describe.concurrent("progressive delivery through the edge", () => {
  it("a healthy canary follows each step's weight, keeps sticky clients, and is promoted on its own", async ({ onTestFinished }) => {
    const fleet = new Fleet();
    onTestFinished(() => fleet.cleanup());
    const { service, v1, v2, versionOf } = await twoVersions(fleet, "rel-up", 2);
    const steps = [20, 50, 100];
    const release = await startRelease(service, {
      version: "v2",
      steps,
      stepIntervalSeconds: STEP_SECONDS,
      analysis: { minRequests: 20, maxErrorRatePercent: 5 },
      stickiness: { source: "header", name: "x-user-id" },
    });
    expect(release).toMatchObject({ state: "running", weightPercent: 20, routedWeightPercent: 20 });

    let final: ReleaseView | null = null;
    const watching = watchRelease(service, release.id, (r) => FINAL.has(r.state), 3 * STEP_SECONDS * 1000).then((r) => (final = r));
    const fresh: Hit[] = [];
    const sticky: Hit[] = [];
    const stickyKeys = Array.from({ length: 24 }, (_, i) => `sticky-${i}`);
    await Promise.all([
      // A new client per request: the share of canary answers is the weight.
      loopUntil(() => final !== null, 3, async (loop, n) => fresh.push(await hit(`/${service}/r/${loop}-${n}`, { "x-user-id": `fresh-${loop}-${n}` }))),
      // The same 24 clients over and over, each one request at a time (two loops, twelve clients each).
      loopUntil(
        () => final !== null,
        2,
        async (loop, n) => {
          const key = stickyKeys[(n % 12) * 2 + loop] as string;
          sticky.push(await hit(`/${service}/r/${key}-${n}`, { "x-user-id": key }));
        },
        20,
      ),
      watching,
    ]);
    const ended = final as unknown as ReleaseView;
    expect(ended.state, JSON.stringify(ended.history)).toBe("promoted");
    expect(ended.history.map((t) => [t.kind, t.weightPercent, t.actor])).toEqual([
      ["started", 20, expect.stringMatching(/^key:/)],
      ["advanced", 50, "release-controller"],
      ["promoted", 100, "release-controller"],
    ]);
    const at = ended.history.map((t) => Date.parse(t.at));
    // Each step lasted its interval (and not much more: the controller judges at its end).
    for (const i of [1, 2]) expect((at[i] as number) - (at[i - 1] as number)).toBeGreaterThanOrEqual(STEP_SECONDS * 1000 - 50);
    for (const i of [1, 2]) expect((at[i] as number) - (at[i - 1] as number)).toBeLessThan(STEP_SECONDS * 1000 + 3_000);

    expect([...fresh, ...sticky].filter((h) => h.status !== 200)).toEqual([]);
    // The share of new clients on the canary, per step, once the edge routes by it.
    const shares = [0, 1].map((step) => {
      const counted = fresh.filter((h) => h.sentAt >= (at[step] as number) + SETTLE_MS && h.doneAt <= (at[step + 1] as number));
      const canary = counted.filter((h) => versionOf(h) === "v2").length;
      return { weight: steps[step] as number, requests: counted.length, canaryPercent: (canary / counted.length) * 100 };
    });
    console.log(`[releases] canary share per step: ${shares.map((s) => `${s.canaryPercent.toFixed(1)}% of ${s.requests} at ${s.weight}%`).join(", ")}`);
    for (const share of shares) {
      expect(share.requests, JSON.stringify(shares)).toBeGreaterThanOrEqual(100);
      // Four standard deviations of a binomial share, plus a point: about ±5 at 20 % over 1,000 requests.
      const tolerance = 4 * Math.sqrt((share.weight * (100 - share.weight)) / share.requests) + 1;
      expect(Math.abs(share.canaryPercent - share.weight), JSON.stringify(shares)).toBeLessThanOrEqual(tolerance);
    }
    // Each sticky client is where its bucket says at each weight, and never goes back to stable.
    for (const h of sticky) {
      const step = h.sentAt >= (at[1] as number) + SETTLE_MS && h.doneAt <= (at[2] as number) ? 1 : h.sentAt >= (at[0] as number) + SETTLE_MS && h.doneAt <= (at[1] as number) ? 0 : null;
      if (step === null) continue;
      const expected = stickyBucket(release.id, h.key as string) < (steps[step] as number) * 100 ? "v2" : "v1";
      expect({ key: h.key, step, version: versionOf(h) }).toEqual({ key: h.key, step, version: expected });
    }
    for (const key of stickyKeys) {
      const seen = sticky.filter((h) => h.key === key).map(versionOf);
      expect(seen.slice(seen.indexOf("v2")).includes("v1"), `${key}: ${seen.join(" ")}`).toBe(seen.indexOf("v2") < 0);
    }

    // Promoted: everything goes to v2, though the v1 instances are still registered.
    await sleep(SETTLE_MS);
    const before = v1.map((u) => trafficTo(u));
    const after = await Promise.all(Array.from({ length: 30 }, (_, i) => hit(`/${service}/r/after-${i}`, { "x-user-id": `after-${i}` })));
    expect(after.map((h) => [h.status, versionOf(h)])).toEqual(after.map(() => [200, "v2"]));
    expect(v1.map((u) => trafficTo(u))).toEqual(before);
    expect(trafficTo(v2)).toBeGreaterThan(0);
  });

  it("a canary that starts answering 500 is rolled back within one step interval; then nothing reaches it", async ({ onTestFinished }) => {
    const fleet = new Fleet();
    onTestFinished(() => fleet.cleanup());
    const { service, v1, v2, versionOf } = await twoVersions(fleet, "rel-down", 2);
    const threshold = { minRequests: 10, maxErrorRatePercent: 10 };
    // Mirroring too: a rolled-back canary must not get copies either.
    const release = await startRelease(service, { version: "v2", steps: [20, 50, 100], stepIntervalSeconds: STEP_SECONDS, analysis: threshold, mirrorPercent: 100 });

    let final: ReleaseView | null = null;
    let faultAt = 0;
    const watching = (async () => {
      // Healthy through the first step; faulty from the moment the second begins.
      await watchRelease(service, release.id, (r) => r.stepIndex >= 1 || FINAL.has(r.state), 2 * STEP_SECONDS * 1000);
      v2.fault("fail");
      faultAt = Date.now();
      final = await watchRelease(service, release.id, (r) => FINAL.has(r.state), 2 * STEP_SECONDS * 1000);
    })();
    const hits: Hit[] = [];
    await Promise.all([
      loopUntil(() => final !== null, 3, async (loop, n) => hits.push(await hit(`/${service}/r/${loop}-${n}`))),
      watching,
    ]);
    const ended = final as unknown as ReleaseView;
    expect(ended.state, JSON.stringify(ended.history)).toBe("rolled-back");
    expect(ended.history.map((t) => [t.kind, t.stepIndex, t.weightPercent, t.actor])).toEqual([
      ["started", 0, 20, expect.stringMatching(/^key:/)],
      ["advanced", 1, 50, "release-controller"],
      ["rolled-back", 1, 0, "release-controller"],
    ]);
    const rollback = ended.history[2];
    expect(rollback?.detail).toMatch(/threshold crossed: error rate/);
    // Crossing the threshold comes after the fault began: within one step of the fault is within one step of the crossing.
    const rolledBackAfterMs = Date.parse(rollback?.at as string) - faultAt;
    expect(rolledBackAfterMs).toBeLessThan(STEP_SECONDS * 1000);
    expect(hits.filter((h) => h.sentAt > faultAt && versionOf(h) === "v2" && h.status === 500).length).toBeGreaterThan(0);
    // Healthy before the fault: every request answered before it flipped was a 200 (one in flight as it flipped may not be).
    expect(hits.filter((h) => h.doneAt < faultAt && h.status !== 200)).toEqual([]);

    // Rolled back: the canary is still registered, yet no request and no mirrored copy reaches it.
    expect((await getRelease(service, release.id)).routedWeightPercent).toBe(0);
    await sleep(SETTLE_MS);
    const before = trafficTo(v2);
    const after = await Promise.all(Array.from({ length: 30 }, (_, i) => hit(`/${service}/r/after-${i}`)));
    expect(after.map((h) => [h.status, versionOf(h)])).toEqual(after.map(() => [200, "v1"]));
    await sleep(1_000);
    expect(trafficTo(v2)).toBe(before);
    expect(v1.every((u) => trafficTo(u) > 0)).toBe(true);

    // The audit log: every transition on <service>/<release id>, the controller's as release-controller.
    const audit = await expectJson<{ entries: AuditEntry[] }>(await admin("GET", "/admin/audit?limit=1000"), 200);
    const entries = audit.entries.filter((e) => e.target === `${service}/${release.id}`).sort((a, b) => a.seq - b.seq);
    expect(entries.map((e) => [e.action, e.result, e.actor])).toEqual([
      ["release.start", "ok", expect.stringMatching(/^key:/)],
      ["release.advance", "ok", "release-controller"],
      ["release.rollback", "ok", "release-controller"],
    ]);
    expect(entries[2]?.detail).toMatch(/^running → rolled-back, 0%: /);
    console.log(`[releases] rolled back ${rolledBackAfterMs} ms after the canary began failing (step interval ${STEP_SECONDS} s)`);
  });

  it("the pin header reaches the version it names at weight 5 and at weight 0; an unknown version is a 400 naming the header", async ({ onTestFinished }) => {
    const fleet = new Fleet();
    onTestFinished(() => fleet.cleanup());
    const { service, v2, versionOf } = await twoVersions(fleet, "rel-pin", 1);
    // Never judged (far too few requests for minRequests), never stepped (an hour a step).
    const release = await startRelease(service, { version: "v2", steps: [5, 100], stepIntervalSeconds: 3600, analysis: { minRequests: 1_000_000, maxErrorRatePercent: 50 }, pinHeader: "X-Version" });
    expect(release.spec.pinHeader).toBe("x-version");

    const pinned = async (label: string, headers: Record<string, string>) => Promise.all(Array.from({ length: 20 }, (_, i) => hit(`/${service}/r/${label}-${i}`, headers)));
    const versions = (hits: Hit[]) => hits.map((h) => `${h.status} ${versionOf(h)}`);
    for (const label of ["weight5", "weight0"]) {
      expect(versions(await pinned(`${label}-v2`, { "x-version": "v2" })), label).toEqual(Array(20).fill("200 v2"));
      expect(versions(await pinned(`${label}-v1`, { "X-Version": "v1" })), label).toEqual(Array(20).fill("200 v1"));

      const unknown = await fetch(gateway(`/${service}/r/${label}-v9`), { headers: { "x-version": "v9" } });
      expect(unknown.status).toBe(400);
      const problem = await readProblem(unknown);
      expect(problem).toMatchObject({ field: "x-version", errors: [{ field: "x-version" }] });
      expect(problem.detail).toContain('"v9"');
      expect(v2.received.some((e) => e.path.includes(`${label}-v9`))).toBe(false);

      if (label === "weight5") {
        const aborted = await releaseAction(service, release.id, "abort");
        expect(aborted).toMatchObject({ state: "aborted", routedWeightPercent: 0 });
        // Unpinned requests all go to v1 once the edge has the new weight.
        await sleep(SETTLE_MS);
        expect(versions(await pinned("unpinned", {}))).toEqual(Array(20).fill("200 v1"));
      }
    }
  });

  it("mirroring copies GETs served by v1 to the canary, and the client gets v1's answer whatever the copy does", async ({ onTestFinished }) => {
    const fleet = new Fleet();
    onTestFinished(() => fleet.cleanup());
    const { service, v1, v2 } = await twoVersions(fleet, "rel-mirror", 1);
    const stable = v1[0] as Upstream;
    const SERVICE_TIMEOUT_MS = 2_000;
    expect((await putServiceSettings(service, { timeoutMs: SERVICE_TIMEOUT_MS })).status).toBe(200);
    const release = await startRelease(service, {
      version: "v2",
      steps: [1, 100],
      stepIntervalSeconds: 3600,
      analysis: { minRequests: 1_000_000, maxErrorRatePercent: 50 },
      stickiness: { source: "header", name: "x-user-id" },
      mirrorPercent: 100,
    });
    // A client whose bucket is on the stable side: every one of its requests is v1's to serve.
    let n = 0;
    while (stickyBucket(release.id, `client-${n}`) < 100) n++;
    const client = { "x-user-id": `client-${n}` };

    /** GETs (one at a time) that must come back exactly as v1 answered them, promptly. */
    const getsFromV1 = async (label: string, count: number) => {
      const hits: Hit[] = [];
      for (let i = 0; i < count; i++) hits.push(await hit(`/${service}/m/${label}-${i}`, client));
      for (const [i, h] of hits.entries()) {
        const path = `/m/${label}-${i}`;
        const echo = stable.received.find((e) => e.path === path) as Echo;
        expect({ path, status: h.status, upstream: h.upstream, text: h.text }).toEqual({ path, status: 200, upstream: stable.name, text: JSON.stringify(echo) });
        expect(echo.headers["x-orchestrator-mirror"]).toBeUndefined();
        // The client never waits for the copy: well under the copy's deadline, let alone a hang.
        expect(h.doneAt - h.sentAt, path).toBeLessThan(SERVICE_TIMEOUT_MS / 2);
      }
      return hits;
    };
    const copies = (label: string) => v2.received.filter((e) => e.path.startsWith(`/m/${label}-`));

    // 1. The canary answers: every GET (and HEAD) is copied to it, marked, with the client's path and query.
    await getsFromV1("fast", 20);
    const head = await fetch(gateway(`/${service}/m/head-0?q=1`), { method: "HEAD", headers: client });
    expect([head.status, head.headers.get("x-upstream-name")]).toEqual([200, stable.name]);
    await eventually(async () => (copies("fast").length === 20 && copies("head").length === 1 ? true : undefined), 5_000);
    expect(copies("fast").map((e) => [e.method, e.headers["x-orchestrator-mirror"]])).toEqual(Array(20).fill(["GET", "1"]));
    expect(copies("head").map((e) => [e.method, e.path, e.headers["x-orchestrator-mirror"]])).toEqual([["HEAD", "/m/head-0?q=1", "1"]]);

    // 2. POST and PUT (with bodies) are never copied; a GET after them is.
    for (const method of ["POST", "PUT"]) {
      const written = await hit(`/${service}/m/${method.toLowerCase()}-0`, { ...client, "content-type": "application/json" }, method, '{"a":1}');
      expect([written.status, written.upstream]).toEqual([200, stable.name]);
    }
    await hit(`/${service}/m/marker-0`, client);
    await eventually(async () => (copies("marker").length === 1 ? true : undefined), 5_000);
    await sleep(500);
    expect([...copies("post"), ...copies("put")]).toEqual([]);

    // 3. The canary's copy fails (500): the client still gets v1's answer.
    v2.fault("fail");
    await getsFromV1("fail", 10);
    await eventually(async () => (copies("fail").length === 10 ? true : undefined), 5_000);

    // 4. The canary hangs past the service timeout: the client neither waits nor notices.
    v2.fault("hang");
    await getsFromV1("hang", 6);
    await eventually(async () => (copies("hang").length > 0 ? true : undefined), 5_000);
    expect(v2.active()).toBeGreaterThan(0);

    // 5. The canary refuses connections (its server is gone, its registration stays).
    await v2.close();
    await getsFromV1("refused", 10);
  });
});
