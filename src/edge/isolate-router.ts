/**
 * The one EdgeRouter of this isolate, wired to RegistryDO and to the
 * location's shared table (the Cache API). Module state lives as long as the
 * isolate; the environment is the same object for every request an isolate
 * serves, so binding to the first one is safe.
 */
import { configFor } from "../config";
import { countDoCall } from "../platform/do-calls";
import { registryStub, singletonId, REGISTRY_NAME } from "../platform/stubs";
import type { FleetTable } from "../contracts/registry";
import { EdgeRouter, type SharedTableStore } from "./edge-router";

let router: EdgeRouter | null = null;
/** When the earliest scheduled flush wakes, or null when none is. */
let flushAt: number | null = null;
const LOST_FLUSH_MS = 2_000;

export function edgeRouter(env: Env): EdgeRouter {
  if (router !== null) return router;
  const settings = configFor(env).edge;
  router = new EdgeRouter({
    isolateId: crypto.randomUUID(),
    now: () => Date.now(),
    sync: (report, awaited) => {
      countDoCall("registry", 1, awaited);
      return registryStub(env).edgeSync(report);
    },
    shared: locationTableStore(env, settings.softTtlMs),
    softTtlMs: settings.softTtlMs,
    hardTtlMs: settings.hardTtlMs,
    reportIntervalMs: settings.reportIntervalMs,
  });
  return router;
}

/**
 * After a pick or a release: make sure the registry hears of it when it is
 * due, even if traffic stops now. A flush sends only what is still owed when
 * it wakes (a refresh may have carried it already) and re-arms itself while a
 * report stays owed. One is scheduled at a time, unless a report becomes due
 * sooner than the scheduled one wakes (an urgent report after a routine one).
 */
export function scheduleEdgeFlush(env: Env, ctx: ExecutionContext, delayMs: number | null): void {
  if (delayMs === null) return;
  const now = Date.now();
  const at = now + delayMs;
  // A scheduled flush that should have woken a while ago was lost with the request keeping it
  // alive (ctx.waitUntil has its limits); it no longer stands in the way.
  if (flushAt !== null && flushAt <= at && flushAt > now - LOST_FLUSH_MS) return;
  flushAt = at;
  const run = async (delay: number): Promise<void> => {
    await new Promise((resolve) => setTimeout(resolve, delay));
    const next = await edgeRouter(env).flush();
    if (next === null) return;
    const nextAt = Date.now() + next;
    // Another scheduled flush wakes in time for it.
    if (flushAt !== null && flushAt > Date.now() && flushAt <= nextAt) return;
    flushAt = nextAt;
    return run(next);
  };
  ctx.waitUntil(
    run(delayMs)
      .catch((error: unknown) => console.error(JSON.stringify({ level: "error", message: "edge report failed", error: String(error) })))
      .finally(() => {
        if (flushAt !== null && flushAt <= Date.now()) flushAt = null;
      }),
  );
}

/**
 * The latest table, shared by the isolates of one location through
 * `caches.default` (per data centre, not replicated). Keyed by the registry's
 * id, so two deployments on one zone never read each other's. Where there is
 * no cache (plain workerd without a cache service: "No Cache was configured";
 * on workers.dev it is a no-op), the store turns itself off and the isolate
 * asks the registry instead.
 */
function locationTableStore(env: Env, softTtlMs: number): SharedTableStore | undefined {
  if (typeof caches === "undefined") return undefined;
  const key = `https://edge-table.orchestrator.invalid/v1/${singletonId(env.REGISTRY, REGISTRY_NAME).toString()}`;
  const maxAgeSeconds = Math.max(1, Math.ceil(softTtlMs / 1000));
  let broken = false;
  const guard = async <T>(work: () => Promise<T>, fallback: T): Promise<T> => {
    if (broken) return fallback;
    try {
      return await work();
    } catch (error) {
      broken = true;
      console.warn(JSON.stringify({ level: "warn", message: "location table cache unavailable; using the registry alone", error: String(error) }));
      return fallback;
    }
  };
  return {
    read: () =>
      guard(async () => {
        const hit = await caches.default.match(key);
        if (!hit) return null;
        // A foreign or truncated entry is a miss, not a reason to give up on the cache.
        const table: unknown = await hit.json().catch(() => null);
        return isFleetTable(table) ? table : null;
      }, null),
    write: (table) =>
      guard(async () => {
        await caches.default.put(key, new Response(JSON.stringify(table), { headers: { "content-type": "application/json", "cache-control": `max-age=${maxAgeSeconds}` } }));
      }, undefined),
  };
}

/** Enough of a shape check that a foreign entry is a miss, not a crash. */
function isFleetTable(value: unknown): value is FleetTable {
  if (typeof value !== "object" || value === null) return false;
  const t = value as Partial<FleetTable>;
  return typeof t.version === "number" && typeof t.generatedAt === "number" && Array.isArray(t.services) && typeof t.panicThresholdPercent === "number" && typeof t.retryBudget === "object";
}
