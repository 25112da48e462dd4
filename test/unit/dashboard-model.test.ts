/**
 * What the dashboard page derives from the live view (dashboard/public/model.js):
 * per-service counts, the "needs attention" list, search and state filters, and
 * the table's sort. Plain browser JavaScript with no DOM, run here in Node.
 */
import { describe, expect, it } from "vitest";
import { attention, instanceProblems, sortRows, summarize, versionMixText, visibleRows } from "../../dashboard/public/model.js";

const NOW = 1_800_000_000_000;

interface Instance {
  service: string;
  target: string;
  health: string;
  admin?: string;
  name?: string;
  ejectedUntil?: number;
  heartbeat?: string;
  version?: string;
}

function view(services: Record<string, { status: string; admin?: string; rps?: number; p95?: number | null; errors?: number; panic?: boolean }>, instances: Record<string, Instance>, alerts: Record<string, { state: string; name: string; service?: string; instance?: string }> = {}) {
  return {
    services: new Map(
      Object.entries(services).map(([name, s]) => [
        name,
        { status: s.status, admin: s.admin ?? "active", strategy: "round-robin", inflight: 0, requests: 0, rps: s.rps ?? 0, errorRate: 0, recent: { errorRate: s.errors ?? 0, p50: null, p95: s.p95 ?? null, p99: null }, ...(s.panic ? { panic: true } : {}) },
      ]),
    ),
    instances: new Map(Object.entries(instances)),
    alerts: new Map(Object.entries(alerts)),
  };
}

const inst = (service: string, i: number, over: Partial<Instance> = {}): Instance => ({ service, target: `http://127.0.0.1:4000/${service}/i-${i}`, health: "healthy", name: `${service}-i${i}`, ...over });

function fleet() {
  return view(
    { api: { status: "healthy", rps: 5, p95: 12 }, billing: { status: "degraded", rps: 1, p95: 80, errors: 3 }, search: { status: "stopped", admin: "stopped" }, empty: { status: "no-instances" } },
    {
      a1: inst("api", 1),
      a2: inst("api", 2),
      a10: inst("api", 10),
      b1: inst("billing", 1, { health: "unhealthy" }),
      b2: inst("billing", 2, { ejectedUntil: NOW + 10_000 }),
      b3: inst("billing", 3, { ejectedUntil: NOW - 1 }),
      b4: inst("billing", 4, { admin: "stopped" }),
      s1: inst("search", 1, { admin: "stopped" }),
    },
    { f1: { state: "active", name: "InstanceUnhealthy", service: "billing", instance: "b1" }, f2: { state: "suppressed", name: "HighLatency", service: "api" } },
  );
}

