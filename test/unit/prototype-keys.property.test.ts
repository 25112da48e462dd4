/**
 * Names that are also Object.prototype's members ("constructor", "__proto__",
 * "toString", "hasOwnProperty"…) behave like any other name in every pure
 * path that keys something by a name a client chose (security review finding
 * 2): request schemas (metadata kept whole, weights judged like any key),
 * metrics (JSON view, Prometheus text, retirement, persistence), rate-limit
 * policies and their header fields, alert rules, silences and inhibition,
 * and the edge router's in-flight bookkeeping. Each property is checked
 * against a reference model built on Maps, which have no prototype to trip on.
 * The same names through the Worker and its Durable Objects:
 * test/workers/prototype-names.test.ts.
 */
import fc from "fast-check";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { alertStatuses, createPipelineState, DEFAULT_PIPELINE_CONFIG, evaluate, type PipelineState } from "../../src/core/alerts/pipeline";
import { evaluateRules, type ServiceFacts } from "../../src/core/alerts/rules";
import { addSilence, type Silence } from "../../src/core/alerts/silences";
import type { Matcher } from "../../src/core/alerts/labels";
import { applyBatch, createMetricsState, removeInstance, serviceTotals } from "../../src/core/metrics/aggregate";
import { prometheusText } from "../../src/core/metrics/prometheus";
import { aggregateBatch, type OutcomeRecord } from "../../src/core/metrics/record";
import { tallyRequests } from "../../src/core/metrics/tally";
import { metricsView, type MetricsExtras } from "../../src/core/metrics/view";
import { rateLimitHeaders } from "../../src/core/ratelimit-headers";
import { parseConfig } from "../../src/config";
import { EdgeRouter, type EdgePick, type LocalLease } from "../../src/edge/edge-router";
import { policyFor, rateLimitClass } from "../../src/middleware/rate-limit";
import type { EdgeReport, FleetTable } from "../../src/contracts/registry";
import { RegisterBodySchema, ServiceNameSchema, ServiceSettingsBodySchema } from "../../src/http/schemas";
import { fieldErrors } from "../../src/http/validation";

/** Members of every plain object, as keys a client may choose (metadata keys, label values, instance ids). */
const PROTOTYPE_NAMES = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "prototype",
  "valueOf",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__defineGetter__",
  "__lookupSetter__",
] as const;

/** The same as valid service names (1-63 of a-z 0-9 -, starting with a letter). */
const PROTOTYPE_SERVICE_NAMES = ["constructor", "tostring", "hasownproperty", "valueof", "prototype", "proto", "isprototypeof", "tolocalestring"] as const;

const serviceNameArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_SERVICE_NAMES) },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/).filter((name) => v.is(ServiceNameSchema, name)) },
);

const instanceIdArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/) },
);

const metadataKeyArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) }, { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,16}$/) });
const metadataValueArb = fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES, "", "x"), fc.string({ maxLength: 24 }));

