/**
 * Service names, instance ids, metadata keys and label values that are also
 * Object.prototype's members ("constructor", "__proto__", "toString"…)
 * behave like any other name through the real Worker and its Durable
 * Objects (security review finding 2): registration (metadata comes back
 * exactly), routing, rate limiting, per-service weights, /metrics as JSON
 * and Prometheus text, /health/workers, the dashboard's state, alerts and
 * silences. The pure paths get many more cases in
 * test/unit/prototype-keys.property.test.ts.
 */
import { runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, inject, it } from "vitest";
import { metricsStub } from "../../src/platform/stubs";
import { sleep } from "./helpers";

const KEY = "test-admin-key-0123456789";
const TOKEN = "test-registration-token";
const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.90.${nextIp++ % 250}`;

/** Valid service names (1-63 of a-z 0-9 -, starting with a letter) that are, or spell, Object.prototype members. */
const PROTOTYPE_SERVICE_NAMES = ["constructor", "tostring", "hasownproperty", "valueof", "prototype", "proto"] as const;
/** Object.prototype's members as metadata keys, label values and weights keys (all valid there). */
const PROTOTYPE_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "prototype", "valueOf"] as const;

/** A JSON object's text, members in order: "__proto__" stays a member (an object literal would set the prototype instead). */
function objectText(entries: readonly (readonly [string, unknown])[]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`;
}

const sortedEntries = (record: object) => Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function call(method: string, path: string, options: { auth?: "admin" | "registration"; body?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { "cf-connecting-ip": ip() };
  if (options.auth === "admin") headers.authorization = `Bearer ${KEY}`;
  if (options.auth === "registration") headers.authorization = `Bearer ${TOKEN}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  return SELF.fetch(`https://orchestrator.test${path}`, { method, headers, ...(options.body === undefined ? {} : { body: options.body }) });
}

async function control(name: string, mode: string): Promise<void> {
  await (await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}`)).arrayBuffer();
}

/** Registers an instance of `service` on a fresh upstream "instance" of the loopback server; returns its id. */
async function register(service: string, metadata: readonly (readonly [string, string])[] = [], mode = "ok"): Promise<{ id: string; upstream: string }> {
  const upstream = `pn-${crypto.randomUUID().slice(0, 8)}`;
  await control(upstream, mode);
  const response = await call("POST", "/registry/instances", {
    auth: "registration",
    body: `{"service":${JSON.stringify(service)},"url":"http://127.0.0.1:${port}/i/${upstream}","ttlSeconds":3600,"metadata":${objectText(metadata)}}`,
  });
  const text = await response.text();
  expect(response.status, text).toBe(201);
  return { id: (JSON.parse(text) as { id: string }).id, upstream };
}

interface InstanceView {
  id: string;
  weight: number;
  metadata: Record<string, string>;
}

async function instanceView(service: string, id: string): Promise<InstanceView | undefined> {
  const snapshot = (await (await call("GET", "/registry/services", { auth: "registration" })).json()) as { services: { name: string; instances: InstanceView[] }[] };
  return snapshot.services.find((s) => s.name === service)?.instances.find((i) => i.id === id);
}

/** Deregisters whatever an earlier run (or a failed one) left in `service`, so routing and counts are this run's. */
async function clear(service: string): Promise<void> {
  const snapshot = (await (await call("GET", "/registry/services", { auth: "registration" })).json()) as { services: { name: string; instances: { id: string }[] }[] };
  for (const instance of snapshot.services.find((s) => s.name === service)?.instances ?? []) {
    await (await call("DELETE", `/registry/instances/${instance.id}`, { auth: "registration" })).arrayBuffer();
  }
}

async function until<T>(read: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 10_000, tick?: () => Promise<unknown>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last ${JSON.stringify(value).slice(0, 800)}`);
    await sleep(100);
    await tick?.();
  }
}