describe("dashboard model", () => {
  it("counts each service's instances and lists them needing-attention first, then by name (i2 before i10)", () => {
    const summaries = summarize(fleet(), NOW);
    expect(summaries.get("api")).toMatchObject({ ids: ["a1", "a2", "a10"], total: 3, healthy: 3, problems: 0 });
    // Healthy means serving: the ejected and the stopped one are not.
    expect(summaries.get("billing")).toMatchObject({ ids: ["b1", "b2", "b4", "b3"], total: 4, healthy: 1, unhealthy: 1, ejected: 1, stopped: 1, problems: 3 });
    expect(summaries.get("empty")).toMatchObject({ ids: [], total: 0 });
  });

  it("counts each service's instances per version, most first, and names them only when they differ", () => {
    const v = view({ bank: { status: "healthy" } }, { b1: inst("bank", 1, { version: "v1" }), b2: inst("bank", 2, { version: "v2" }), b3: inst("bank", 3, { version: "v1" }), b4: inst("bank", 4) });
    const summaries = summarize(v, NOW);
    expect([...summaries.get("bank").versions]).toEqual([["v1", 2], ["v2", 1], ["", 1]]);
    expect(versionMixText(summaries.get("bank").versions)).toBe("v1 ×2 · unversioned ×1 · v2 ×1");
    expect(versionMixText(summarize(fleet(), NOW).get("api").versions)).toBe("");
    const same = view({ bank: { status: "healthy" } }, { b1: inst("bank", 1, { version: "v1" }), b2: inst("bank", 2, { version: "v1" }) });
    expect(versionMixText(summarize(same, NOW).get("bank").versions)).toBe("");
  });

  it("says why an instance needs attention; an ejection that is over does not count", () => {
    expect(instanceProblems(inst("x", 1, { health: "unhealthy", ejectedUntil: NOW + 1, heartbeat: "critical", admin: "stopped" }), NOW)).toEqual(["unhealthy", "ejected", "heartbeat lapsed", "stopped"]);
    expect(instanceProblems(inst("x", 1, { ejectedUntil: NOW }), NOW)).toEqual([]);
  });

  it("names what needs attention, worst first, with the instances and firing alerts behind it", () => {
    const v = fleet();
    const items = attention(v, summarize(v, NOW), NOW);
    // Degraded with unhealthy instances, then stopped on purpose, then a service no instance is left in.
    expect(items.map((i) => i.name)).toEqual(["billing", "search", "empty"]);
    expect(items[0]).toMatchObject({ status: "degraded", reasons: ["1 unhealthy", "1 ejected", "1 stopped"], instances: ["b1", "b2", "b4"], total: 4 });
    expect(items[0]?.alerts.map((a: { name: string }) => a.name)).toEqual(["InstanceUnhealthy"]);
    expect(items[1]).toMatchObject({ reasons: ["stopped by an operator"] });
    expect(items[2]).toMatchObject({ reasons: ["no instances"] });
    // api has only a suppressed alert: nothing to do.
    expect(items.some((i) => i.name === "api")).toBe(false);
  });

  it("names services left without instances (and no alert) on one line, last", () => {
    const v = view({ api: { status: "unhealthy" }, gone1: { status: "no-instances" }, gone2: { status: "no-instances" }, seed: { status: "no-instances" } }, { a1: inst("api", 1, { health: "unhealthy" }) }, {
      f1: { state: "active", name: "NoInstances", service: "seed", severity: "critical" } as never,
    });
    const items = attention(v, summarize(v, NOW), NOW);
    // The seed service's critical alert makes it as urgent as the unhealthy one; the other two are grouped.
    expect(items.map((i: { name: string | null }) => i.name)).toEqual(["api", "seed", null]);
    expect(items[2]).toMatchObject({ status: "no-instances", group: ["gone1", "gone2"] });
    expect(visibleRows(v, summarize(v, NOW), { q: "", state: "empty" }, NOW).map((r: { name: string }) => r.name)).toEqual(["gone1", "gone2", "seed"]);
  });

  it("narrows to one instance by id, name or target; a service's name keeps all its instances", () => {
    const v = fleet();
    const s = summarize(v, NOW);
    expect(visibleRows(v, s, { q: "b2", state: "all" }, NOW)).toEqual([{ name: "billing", ids: ["b2"], narrowed: true }]);
    expect(visibleRows(v, s, { q: "API-I10", state: "all" }, NOW)).toEqual([{ name: "api", ids: ["a10"], narrowed: true }]);
    // Its only instance: nothing left out.
    expect(visibleRows(v, s, { q: "4000/search/", state: "all" }, NOW)).toEqual([{ name: "search", ids: ["s1"], narrowed: false }]);
    expect(visibleRows(v, s, { q: " bill ", state: "all" }, NOW)).toEqual([{ name: "billing", ids: ["b1", "b2", "b4", "b3"], narrowed: false }]);
    expect(visibleRows(v, s, { q: "nothing-like-it", state: "all" }, NOW)).toEqual([]);
    expect(visibleRows(v, s, { q: "", state: "all" }, NOW)).toHaveLength(4);
  });

  it("filters by state: instances in it, and services that are in it themselves", () => {
    const v = fleet();
    const s = summarize(v, NOW);
    const names = (state: string) => visibleRows(v, s, { q: "", state }, NOW).map((r: { name: string; ids: string[] }) => `${r.name}:${r.ids.join(",")}`);
    expect(names("unhealthy")).toEqual(["billing:b1"]);
    expect(names("ejected")).toEqual(["billing:b2"]);
    expect(names("stopped")).toEqual(["billing:b4", "search:s1"]);
    expect(names("problems")).toEqual(["billing:b1,b2,b4", "search:s1", "empty:"]);
    expect(names("healthy")).toEqual(["api:a1,a2,a10", "billing:b3"]);
    // A search and a state together.
    expect(visibleRows(v, s, { q: "billing", state: "unhealthy" }, NOW)).toEqual([{ name: "billing", ids: ["b1"], narrowed: true }]);
  });

  it("sorts by a column either way, ties by name", () => {
    const v = fleet();
    const s = summarize(v, NOW);
    const order = (key: string, dir: number) => sortRows(visibleRows(v, s, { q: "", state: "all" }, NOW), v, s, key, dir).map((r: { name: string }) => r.name);
    expect(order("status", 1)).toEqual(["billing", "search", "empty", "api"]);
    expect(order("name", -1)).toEqual(["search", "empty", "billing", "api"]);
    expect(order("rps", -1)).toEqual(["api", "billing", "empty", "search"]);
    expect(order("p95", -1)).toEqual(["billing", "api", "empty", "search"]);
    expect(order("instances", 1)).toEqual(["search", "billing", "api", "empty"]);
  });

  it("treats names that are Object.prototype members like any other", () => {
    const v = view({ __proto__: { status: "unhealthy" }, constructor: { status: "healthy" } } as never, { toString: inst("__proto__", 1, { health: "unhealthy" }) });
    const s = summarize(v, NOW);
    expect(s.get("__proto__")?.ids).toEqual(["toString"]);
    expect(attention(v, s, NOW).map((i: { name: string }) => i.name)).toEqual(["__proto__"]);
    expect(visibleRows(v, s, { q: "tostring", state: "all" }, NOW)).toEqual([{ name: "__proto__", ids: ["toString"], narrowed: false }]);
    expect(visibleRows(v, s, { q: "constructor", state: "all" }, NOW)).toEqual([{ name: "constructor", ids: [], narrowed: false }]);
  });
});
