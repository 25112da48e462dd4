/**
 * The orchestrator rows: once per load-balancing strategy, with its Durable Objects' SQLite
 * files where --storage says; then round-robin once more with the other storage (how much of
 * the cost is disk I/O) and once more logging every request (what the access log costs).
 */
import { HOST, say, STRATEGIES } from "./config.mjs";
import { doCallDelta, expectStatus } from "./orchestrator.mjs";
import { sleep } from "../lib/wait.mjs";

/**
 * The orchestrator runs in order: { storage, accessLog, strategy, variant } (variant null for a plain strategy row).
 *
 * @param {import("./config.mjs").BenchOptions} options
 */
export function orchestratorRuns(options) {
  const otherStorage = options.storage === "disk" ? "tmpfs" : "disk";
  // --smoke (the test suite's check that the bench still works): one strategy, one storage.
  // The access log is "errors" (every response with status >= 400) for the strategy runs, as nginx here runs
  // with access_log off; one more round-robin run logs every request (ACCESS_LOG=all, the default) to show its cost.
  return options.smoke
    ? [{ storage: options.storage, accessLog: "errors", strategy: "round-robin", variant: null }]
    : [
        ...STRATEGIES.map((strategy) => ({ storage: options.storage, accessLog: "errors", strategy, variant: null })),
        { storage: otherStorage, accessLog: "errors", strategy: "round-robin", variant: { id: otherStorage, label: `DO storage ${otherStorage}` } },
        { storage: options.storage, accessLog: "all", strategy: "round-robin", variant: { id: "access-log", label: "access log of every request" } },
      ];
}

/** A run's result id and table label. */
export function runName(run) {
  return {
    id: `orchestrator-${run.strategy}${run.variant === null ? "" : `-${run.variant.id}`}`,
    label: `orchestrator ${run.strategy}${run.variant === null ? "" : ` (${run.variant.label})`}`,
  };
}

/**
 * One orchestrator row: sets the strategy, heartbeats both instances, checks one request, then
 * measures with Durable Object calls read before and after and the registry's leases checked after.
 */
/** How long after a run the registry's in-flight counts are watched for their return to 0. */
const DRAIN_WATCH_MS = 5_000;

function totalInflight(registry, instanceIds) {
  return instanceIds.reduce((sum, id) => sum + (registry?.inflight?.[id] ?? 0), 0);
}

export async function measureOrchestrator(measure, orchestrator, strategy, { id, label, servers, storage }) {
  const configured = await orchestrator.call("PUT", "/admin/services/bench", "admin", { strategy });
  expectStatus(configured, [200, 201], `setting strategy ${strategy}`);
  for (const instanceId of orchestrator.instanceIds) {
    expectStatus(await orchestrator.call("PUT", `/registry/instances/${instanceId}/heartbeat`, "registration"), [200], "heartbeat");
  }
  const first = await orchestrator.call("GET", "/bench/anything");
  expectStatus(first, [200], `a first request through the orchestrator (${strategy})`);
  const result = await measure(id, label, `http://${HOST}:${orchestrator.port}/bench/anything`, servers, {
    before: () => orchestrator.doCalls(),
    after: async (before) => {
      const after = await orchestrator.doCalls();
      // Every isolate reports its last requests' end within a soft TTL (EDGE_TABLE_SOFT_TTL_MS, 1 s):
      // watch the registry's counts come back to 0, for at most 5 s.
      const endedAt = Date.now();
      let registry = await orchestrator.call("GET", "/debug/registry", "admin");
      while (totalInflight(registry.json, orchestrator.instanceIds) > 0 && Date.now() - endedAt < DRAIN_WATCH_MS) {
        await sleep(250);
        registry = await orchestrator.call("GET", "/debug/registry", "admin");
      }
      const drainedAfterMs = totalInflight(registry.json, orchestrator.instanceIds) === 0 ? Date.now() - endedAt : null;
      const service = registry.json?.services?.find((s) => s.name === "bench");
      return {
        strategy,
        durableObjectStorage: storage,
        doCalls: doCallDelta(before, after),
        registryAfter: {
          drainedAfterMs,
          inflight: Object.fromEntries(orchestrator.instanceIds.map((i) => [i, registry.json?.inflight?.[i] ?? null])),
          panic: service?.panic ?? null,
          instances:
            service?.instances?.map((i) => ({
              id: i.id,
              health: i.health,
              checkStatus: i.checkStatus,
              activeCheck: i.activeCheck?.status,
              ejectedUntil: i.ejectedUntil,
              responseTimeMs: i.responseTimeMs,
              errorRate: i.errorRate,
            })) ?? null,
        },
      };
    },
  });
  const failed = result.non2xx + result.socketErrors.total;
  if (failed > 0.01 * Math.max(1, result.requests)) {
    const sample = await orchestrator.call("GET", "/bench/anything");
    result.sampleResponse = { status: sample.status, body: sample.text.slice(0, 600) };
    say(`  ${failed} failed requests; one request now answers ${sample.status}: ${sample.text.slice(0, 200)}`);
  }
  const leaked = Object.values(result.registryAfter.inflight).reduce((sum, n) => sum + (n ?? 0), 0);
  if (leaked > 0) say(`  note: ${leaked} request(s) still counted in flight ${DRAIN_WATCH_MS / 1000} s after the run`);
  else say(`  in-flight counts back to 0 within ${result.registryAfter.drainedAfterMs} ms of the run's end`);
}
