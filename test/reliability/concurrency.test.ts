/**
 * Concurrency: 200 register / heartbeat / deregister / stop / start /
 * configure (weights) calls and proxied requests, launched at once against
 * the orchestrator on plain workerd while health sweeps run every 100 ms,
 * end in the state a serial model gives when it applies them in the order
 * the registry saw them.
 *
 * RegistryDO serialises its calls, so the order is real but not visible for
 * every call; what is checked:
 * - registrations: for each URL registered twice at once, exactly one 201 and
 *   one 409 naming the winner's id; no id handed out twice;
 * - deregistrations: for each instance deregistered twice at once, exactly one
 *   200 and one 404; the final set of instances is the base set minus those,
 *   plus the 201s;
 * - admin state: every stop/start answers whether it changed the state;
 *   replayed in the registry's order (the audit log's), a serial model (where
 *   a service start also starts instances stopped one by one) gives each
 *   call's answer and the final admin states;
 * - weights: every successful configure answers the service as it left it; the
 *   final weights are what one of them left;
 * - the audit log: every admin call appears exactly once (matched by
 *   x-request-id) with the status we got;
 * - no orphaned counts: in-flight is zero everywhere once the calls are done.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Api, type AuditEntry, type Snapshot, totalInflight } from "./client";
import { type LoopbackUpstream, startLoopbackUpstream } from "./upstream";
import { Orchestrator, sleep } from "./workerd-harness";

type Op =
  | { kind: "register"; url: string; requestId: string }
  | { kind: "heartbeat"; id: string; requestId: string }
  | { kind: "deregister"; id: string; requestId: string }
  | { kind: "service-admin"; action: "stop" | "start"; requestId: string }
  | { kind: "instance-admin"; id: string; action: "stop" | "start"; requestId: string }
  | { kind: "weights"; weights: Record<string, number>; requestId: string }
  | { kind: "proxy"; requestId: string };

interface Result {
  readonly op: Op;
  readonly status: number;
  readonly body: { id?: string; existingId?: string; type?: string; changed?: boolean; instances?: Array<{ id: string; weight: number }> } | null;
}

const BASE_INSTANCES = 20;
const DEREGISTERED_TWICE = 8;
const URLS_REGISTERED_TWICE = 20;

function buildOps(service: string, upstream: LoopbackUpstream, base: readonly string[], seed: number): Op[] {
  let n = 0;
  const rid = () => `race-${seed}-${String(n++).padStart(4, "0")}`;
  const ops: Op[] = [];
  const pick = fc.sample(fc.tuple(fc.nat(BASE_INSTANCES - 1), fc.boolean(), fc.integer({ min: 1, max: 1000 })), { numRuns: 200, seed });
  let p = 0;
  const next = () => pick[p++ % pick.length] as [number, boolean, number];
  for (let i = 0; i < URLS_REGISTERED_TWICE; i++) {
    const url = `${upstream.url}/race/${service}/new-${i}`;
    ops.push({ kind: "register", url, requestId: rid() }, { kind: "register", url, requestId: rid() });
  }
  for (let i = 0; i < DEREGISTERED_TWICE; i++) {
    const id = base[i] as string;
    ops.push({ kind: "deregister", id, requestId: rid() }, { kind: "deregister", id, requestId: rid() });
  }
  for (let i = 0; i < 40; i++) ops.push({ kind: "heartbeat", id: base[next()[0]] as string, requestId: rid() });
  for (let i = 0; i < 20; i++) ops.push({ kind: "service-admin", action: next()[1] ? "stop" : "start", requestId: rid() });
  for (let i = 0; i < 44; i++) {
    const [index, stop] = next();
    ops.push({ kind: "instance-admin", id: base[index] as string, action: stop ? "stop" : "start", requestId: rid() });
  }
  for (let i = 0; i < 20; i++) {
    const weights: Record<string, number> = {};
    for (let k = 0; k < 2; k++) {
      const [index, , weight] = next();
      weights[base[index] as string] = weight;
    }
    ops.push({ kind: "weights", weights, requestId: rid() });
  }
  for (let i = 0; i < 20; i++) ops.push({ kind: "proxy", requestId: rid() });
  // A seeded shuffle: the launch order is part of what varies between rounds.
  const order = fc.sample(fc.shuffledSubarray(ops, { minLength: ops.length, maxLength: ops.length }), { numRuns: 1, seed })[0] as Op[];
  return order;
}

async function send(api: Api, service: string, op: Op): Promise<Result> {
  const headers = { "x-request-id": op.requestId };
  const call = (method: string, path: string, auth: "admin" | "registration" | "none", body?: unknown) => api.call<Result["body"]>(method, path, { auth, body, headers, timeoutMs: 30_000 });
  let r;
  switch (op.kind) {
    case "register":
      r = await call("POST", "/registry/instances", "registration", { service, url: op.url, ttlSeconds: 3600 });
      break;
    case "heartbeat":
      r = await call("PUT", `/registry/instances/${op.id}/heartbeat`, "registration", { inflight: 0, cpu: 1 });
      break;
    case "deregister":
      r = await call("DELETE", `/registry/instances/${op.id}`, "registration");
      break;
    case "service-admin":
      r = await call("POST", `/admin/workers/${service}/${op.action}`, "admin");
      break;
    case "instance-admin":
      r = await call("POST", `/admin/workers/${service}/instances/${op.id}/${op.action}`, "admin");
      break;
    case "weights":
      r = await call("PUT", `/admin/services/${service}`, "admin", { weights: op.weights });
      break;
    case "proxy":
      r = await call("GET", `/${service}/ping`, "none");
      break;
  }
  return { op, status: r.status, body: r.json };
}

describe("200 concurrent registry and admin calls racing health sweeps", () => {
  let orchestrator: Orchestrator;
  let api: Api;
  let upstream: LoopbackUpstream;

  beforeAll(async () => {
    orchestrator = new Orchestrator({
      bundle: { dir: inject("reliabilityBundleDir") },
      vars: { HEALTH_CHECK_INTERVAL_MS: "100", HEALTH_CHECK_TIMEOUT_MS: "1000", DRAIN_TIMEOUT_MS: "5000", SLOW_START_WINDOW_MS: "0" },
    });
    await orchestrator.start();
    api = new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken);
    upstream = await startLoopbackUpstream("race");
  });

  afterAll(async () => {
    await orchestrator?.dispose();
    await upstream?.close();
  });

  for (const seed of [1, 2, 3]) {
    it(`round ${seed}: the final state is the serial model's`, async () => {
      const service = `race-${seed}`;
      const base: string[] = [];
      for (let i = 0; i < BASE_INSTANCES; i++) {
        const registered = await api.register({ service, url: `${upstream.url}/race/${service}/base-${i}`, ttlSeconds: 3600 });
        expect(registered.status, registered.text).toBe(201);
        base.push(registered.json.id);
      }
      const auditBefore = new Set((await api.audit()).map((e) => e.seq));
      const ops = buildOps(service, upstream, base, seed);
      expect(ops).toHaveLength(200);

      // Launch the moment a health sweep starts probing: its registry calls (healthTargets went just
      // before, applyProbeResults comes after the probes) then land in the middle of ours.
      await upstream.next("/health", 10_000);
      const startedAt = Date.now();
      const results = await Promise.all(ops.map((op) => send(api, service, op)));
      const endedAt = Date.now();
      const elapsedMs = endedAt - startedAt;

      // Let the last releases land (ctx.waitUntil), then read the final state.
      let final: Snapshot = await api.snapshot();
      for (let i = 0; i < 40 && totalInflight(final) !== 0; i++) {
        await sleep(250);
        final = await api.snapshot();
      }
      const audit: AuditEntry[] = (await api.audit()).filter((e) => !auditBefore.has(e.seq));
      const view = final.services.find((s) => s.name === service);
      expect(view, `${service} still exists`).toBeDefined();

      // ---- no orphaned counts
      expect(totalInflight(final)).toBe(0);
      expect(view?.inflight).toBe(0);

      // ---- no duplicate ids anywhere
      const allIds = final.services.flatMap((s) => s.instances.map((i) => i.id));
      expect(new Set(allIds).size).toBe(allIds.length);

      // ---- registrations: one winner per URL, the loser told who won
      const registrations = results.filter((r): r is Result & { op: { kind: "register"; url: string } } => r.op.kind === "register");
      const created = new Map<string, string>();
      for (const [url, pair] of groupBy(registrations, (r) => r.op.url)) {
        const statuses = pair.map((r) => r.status).sort();
        expect(statuses, url).toEqual([201, 409]);
        const winner = pair.find((r) => r.status === 201)?.body?.id as string;
        expect(pair.find((r) => r.status === 409)?.body?.existingId).toBe(winner);
        created.set(url, winner);
      }
      expect(new Set(created.values()).size).toBe(URLS_REGISTERED_TWICE);

      // ---- deregistrations: exactly one of each pair succeeds
      const deregistered = new Set<string>();
      for (const [id, pair] of groupBy(results.filter((r) => r.op.kind === "deregister"), (r) => (r.op as { id: string }).id)) {
        expect(pair.map((r) => r.status).sort(), id).toEqual([200, 404]);
        deregistered.add(id);
      }

      // ---- heartbeats: an instance nobody deregistered always answers
      for (const r of results.filter((r) => r.op.kind === "heartbeat")) {
        const id = (r.op as { id: string }).id;
        expect(deregistered.has(id) ? [200, 404] : [200], `heartbeat ${id}`).toContain(r.status);
      }

      // ---- proxied requests: served, or refused because an operator had stopped the service
      for (const r of results.filter((r) => r.op.kind === "proxy")) {
        expect([200, 503]).toContain(r.status);
        if (r.status === 503) expect(["urn:orchestrator:problem:service-stopped", "urn:orchestrator:problem:no-available-instance"]).toContain(r.body?.type);
      }

      // ---- the set of instances
      const expectedIds = new Set([...base.filter((id) => !deregistered.has(id)), ...created.values()]);
      expect(new Set(view?.instances.map((i) => i.id))).toEqual(expectedIds);

      // ---- admin calls: each audited once, with our status, in the registry's order
      const adminResults = results.filter((r) => r.op.kind === "service-admin" || r.op.kind === "instance-admin" || r.op.kind === "weights");
      const byRequestId = new Map(adminResults.map((r) => [r.op.requestId, r]));
      const ours = audit.filter((e) => e.requestId !== null && byRequestId.has(e.requestId));
      expect(ours).toHaveLength(adminResults.length);
      expect(new Set(ours.map((e) => e.requestId)).size).toBe(adminResults.length);
      for (const entry of ours) {
        const r = byRequestId.get(entry.requestId as string) as Result;
        // A stop that took effect and then lost its instance to a deregistration during the drain: the log
        // records the change (200), the answer says the instance is gone (404).
        const vanished = entry.status === 200 && r.op.kind === "instance-admin" && deregistered.has(r.op.id) && r.status === 404;
        if (!vanished) expect(entry.status, `${entry.action} ${entry.target}: ${JSON.stringify(entry)} vs ${JSON.stringify(r)}`).toBe(r.status);
      }
      for (const r of adminResults) expect([200, 201, 400, 404], JSON.stringify(r)).toContain(r.status);

      // ---- the serial model, in the order the registry saw the calls (the audit log's: the registry
      // records a stop/start in the same turn as the change). Replayed, every call's `changed` must be
      // what the model says, and the model's end must be the final state. A service start also starts
      // the instances stopped one by one.
      const lifecycle = adminResults.filter((r) => (r.op.kind === "service-admin" || r.op.kind === "instance-admin") && r.status === 200);
      const lifecycleIds = new Set(lifecycle.map((r) => r.op.requestId));
      let modelService: "active" | "stopped" = "active";
      const modelInstances = new Map<string, "active" | "stopped">();
      const stateOf = (id: string) => modelInstances.get(id) ?? "active";
      const changedDisagrees: string[] = [];
      for (const entry of [...ours].sort((x, y) => x.seq - y.seq)) {
        if (!lifecycleIds.has(entry.requestId as string)) continue;
        const r = byRequestId.get(entry.requestId as string) as Result;
        const op = r.op as { kind: "service-admin" | "instance-admin"; action: "stop" | "start"; id?: string };
        let changed: boolean;
        if (op.kind === "service-admin" && op.action === "stop") {
          changed = modelService !== "stopped";
          modelService = "stopped";
        } else if (op.kind === "service-admin") {
          const stopped = [...modelInstances].filter(([, state]) => state === "stopped").map(([id]) => id);
          changed = modelService === "stopped" || stopped.length > 0;
          modelService = "active";
          for (const id of stopped) modelInstances.set(id, "active");
        } else {
          const desired = op.action === "stop" ? "stopped" : "active";
          changed = stateOf(op.id as string) !== desired;
          modelInstances.set(op.id as string, desired);
        }
        // A deregistered instance is gone: a stop on it may have taken effect and still answered 404.
        if (op.kind === "instance-admin" && deregistered.has(op.id as string)) continue;
        if (r.body?.changed !== changed) changedDisagrees.push(`${entry.action} ${entry.target} (seq ${entry.seq}): answered changed=${String(r.body?.changed)}, model ${changed}`);
      }
      expect(changedDisagrees, "every stop/start answers what the serial model says").toEqual([]);
      expect(view?.adminState, "the service's admin state").toBe(modelService);
      for (const instance of view?.instances ?? []) expect(instance.adminState, `admin state of ${instance.id}`).toBe(stateOf(instance.id));
      // Weights: every successful configure answers the service as it left it; the final weights must be
      // exactly what one of them left (the last applied), or all 1 when none succeeded.
      const configured = adminResults.filter((r) => r.op.kind === "weights" && r.status < 400);
      const survivors = base.filter((id) => !deregistered.has(id));
      const finalWeights = survivors.map((id) => view?.instances.find((i) => i.id === id)?.weight);
      const leftBy = configured.map((r) => survivors.map((id) => r.body?.instances?.find((i) => i.id === id)?.weight));
      if (configured.length === 0) expect(finalWeights).toEqual(survivors.map(() => 1));
      else expect(leftBy, "the final weights are what the last applied configure left").toContainEqual(finalWeights);
      for (const r of adminResults.filter((r) => r.op.kind === "weights" && r.status === 400)) {
        // Refused whole, and only because it named an instance deregistered in this round.
        expect(Object.keys((r.op as { weights: Record<string, number> }).weights).some((id) => deregistered.has(id)), JSON.stringify(r)).toBe(true);
      }

      // ---- the sweeps really raced the calls
      const probedDuring = upstream.recent().filter((r) => r.path.endsWith("/health") && r.at >= startedAt && r.at <= endedAt).length;
      expect(probedDuring, "health probes while the calls were in flight").toBeGreaterThan(0);
      const statusCounts = Object.fromEntries([...groupBy(results, (r) => `${r.op.kind} ${r.status}`)].map(([k, v]) => [k, v.length]));
      console.log(
        `[concurrency] round ${seed}: 200 calls in ${elapsedMs} ms; ${JSON.stringify(statusCounts)}; final ${view?.instances.length} instances, service ${view?.adminState}, ` +
          `${probedDuring} health probes during the race`,
      );
    });
  }
});

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}
