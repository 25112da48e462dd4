/**
 * Scale checks at the size the issue names: 500 instances. Registers 498 more
 * (distinct paths on the nginx upstream), restarts their service so that all
 * of them are due for a check, measures how long until every one has been
 * probed again (the issue asks for inside one 30 s interval), then times
 * GET /metrics. The health sweep at fleet scale (issue #17: 500 instances that
 * all time out, 2,000 healthy ones) is in sweep-scale.mjs; its lines are printed
 * after these.
 */
import { sleep } from "../lib/wait.mjs";
import { HOST, say } from "./config.mjs";
import { round } from "./format.mjs";
import { expectStatus, orchestratorVars } from "./orchestrator.mjs";
import { printSweepScale } from "./sweep-scale.mjs";

export async function measureScale(orchestrator, upstreamPort) {
  const { call } = orchestrator;
  const ids = [];
  for (let i = 0; i < 498; i++) {
    const r = await call("POST", "/registry/instances", "registration", { service: "scale", url: `http://${HOST}:${upstreamPort}/i/${i}`, ttlSeconds: 3600 });
    expectStatus(r, [201], "registering a scale instance");
    ids.push(r.json.id);
  }
  // A restart forgets every instance's last check (lastCheckAt goes back to null), so every one of them is
  // due at once. Measured: how long until all 498 have been probed again, however the loop splits the work
  // into sweeps, and the longest single sweep seen meanwhile.
  const restartedAt = Date.now();
  expectStatus(await call("POST", "/admin/workers/scale/restart", "admin"), [200], "restarting the scale service");
  say(`registered ${ids.length} more instances (500 in all); waiting until a sweep has probed them all again`);
  let allProbedAfterMs = null;
  let probed = 0;
  let longestSweepMs = 0;
  let sweepsSeen = 0;
  let lastSweepAt = null;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const [registry, state] = await Promise.all([call("GET", "/debug/registry", "admin"), call("GET", "/admin/dashboard/state", "admin")]);
    const loop = state.json?.loop ?? null;
    if (loop && loop.lastSweepAt > restartedAt && loop.lastSweepAt !== lastSweepAt) {
      lastSweepAt = loop.lastSweepAt;
      sweepsSeen++;
      longestSweepMs = Math.max(longestSweepMs, loop.lastSweepDurationMs ?? 0);
    }
    const scaleService = registry.json?.services?.find((service) => service.name === "scale");
    probed = scaleService?.instances?.filter((instance) => instance.activeCheck?.lastCheckAt !== null).length ?? 0;
    if (probed >= ids.length) {
      allProbedAfterMs = Date.now() - restartedAt;
      break;
    }
    await sleep(250);
  }
  const latencies = [];
  for (let i = 0; i < 30; i++) {
    const started = performance.now();
    const r = await call("GET", "/metrics", null);
    expectStatus(r, [200], "GET /metrics");
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  for (const id of ids) await call("DELETE", `/registry/instances/${id}`, "registration");
  return {
    instances: 500,
    sweep: { instances: ids.length, probed, allProbedAfterMs, longestSweepMs, sweepsSeen, intervalMs: Number(orchestratorVars("", "").HEALTH_CHECK_INTERVAL_MS) },
    metrics: { samples: latencies.length, p50Ms: round(latencies[Math.floor(latencies.length / 2)], 1), maxMs: round(latencies.at(-1), 1) },
  };
}

/** The scale checks' lines of the printed report: these two, then the health sweep at fleet scale (sweep-scale.mjs). */
export function printScale(scale) {
  const { sweep } = scale;
  say(
    sweep.allProbedAfterMs === null
      ? `500-instance health sweep: only ${sweep.probed} of ${sweep.instances} probed again within 60 s of a restart`
      : `500-instance health sweep: all ${sweep.instances} probed again within ${sweep.allProbedAfterMs} ms of a restart (polled every 250 ms; longest single sweep seen ${sweep.longestSweepMs} ms; check interval ${sweep.intervalMs} ms)`,
  );
  say(`GET /metrics with ${scale.instances} instances: p50 ${scale.metrics.p50Ms} ms, max ${scale.metrics.maxMs} ms over ${scale.metrics.samples} requests`);
  printSweepScale(scale);
}