/** A JSON object's text with these members in this order: how a body arrives (JSON.parse makes "__proto__" an own key). */
function objectText(entries: readonly (readonly [string, unknown])[]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`;
}

const sortedEntries = (record: object) => Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Nothing written anywhere reached Object.prototype. */
function expectPrototypeUntouched(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(OBJECT_PROTOTYPE_NAMES);
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
}
const OBJECT_PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort();

describe("request schemas keep every client-chosen key", () => {
  it("registration metadata comes back exactly, through parsing, storage (JSON) and RPC (structured clone)", () => {
    fc.assert(
      fc.property(serviceNameArb, fc.uniqueArray(fc.tuple(metadataKeyArb, metadataValueArb), { selector: ([key]) => key, maxLength: 32 }), (service, entries) => {
        const body: unknown = JSON.parse(`{"service":${JSON.stringify(service)},"url":"https://instance.example.com/","metadata":${objectText(entries)}}`);
        const parsed = v.safeParse(RegisterBodySchema, body, { abortPipeEarly: true });
        expect(parsed.success, JSON.stringify(parsed.issues?.map((i) => i.message))).toBe(true);
        if (!parsed.success) return;
        expect(parsed.output.service).toBe(service);
        const metadata = parsed.output.metadata ?? {};
        expect(sortedEntries(metadata)).toEqual(sortedEntries(Object.fromEntries(entries)));
        expect(Object.keys(metadata)).toHaveLength(entries.length);
        // What the registry does with it: spread into its record, JSON into SQLite, structured clone over RPC.
        const stored = { ...metadata };
        expect(sortedEntries(JSON.parse(JSON.stringify(stored)) as object)).toEqual(sortedEntries(Object.fromEntries(entries)));
        expect(sortedEntries(structuredClone(stored))).toEqual(sortedEntries(Object.fromEntries(entries)));
        expectPrototypeUntouched();
      }),
      { numRuns: 300 },
    );
  });

  it("a bad metadata value is refused naming its key, whatever the key; more than 32 entries are refused, not cut", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(metadataKeyArb, metadataValueArb), { selector: ([key]) => key, minLength: 1, maxLength: 8 }), fc.nat(), fc.constantFrom<unknown>(5, null, { x: "y" }, ["a"], "v".repeat(257)), (entries, at, bad) => {
        const index = at % entries.length;
        const key = (entries[index] as readonly [string, string])[0];
        const withBad = entries.map(([k, value], i) => [k, i === index ? bad : value] as const);
        const parsed = v.safeParse(RegisterBodySchema, JSON.parse(`{"service":"api","binding":"API","metadata":${objectText(withBad)}}`), { abortPipeEarly: true });
        expect(parsed.success).toBe(false);
        expect(fieldErrors(parsed.issues ?? []).map((e) => e.field)).toContain(`metadata.${key}`);
      }),
      { numRuns: 150 },
    );
    const many = Array.from({ length: 33 }, (_, i) => [i === 0 ? "__proto__" : `k${i}`, "v"] as const);
    const parsed = v.safeParse(RegisterBodySchema, JSON.parse(`{"service":"api","binding":"API","metadata":${objectText(many)}}`));
    expect(parsed.success).toBe(false);
    expect(fieldErrors(parsed.issues ?? [])).toEqual([{ field: "metadata", message: "may have at most 32 entries" }]);
  });

  it("weights keep every key, so the registry judges a key named like a prototype member like any other", () => {
    const weightArb = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 1000 }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(0, 1001, 1.5, "x", null, "5") });
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(instanceIdArb, weightArb), { selector: ([id]) => id, minLength: 1, maxLength: 8 }), (entries) => {
        const parsed = v.safeParse(ServiceSettingsBodySchema, JSON.parse(`{"weights":${objectText(entries)}}`), { abortPipeEarly: true });
        const bad = entries.filter(([, weight]) => !(typeof weight === "number" && Number.isInteger(weight) && weight >= 1 && weight <= 1000));
        expect(parsed.success).toBe(bad.length === 0);
        if (parsed.success) expect(sortedEntries(parsed.output.weights ?? {})).toEqual(sortedEntries(Object.fromEntries(entries)));
        else expect(fieldErrors(parsed.issues).map((e) => e.field).sort()).toEqual(bad.map(([id]) => `weights.${id}`).sort());
      }),
      { numRuns: 300 },
    );
  });

  it("service names: the prototype-like valid names are accepted, __proto__ is not a service name", () => {
    for (const name of PROTOTYPE_SERVICE_NAMES) expect(v.is(ServiceNameSchema, name), name).toBe(true);
    for (const name of ["__proto__", "toString", "hasOwnProperty", "valueOf"]) expect(v.is(ServiceNameSchema, name), name).toBe(false);
  });
});

describe("metrics keyed by service name and instance id", () => {
  const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
  const recordArb = fc.record({ service: serviceNameArb, instance: instanceIdArb, statusClass: fc.constantFrom("2xx" as const, "4xx" as const, "5xx" as const), durationMs: fc.integer({ min: 1, max: 2_000 }), at: fc.integer({ min: NOW - 120_000, max: NOW }) });

  it("the JSON view and the Prometheus text count every service and instance exactly, and retirement keeps the totals", () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 40 }), fc.array(fc.tuple(serviceNameArb, instanceIdArb), { maxLength: 4 }), fc.nat(), (raw, idle, retireAt) => {
        const records: OutcomeRecord[] = raw.map((r) => ({ ...r, bytes: 10 }));
        // The model: Maps, which no name can trip.
        const model = new Map<string, Map<string, number>>();
        for (const r of records) {
          const instances = model.get(r.service) ?? new Map<string, number>();
          instances.set(r.instance, (instances.get(r.instance) ?? 0) + 1);
          model.set(r.service, instances);
        }
        // Registry extras: every instance with traffic, plus some without (health and in-flight only).
        const extras: Record<string, { status: "healthy"; instances: Record<string, { health: "healthy"; inflight: number }> }> = Object.create(null);
        const extrasOf = (service: string) => (extras[service] ??= { status: "healthy", instances: Object.create(null) });
        for (const [service, instances] of model) for (const id of instances.keys()) extrasOf(service).instances[id] = { health: "healthy", inflight: 0 };
        for (const [service, id] of idle) if (!model.get(service)?.has(id)) extrasOf(service).instances[id] = { health: "healthy", inflight: 2 };

        let state = applyBatch(createMetricsState(), aggregateBatch(records), NOW);
        // Persisted as JSON and read back, as MetricsDO does.
        state = JSON.parse(JSON.stringify(state)) as typeof state;
        const view = metricsView(state, NOW, extras as MetricsExtras);
        expect(view.global.totalRequests).toBe(records.length);
        const text = prometheusText(state, extras as MetricsExtras);
        for (const [service, instances] of model) {
          expect(Object.hasOwn(view.workers, service), service).toBe(true);
          const worker = view.workers[service];
          expect(worker?.totalRequests).toBe([...instances.values()].reduce((a, b) => a + b, 0));
          for (const [id, count] of instances) {
            expect(Object.hasOwn(worker?.instances ?? {}, id), `${service}/${id}`).toBe(true);
            expect(worker?.instances[id]?.totalRequests).toBe(count);
            const lines = text.split("\n").filter((line) => line.startsWith(`orchestrator_requests_total{service="${service}",instance="${id}",`));
            expect(lines.reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0), `${service}/${id}`).toBe(count);
          }
        }
        for (const [service, id] of idle) {
          if (model.get(service)?.has(id)) continue;
          expect(view.workers[service]?.instances[id]?.inflight).toBe(2);
          expect(text).toContain(`orchestrator_inflight_requests{service="${service}",instance="${id}"} 2\n`);
        }
        expect(text).not.toMatch(/NaN|undefined|\[object|function/);

        // Deregistering one instance moves its counts into the service's retired totals.
        const pairs = [...model].flatMap(([service, instances]) => [...instances.keys()].map((id) => [service, id] as const));
        const [service, id] = pairs[retireAt % pairs.length] as readonly [string, string];
        const retired = removeInstance(state, service, id, NOW);
        const before = state.services[service];
        const after = retired.services[service];
        expect(before && after && tallyRequests(serviceTotals(after))).toBe(before && tallyRequests(serviceTotals(before)));
        expect(Object.hasOwn(after?.instances ?? {}, id)).toBe(false);
        expect(Object.keys(after?.instances ?? {})).toHaveLength((model.get(service)?.size ?? 0) - 1);
        expect(metricsView(retired, NOW).global.totalRequests).toBe(records.length);
        expectPrototypeUntouched();
      }),
      { numRuns: 200 },
    );
  });
});

describe("rate-limit policies for any service name", () => {
  it("a real numeric policy and well-formed header fields; an override applies to exactly its service", () => {
    const plain = parseConfig({ RATE_LIMIT_GENERAL: "120" });
    fc.assert(
      fc.property(serviceNameArb, serviceNameArb, fc.integer({ min: 1, max: 1_000 }), (service, overridden, limit) => {
        expect(rateLimitClass(`/${service}/x`)).toEqual({ cls: "general", service });
        const config = parseConfig({ RATE_LIMIT_GENERAL: "120", RATE_LIMIT_SERVICES: objectText([[overridden, limit]]) });
        for (const [cfg, expected] of [
          [plain, { name: "general", limit: 120 }],
          [config, service === overridden ? { name: `general-${service}`, limit } : { name: "general", limit: 120 }],
        ] as const) {
          const policy = policyFor(cfg, "general", service);
          expect(policy).toMatchObject({ ...expected, burst: expected.limit });
          const fields = rateLimitHeaders(policy, { allowed: true, remaining: policy.limit - 1, resetMs: 500, retryAfterMs: 0 });
          expect(fields["ratelimit-policy"]).toBe(`"${expected.name}";q=${expected.limit};w=${cfg.rateLimits.periodMs / 1000}`);
          expect(fields.ratelimit).toMatch(new RegExp(`^"${expected.name}";r=\\d+;t=\\d+$`));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("alerts and silences over any service name, instance id and label", () => {
  const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
  const RULES = { errorRateThresholdPercent: 5, responseTimeThresholdMs: 1_000, minRequestVolume: 10, alertThreshold: 3 };
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const labelNameArb = fc.constantFrom("service", "instance", "alertname", "severity", "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf");

  const serviceFactsArb = fc.uniqueArray(
    fc.record({ service: serviceNameArb, instances: fc.uniqueArray(fc.record({ id: instanceIdArb, failing: fc.boolean() }), { selector: (i) => i.id, minLength: 1, maxLength: 3 }) }),
    { selector: (s) => s.service, minLength: 1, maxLength: 4 },
  );

  /** A matcher on a label: exact, a regex of the exact value, a prefix regex, or negated; the value is a name from the labels or a prototype name. */
  const matcherArb = (values: readonly string[]) =>
    fc.record({ name: labelNameArb, value: fc.constantFrom(...values, ...PROTOTYPE_NAMES), how: fc.constantFrom("exact", "regex", "prefix", "not") }).map(({ name, value, how }): Matcher => {
      if (how === "regex") return { name, value: escape(value), isRegex: true };
      if (how === "prefix") return { name, value: `${escape(value.slice(0, 3))}.*`, isRegex: true };
      if (how === "not") return { name, value, isEqual: false };
      return { name, value };
    });

  /** The reference: labels in a Map, a missing one reads "", regexes anchored at both ends (these patterns mean the same in RE2 and JS). */
  function modelMatches(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
    const map = new Map(Object.entries(labels));
    return matchers.every((m) => {
      const actual = map.get(m.name) ?? "";
      const hit = m.isRegex === true ? new RegExp(`^(?:${m.value})$`).test(actual) : actual === m.value;
      return m.isEqual === false ? !hit : hit;
    });
  }

  const caseArb = serviceFactsArb.chain((services) => {
    const values = services.flatMap((s) => [s.service, ...s.instances.map((i) => i.id)]);
    return fc.record({
      services: fc.constant(services),
      matchers: fc.oneof(
        // One service's name exactly, as an operator writes service="constructor" (or as a regex of it).
        fc.tuple(fc.constantFrom(...services.map((s) => s.service)), fc.boolean()).map(([service, regex]): Matcher[] => [{ name: "service", value: regex ? escape(service) : service, ...(regex ? { isRegex: true } : {}) }]),
        fc.array(matcherArb(values), { minLength: 1, maxLength: 3 }),
      ),
    });
  });

  it("rules label each alert with its service and instance; a silence mutes exactly the alerts its matchers select, before and after persistence", () => {
    fc.assert(
      fc.property(caseArb, ({ services, matchers }) => {
        const facts: ServiceFacts[] = services.map((s) => ({
          service: s.service,
          seed: false,
          instances: s.instances.map((i) => ({ id: i.id, health: i.failing ? "unhealthy" : "healthy", consecutiveFailures: i.failing ? 5 : 0, heartbeatLapsed: false })),
          window: { minutes: 5, requests: 0, errorRatePercent: 0, p95Ms: null },
        }));
        const firing = evaluateRules(facts, RULES, NOW);
        for (const s of services) {
          const failing = s.instances.filter((i) => i.failing);
          const mine = firing.filter((a) => a.labels.service === s.service);
          expect(mine.filter((a) => a.labels.alertname === "InstanceUnhealthy").map((a) => a.labels.instance).sort()).toEqual(failing.map((i) => i.id).sort());
          expect(mine.some((a) => a.labels.alertname === "ServiceDown")).toBe(failing.length === s.instances.length);
        }

        const silence: Silence = { id: "s1", matchers, startsAt: NOW - 1_000, endsAt: NOW + 3_600_000, createdBy: "prop", comment: "prop" };
        const added = addSilence([], silence, NOW);
        // Refused only for the documented reason: every matcher would accept an alert without the label.
        if (!added.ok) {
          expect(added.error).toMatch(/non-empty/);
          expect(modelMatches(matchers, {})).toBe(true);
          return;
        }

        const config = { ...DEFAULT_PIPELINE_CONFIG, groupWaitMs: 0 };
        const first = evaluate(createPipelineState(added.silences), firing, NOW, config);
        // Persisted as JSON and read back, as MetricsDO does.
        const state = JSON.parse(JSON.stringify(first.state)) as PipelineState;
        const statuses = alertStatuses(state, NOW, config);
        expect(statuses).toHaveLength(firing.length);
        const sources = statuses.map((s) => s.alert.labels);
        for (const status of statuses) {
          const labels = status.alert.labels;
          const silenced = modelMatches(matchers, labels);
          expect(status.silencedBy, JSON.stringify(labels)).toEqual(silenced ? ["s1"] : []);
          // ServiceDown inhibits the other alerts of the same service only.
          const inhibited = labels.alertname !== "ServiceDown" && sources.some((l) => l.alertname === "ServiceDown" && l.service === labels.service);
          expect(status.inhibited, JSON.stringify(labels)).toBe(inhibited);
          expect(status.state).toBe(silenced || inhibited ? "suppressed" : "active");
        }
        // What was notified is exactly what is neither silenced nor inhibited.
        const notified = first.notifications.flatMap((n) => n.alerts.map((a) => a.fingerprint)).sort();
        expect(notified).toEqual(statuses.filter((s) => s.state === "active").map((s) => s.alert.fingerprint).sort());
        expectPrototypeUntouched();
      }),
      { numRuns: 300 },
    );
  });
});

describe("the edge router's in-flight bookkeeping keyed by instance id", () => {
  /** A registry model on Maps: every isolate's last reported counts, summed per instance. */
  function modelRegistry(service: string, ids: readonly string[]) {
    const reports = new Map<string, Map<string, number>>();
    let version = 0;
    const total = (id: string) => [...reports.values()].reduce((sum, r) => sum + (r.get(id) ?? 0), 0);
    return {
      reports,
      sync(report: EdgeReport, now: number): FleetTable {
        reports.set(report.isolateId, new Map(Object.entries(report.inflight)));
        version++;
        return {
          version,
          generatedAt: now,
          panicThresholdPercent: 0,
          retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 },
          services: [
            {
              service,
              stopped: false,
              strategy: "least-connections",
              timeoutMs: 1_000,
              instances: ids.map((id) => ({ id, target: { kind: "url", url: "https://i.example.com/" }, weight: 100, health: "healthy", score: 100, inflight: total(id) })),
            },
          ],
        };
      },
    };
  }

  it("least-connections sends each request to an instance with the fewest in flight, across syncs, whatever the ids are called", async () => {
    await fc.assert(
      fc.asyncProperty(
        serviceNameArb,
        fc.uniqueArray(instanceIdArb, { minLength: 2, maxLength: 5 }),
        fc.array(fc.constantFrom("pick", "pick", "release", "sync"), { minLength: 1, maxLength: 60 }),
        async (service, ids, steps) => {
          const clock = { now: 0 };
          const registry = modelRegistry(service, ids);
          const router = new EdgeRouter({ isolateId: "iso", now: () => clock.now, sync: async (report) => registry.sync(report, clock.now), softTtlMs: 1_000, hardTtlMs: 30_000, reportIntervalMs: 5_000 });
          const held: LocalLease[] = [];
          const counts = new Map<string, number>();
          const lease = (pick: EdgePick): LocalLease => {
            if ("ok" in pick) throw new Error(pick.problem.title);
            return pick;
          };
          for (const step of steps) {
            clock.now += 10;
            if (step === "pick") {
              const picked = lease(await router.pick(service));
              // With one isolate the registry's counts are this isolate's: the pick goes to an instance with the fewest.
              const fewest = Math.min(...ids.map((id) => counts.get(id) ?? 0));
              expect(counts.get(picked.instanceId) ?? 0, `${picked.instanceId} in ${JSON.stringify([...counts])}`).toBe(fewest);
              held.push(picked);
              counts.set(picked.instanceId, (counts.get(picked.instanceId) ?? 0) + 1);
            } else if (step === "release" && held.length > 0) {
              const done = held.shift() as LocalLease;
              router.release(done, { status: 200, durationMs: 5, failure: null });
              counts.set(done.instanceId, (counts.get(done.instanceId) ?? 1) - 1);
            } else if (step === "sync") {
              await router.reportNow();
            }
            const local = router.localInflight();
            for (const id of ids) expect(Object.hasOwn(local, id) ? local[id] : 0, id).toBe(counts.get(id) ?? 0);
          }
          // The registry heard counts that were exact for each id.
          await router.reportNow();
          for (const id of ids) expect(registry.reports.get("iso")?.get(id) ?? 0, id).toBe(counts.get(id) ?? 0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