describe("names like Object.prototype's members, through the Worker and its Durable Objects", () => {
  it("/metrics/worker/constructor for a service without traffic answers Prometheus text and JSON (the Prometheus text was a 500)", async () => {
    await clear("constructor");
    const { id } = await register("constructor");
    const text = await call("GET", "/metrics/worker/constructor?format=prometheus");
    const body = await text.text();
    expect(text.status, body).toBe(200);
    expect(body).toContain(`orchestrator_inflight_requests{service="constructor",instance="${id}"} 0\n`);
    expect(body).not.toMatch(/NaN|undefined|function/);
    const json = await call("GET", "/metrics/worker/constructor");
    expect(json.status).toBe(200);
    const view = (await json.json()) as { workers: Record<string, { instances: Record<string, { totalRequests: number }> }> };
    expect(Object.keys(view.workers)).toEqual(["constructor"]);
    expect(Object.entries(view.workers).map(([, worker]) => worker.instances[id]?.totalRequests)).toEqual([0]);
    expect((await call("DELETE", `/registry/instances/${id}`, { auth: "registration" })).status).toBe(200);
  });

  it("registration, routing, rate limiting, weights, metrics, /health/workers and the dashboard treat each name like any other", async () => {
    const serviceArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_SERVICE_NAMES) }, { weight: 1, arbitrary: fc.stringMatching(/^pn-[a-z0-9]{1,8}$/) });
    const metadataArb = fc.uniqueArray(
      fc.tuple(fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/)), fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.string({ maxLength: 12 }))),
      { selector: ([key]) => key, minLength: 1, maxLength: 8 },
    );
    await fc.assert(
      fc.asyncProperty(serviceArb, metadataArb, async (service, metadata) => {
        await clear(service);
        const { id, upstream } = await register(service, metadata);

        // Metadata comes back exactly: every key, "__proto__" and "constructor" included.
        const stored = await instanceView(service, id);
        expect(sortedEntries(stored?.metadata ?? {})).toEqual(sortedEntries(Object.fromEntries(metadata)));

        // Routed to its instance, with a real numeric rate-limit policy.
        const proxied = await call("GET", `/${service}/hello?x=1`);
        expect(proxied.status).toBe(200);
        expect(await proxied.json()).toEqual({ name: upstream, path: "/hello" });
        expect(proxied.headers.get("ratelimit-policy")).toBe('"general";q=100;w=60');
        expect(proxied.headers.get("ratelimit")).toMatch(/^"general";r=\d+;t=\d+$/);

        // Weights: a key named like a prototype member is judged like any other key (no such instance, or not a weight).
        for (const key of ["constructor", "__proto__", "toString"]) {
          const refused = await call("PUT", `/admin/services/${service}`, { auth: "admin", body: `{"weights":${objectText([[key, 5]])}}` });
          expect(refused.status, key).toBe(400);
          expect(((await refused.json()) as { field: string }).field).toBe(`weights.${key}`);
        }
        const notAWeight = await call("PUT", `/admin/services/${service}`, { auth: "admin", body: `{"weights":{"constructor":"x","${id}":2}}` });
        expect(notAWeight.status).toBe(400);
        expect(((await notAWeight.json()) as { field: string }).field).toBe("weights.constructor");
        const accepted = await call("PUT", `/admin/services/${service}`, { auth: "admin", body: `{"weights":${objectText([[id, 7]])}}` });
        expect(accepted.status).toBe(200);
        expect((await instanceView(service, id))?.weight).toBe(7);

        // Metrics: the service and its instance, as JSON and as Prometheus text.
        type Metrics = { workers: Record<string, { totalRequests: number; instances: Record<string, { totalRequests: number }> }> };
        const metrics = await until(
          async () => (await (await call("GET", "/metrics")).json()) as Metrics,
          (m) => Object.hasOwn(m.workers, service) && (m.workers[service]?.instances[id]?.totalRequests ?? 0) >= 1,
          `${service} in /metrics`,
        );
        expect(metrics.workers[service]?.instances[id]?.totalRequests).toBe(1);
        const prometheus = await (await call("GET", "/metrics?format=prometheus")).text();
        expect(prometheus).toContain(`orchestrator_requests_total{service="${service}",instance="${id}",class="2xx"} 1\n`);
        expect(prometheus).not.toMatch(/NaN|undefined/);
        const one = (await (await call("GET", `/metrics/worker/${service}?format=prometheus`)).text()).split("\n");
        expect(one.filter((line) => line.startsWith("orchestrator_requests_total{")).every((line) => line.startsWith(`orchestrator_requests_total{service="${service}",`))).toBe(true);

        const health = (await (await call("GET", "/health/workers")).json()) as { workers: Record<string, { instances: { id: string }[] }> };
        expect(Object.hasOwn(health.workers, service)).toBe(true);
        expect(health.workers[service]?.instances.map((i) => i.id)).toContain(id);

        const dashboard = (await (await call("GET", "/admin/dashboard/state", { auth: "admin" })).json()) as { services: { name: string; instances: InstanceView[] }[]; metrics: Metrics };
        const shown = dashboard.services.find((s) => s.name === service)?.instances.find((i) => i.id === id);
        expect(sortedEntries(shown?.metadata ?? {})).toEqual(sortedEntries(Object.fromEntries(metadata)));
        expect(Object.hasOwn(dashboard.metrics.workers, service)).toBe(true);

        expect((await call("DELETE", `/registry/instances/${id}`, { auth: "registration" })).status).toBe(200);
      }),
      { numRuns: 12 },
    );
  });

  it('alerts carry such names as labels; a silence on service="constructor", exact or regex, mutes exactly that service\'s alerts', async () => {
    const services = ["constructor", "proto", "valueof"] as const;
    const instances = new Map<string, { id: string; upstream: string }>();
    for (const service of services) {
      await clear(service);
      const registered = await register(service, [["__proto__", service]], "error");
      instances.set(service, registered);
      const configured = await call("PUT", `/admin/services/${service}`, { auth: "admin", body: JSON.stringify({ healthCheck: { intervalMs: 100, timeoutMs: 300 } }) });
      expect(configured.status).toBe(200);
    }
    type Status = { alert: { labels: Record<string, string> }; state: string; silencedBy: string[] };
    const active = async () => ((await (await call("GET", "/admin/alerts", { auth: "admin" })).json()) as { active: Status[] }).active;
    const loop = () => runDurableObjectAlarm(metricsStub(env));
    // MetricsDO is shared with the other test files, and its loop keeps the sweep it last scheduled
    // (up to the 30 s default interval away); the 100 ms checks configured above start from the next one.
    await runInDurableObject(metricsStub(env), (object) => {
      Reflect.set(object, "nextSweepAt", 0);
    });
    const fired = await until(
      active,
      (list) => services.every((s) => list.some((a) => a.alert.labels.service === s && a.alert.labels.alertname === "InstanceUnhealthy" && a.alert.labels.instance === instances.get(s)?.id)),
      "InstanceUnhealthy for every service",
      15_000,
      loop,
    );
    expect(fired.filter((a) => services.includes(a.alert.labels.service as (typeof services)[number])).every((a) => a.state === "active" || a.state === "suppressed")).toBe(true);

    const silence = async (matchers: unknown): Promise<Response> => call("POST", "/admin/silences", { auth: "admin", body: JSON.stringify({ matchers, durationSeconds: 600, comment: "prototype names" }) });
    for (const matcher of [
      { name: "service", value: "constructor" },
      { name: "service", value: "constr.*", isRegex: true },
      { name: "service", value: "(constructor|__proto__)", isRegex: true },
    ]) {
      const created = await silence([matcher]);
      expect(created.status, JSON.stringify(matcher)).toBe(201);
      const sid = ((await created.json()) as { id: string }).id;
      const list = await active();
      const ours = list.filter((a) => services.includes(a.alert.labels.service as (typeof services)[number]));
      expect(ours.length).toBeGreaterThanOrEqual(services.length);
      for (const a of ours) {
        expect(a.silencedBy.includes(sid), `${JSON.stringify(matcher)} on ${JSON.stringify(a.alert.labels)}`).toBe(a.alert.labels.service === "constructor");
        if (a.alert.labels.service === "constructor") expect(a.state).toBe("suppressed");
      }
      expect((await call("DELETE", `/admin/silences/${sid}`, { auth: "admin" })).status).toBe(200);
    }

    // Label values and names that are prototype members select nothing they should not.
    for (const matchers of [
      [{ name: "service", value: "__proto__" }],
      [{ name: "instance", value: "constructor" }],
      [{ name: "service", value: "constructor" }, { name: "constructor", value: "x" }],
      [{ name: "__proto__", value: "constructor" }],
    ]) {
      const created = await silence(matchers);
      expect(created.status, JSON.stringify(matchers)).toBe(201);
      const sid = ((await created.json()) as { id: string }).id;
      expect((await active()).some((a) => a.silencedBy.includes(sid)), JSON.stringify(matchers)).toBe(false);
      expect((await call("DELETE", `/admin/silences/${sid}`, { auth: "admin" })).status).toBe(200);
    }

    // Lookaround is not RE2: refused, naming the matcher.
    const lookahead = await silence([{ name: "service", value: "(?=constructor)constructor", isRegex: true }]);
    expect(lookahead.status).toBe(400);
    expect(((await lookahead.json()) as { field: string }).field).toBe("matchers.0.value");
    // A matcher with a "__proto__" member is an unknown field, not a way to set isRegex.
    const smuggled = await call("POST", "/admin/silences", { auth: "admin", body: `{"matchers":[{"name":"service","value":".*","__proto__":{"isRegex":true}}],"durationSeconds":60,"comment":"x"}` });
    expect(smuggled.status).toBe(400);

    for (const { id, upstream } of instances.values()) {
      await control(upstream, "ok");
      expect((await call("DELETE", `/registry/instances/${id}`, { auth: "registration" })).status).toBe(200);
    }
  });
});
