/**
 * The health sweep at fleet scale (issue #17). Each check runs on an orchestrator
 * of its own whose settings (SWEEP_SCALE_VARS: 1 s probe timeout, 10 s interval)
 * make a sweep's worst case short enough for a bench, against an upstream in this
 * process (probe-upstream.mjs) that records every probe, by instance:
 *
 *   1. 500 instances that all time out, all due at once: registered while the
 *      upstream still answers them (their first probes pass quickly), then, at a
 *      moment with no probe in flight, the upstream stops answering and the service
 *      is restarted, which forgets every instance's last check. Measured from the
 *      restart: until the upstream has seen a probe of every one (against one
 *      interval, and against 500 × timeout / 6, the time without shards), until
 *      every round was decided, the sweep's shards, rounds and RegistryDO calls, and
 *      the probes open at once, in all and in each prober (six per invocation).
 *   2. 500 new instances that time out from the start: from the last registration
 *      until the upstream has seen a probe of every one, while the fleet grows
 *      (each registration asks for a probe at once, so sweeps run all along).
 *   3. 2,000 healthy instances (four services: a service holds at most 500):
 *      first probes while they register, then a restart as in 1: until every one
 *      has been probed, and the sweep that probed them: its RegistryDO calls
 *      (1 healthTargets + 1 applyProbeResults per round) and its duration against
 *      the interval.
 *
 * After each restart one instance is registered again (the 409 that hands it its
 * old id asks for a probe at once): a restart alone does not wake the sweeper,
 * which would find the instances due only at its next scheduled sweep. Every wait
 * ends at DEADLINE_INTERVALS intervals and reports what it got.
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { sleep } from "../lib/wait.mjs";
import { HOST, ROOT, say } from "./config.mjs";
import { fmtInt, round } from "./format.mjs";
import { expectStatus } from "./orchestrator.mjs";
import { CLOSE_TOLERANCE_MS } from "./probe-upstream.mjs";

/** The scale checks' health settings: a sweep of 500 timeouts takes seconds, not minutes. */
export const SWEEP_SCALE_TIMEOUT_MS = 1_000;
export const SWEEP_SCALE_INTERVAL_MS = 10_000;
export const SWEEP_SCALE_VARS = {
  HEALTH_CHECK_TIMEOUT_MS: String(SWEEP_SCALE_TIMEOUT_MS),
  HEALTH_CHECK_INTERVAL_MS: String(SWEEP_SCALE_INTERVAL_MS),
};
/** Each wait gives up after this many intervals. */
const DEADLINE_INTERVALS = 3;
/** Registrations in flight at once. */
const REGISTER_CONCURRENCY = 16;
/** How often the loop status is read (GET /admin/dashboard/state, itself one RegistryDO snapshot call). */
const STATE_POLL_MS = 250;
/** How often the upstream's own record is checked (in this process: free). */
const UPSTREAM_POLL_MS = 25;
/** Probes one prober invocation runs at once (MAX_OUTBOUND_CONNECTIONS in src/core/health/probe-plan.ts). */
const PER_PROBER = 6;
/** A service holds at most this many instances (MAX_INSTANCES_PER_SERVICE): larger fleets are several services. */
const PER_SERVICE = 500;

/**
 * The product's own sharding (src/core/health), bundled on the fly with the esbuild that
 * wrangler brings, so the bench can tell which prober probed which instance. Null when
 * esbuild is not there: the per-prober figures are then left out.
 */
export async function loadHealthCore() {
  try {
    const { build } = await import("esbuild");
    const out = await build({
      entryPoints: [join(ROOT, "src", "core", "health", "index.ts")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      write: false,
      logLevel: "silent",
    });
    const text = out.outputFiles[0].text;
    const health = await import(`data:text/javascript;base64,${Buffer.from(text).toString("base64")}`);
    if (health.MAX_OUTBOUND_CONNECTIONS !== PER_PROBER) say(`note: probers now run ${health.MAX_OUTBOUND_CONNECTIONS} probes at once, the report assumes ${PER_PROBER}`);
    return health;
  } catch (error) {
    say(`note: could not load src/core/health for the per-prober figures (${error instanceof Error ? error.message : String(error)})`);
    return null;
  }
}

/** Instance n's service: `service`, or with more than PER_SERVICE instances `service`-0, -1, … */
function serviceOf(service, count, n) {
  return count <= PER_SERVICE ? service : `${service}-${Math.floor(n / PER_SERVICE)}`;
}

/**
 * Registers `count` instances at /<fleet>/<n> on the upstream, REGISTER_CONCURRENCY at a time
 * (each one asks for a probe at once). ids[n] is instance n's.
 */
async function registerFleet(call, upstream, { service, fleet, count }) {
  const serviceOfN = (n) => serviceOf(service, count, n);
  const urlOf = (n) => `http://${HOST}:${upstream.port}/${fleet}/${n}`;
  const ids = new Array(count);
  let next = 0;
  const firstAt = Date.now();
  const worker = async () => {
    while (next < count) {
      const n = next++;
      const r = await call("POST", "/registry/instances", "registration", { service: serviceOfN(n), url: urlOf(n), ttlSeconds: 3600 });
      expectStatus(r, [201], `registering instance ${n} of ${serviceOfN(n)}`);
      ids[n] = r.json.id;
    }
  };
  await Promise.all(Array.from({ length: REGISTER_CONCURRENCY }, worker));
  const lastAt = Date.now();
  const services = [...new Set(ids.map((_, n) => serviceOfN(n)))];
  say(`registered ${fmtInt(count)} instances (${services.map((s) => `"${s}"`).join(", ")}) in ${fmtInt(lastAt - firstAt)} ms`);
  return { ids, keys: ids.map((_, n) => `${fleet}/${n}`), services, firstAt, lastAt, serviceOfN, urlOf };
}

async function loopStatus(call) {
  const r = await call("GET", "/admin/dashboard/state", "admin");
  expectStatus(r, [200], "reading the loop status");
  return r.json.loop;
}

/**
 * Waits until the upstream has seen a probe of every instance at or after `since` and, with
 * `untilDecided`, until no probe is in flight any more (every round handed out has been decided).
 * Gives up at `deadline`. The loop status (a large answer: it carries every instance) is read
 * every STATE_POLL_MS once every instance has been reached, every second before.
 */
async function waitForProbes({ call, upstream, keys, since, deadline, untilDecided }) {
  const pending = new Set(keys);
  let lastProbeAt = null;
  let shardsSeen = 0;
  /** Completed sweeps that started since `since`, by start. */
  const completed = new Map();
  let loop = null;
  let nextStateAt = 0;
  let decidedAt = null;
  for (;;) {
    for (const key of pending) {
      const at = upstream.firstProbeSince(key, since);
      if (at !== null) {
        pending.delete(key);
        lastProbeAt = Math.max(lastProbeAt ?? at, at);
      }
    }
    const now = Date.now();
    if (now >= nextStateAt) {
      nextStateAt = now + (pending.size === 0 ? STATE_POLL_MS : 1_000);
      loop = await loopStatus(call);
      shardsSeen = Math.max(shardsSeen, loop.lastSweepShards ?? 0);
      const sweep = loop.lastCompletedSweep;
      if (sweep && sweep.at >= since) completed.set(sweep.at, sweep);
      if (pending.size === 0 && loop.probesInFlight === 0 && completed.size > 0) {
        decidedAt = Math.max(...[...completed.values()].map((s) => s.at + s.durationMs));
      }
    }
    if ((pending.size === 0 && (!untilDecided || decidedAt !== null)) || Date.now() >= deadline) {
      return {
        probed: keys.length - pending.size,
        allProbedAt: pending.size === 0 ? lastProbeAt : null,
        decidedAt,
        sweeps: [...completed.values()].sort((a, b) => a.at - b.at),
        shardsSeen,
        loop,
      };
    }
    await sleep(UPSTREAM_POLL_MS);
  }
}

/** Waits (at most `ms`) for a moment with no probe in flight, so that a restart makes every instance due at once. */
async function waitUntilQuiet(call, ms) {
  const deadline = Date.now() + ms;
  let loop = await loopStatus(call);
  while (loop.probesInFlight > 0 && Date.now() < deadline) {
    await sleep(100);
    loop = await loopStatus(call);
  }
  return { quiet: loop.probesInFlight === 0, loop };
}

/**
 * A fleet whose first probes have all landed: restarts its services (every instance due at once),
 * re-registers instance 0 to wake the sweeper, and measures until every instance has been probed
 * again and every round decided. With `hang`, the fleet stops answering just before the restart.
 */
async function restartBurst(call, upstream, health, fleet, { name, hang }) {
  const intervalMs = SWEEP_SCALE_INTERVAL_MS;
  const quiet = await waitUntilQuiet(call, intervalMs);
  const shards = quiet.loop.lastSweepShards;
  const vantagePoints = quiet.loop.vantagePoints;
  const idOf = new Map(fleet.keys.map((key, n) => [key, fleet.ids[n]]));
  // Which prober probes which instance (one per shard per vantage point): the product's own hash.
  upstream.startWindow(health ? (key) => (idOf.has(key) ? String(health.shardOf(idOf.get(key), shards)) : null) : () => null);
  if (hang) upstream.hang(name);
  const restartedAt = Date.now();
  for (const service of fleet.services) expectStatus(await call("POST", `/admin/workers/${service}/restart`, "admin"), [200], `restarting ${service}`);
  const kick = await call("POST", "/registry/instances", "registration", { service: fleet.serviceOfN(0), url: fleet.urlOf(0), ttlSeconds: 3600 });
  expectStatus(kick, [409], `re-registering instance 0 of ${fleet.serviceOfN(0)}`);
  say(`restarted ${fleet.services.length === 1 ? "it" : "them"}${hang ? ", every probe now timing out" : ""}${quiet.quiet ? "" : " (probes were still in flight)"}; waiting until every instance has been probed again`);
  const burst = await waitForProbes({ call, upstream, keys: fleet.keys, since: restartedAt, deadline: restartedAt + DEADLINE_INTERVALS * intervalMs, untilDecided: true });
  const concurrency = upstream.concurrency();
  const attributable = health !== null && vantagePoints.length === 1 && shards === burst.loop?.lastSweepShards;
  // The sweep that handed out (nearly) all of them, and the shards' sizes as the product assigns them.
  const sweep = burst.sweeps.reduce((best, s) => (best === null || s.probed > best.probed ? s : best), null);
  let busiestShardInstances = null;
  if (health) {
    const perShard = new Map();
    for (const id of fleet.ids) {
      const shard = health.shardOf(id, shards);
      perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
    }
    busiestShardInstances = Math.max(...perShard.values());
  }
  return {
    quietBefore: quiet.quiet,
    probed: burst.probed,
    allProbedAfterMs: burst.allProbedAt === null ? null : burst.allProbedAt - restartedAt,
    allDecidedAfterMs: burst.decidedAt === null ? null : burst.decidedAt - restartedAt,
    shards,
    // The hash the per-prober figures assume must be the count the sweep used.
    shardsOfTheSweep: burst.loop?.lastSweepShards ?? null,
    vantagePoints,
    probers: shards * vantagePoints.length,
    busiestShardInstances,
    sweeps: burst.sweeps.length,
    sweep: sweep && { probed: sweep.probed, rounds: sweep.rounds, decided: sweep.decided, registryCalls: sweep.registryCalls, durationMs: sweep.durationMs, vantagePoints: sweep.vantagePoints },
    // Counted until CLOSE_TOLERANCE_MS before each connection closed; `toClose`: to the close itself.
    maxOpen: concurrency.maxOpen,
    // One prober per shard with one vantage point, while the shard count holds; else not attributable.
    maxOpenInOneProber: attributable ? concurrency.maxInOneGroup : null,
    toClose: { maxOpen: concurrency.toClose.maxOpen, maxOpenInOneProber: attributable ? concurrency.toClose.maxInOneGroup : null },
    closeToleranceMs: CLOSE_TOLERANCE_MS,
  };
}

/**
 * First probes of a fleet that is registering: from its first and last registration until the upstream has
 * seen every instance, and the probes it took. A probe sooner than 0.9 interval after the same instance's
 * previous one (the most jitter takes off) is not a new check: the instance was handed out again because
 * the round it was in closed without its result.
 */
async function firstProbes(call, upstream, fleet) {
  const first = await waitForProbes({
    call,
    upstream,
    keys: fleet.keys,
    since: fleet.firstAt,
    deadline: fleet.lastAt + DEADLINE_INTERVALS * SWEEP_SCALE_INTERVAL_MS,
    untilDecided: false,
  });
  const until = first.allProbedAt ?? Date.now();
  let probes = 0;
  let repeated = 0;
  for (const key of fleet.keys) {
    const times = upstream.arrivalsOf(key).filter((at) => at >= fleet.firstAt && at <= until);
    probes += times.length;
    for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] < 0.9 * SWEEP_SCALE_INTERVAL_MS) repeated++;
  }
  return {
    registrationMs: fleet.lastAt - fleet.firstAt,
    probed: first.probed,
    afterLastRegistrationMs: first.allProbedAt === null ? null : Math.max(0, first.allProbedAt - fleet.lastAt),
    afterFirstRegistrationMs: first.allProbedAt === null ? null : first.allProbedAt - fleet.firstAt,
    probes,
    repeatedProbes: repeated,
    shardsSeen: first.shardsSeen,
    maxOpen: upstream.concurrency().maxOpen,
  };
}

const settings = (vantagePoints) => ({ timeoutMs: SWEEP_SCALE_TIMEOUT_MS, intervalMs: SWEEP_SCALE_INTERVAL_MS, vantagePoints });

/**
 * The checks, each on a fresh orchestrator started by `startScaleOrchestrator(name)` (with
 * SWEEP_SCALE_VARS) and ended by `stop(orchestrator)`:
 *
 *   1. 500 instances that answer while they register, then all time out from a restart on;
 *   2. 500 new instances that time out from the start (the first probes while the fleet registers);
 *   3. 2,000 healthy instances (four services: at most 500 each), first probes and a restart.
 */
export async function measureSweepScale({ startScaleOrchestrator, stop, upstream }) {
  const health = await loadHealthCore();
  const onOrchestrator = async (name, fn) => {
    const orchestrator = await startScaleOrchestrator(name);
    try {
      return await fn(orchestrator.call);
    } finally {
      await stop(orchestrator);
    }
  };

  const timeoutSweep = await onOrchestrator("scale-timeouts", async (call) => {
    upstream.startWindow();
    const fleet = await registerFleet(call, upstream, { service: "scale-timeouts", fleet: "t", count: 500 });
    const setup = await waitForProbes({ call, upstream, keys: fleet.keys, since: fleet.firstAt, deadline: fleet.lastAt + DEADLINE_INTERVALS * SWEEP_SCALE_INTERVAL_MS, untilDecided: true });
    if (setup.allProbedAt === null) say(`note: only ${setup.probed} of 500 answering instances probed before the restart`);
    const afterRestart = await restartBurst(call, upstream, health, fleet, { name: "t", hang: true });
    return { instances: 500, settings: settings(afterRestart.vantagePoints), afterRestart, serialEstimateMs: Math.round((500 * SWEEP_SCALE_TIMEOUT_MS) / PER_PROBER) };
  });

  timeoutSweep.whileRegistering = await onOrchestrator("scale-timeouts-new", async (call) => {
    upstream.hang("n");
    upstream.startWindow();
    const fleet = await registerFleet(call, upstream, { service: "scale-timeouts-new", fleet: "n", count: 500 });
    return firstProbes(call, upstream, fleet);
  });

  const healthySweep = await onOrchestrator("scale-healthy", async (call) => {
    upstream.startWindow();
    const fleet = await registerFleet(call, upstream, { service: "scale-healthy", fleet: "h", count: 2_000 });
    const whileRegistering = await firstProbes(call, upstream, fleet);
    const afterRestart = await restartBurst(call, upstream, health, fleet, { name: "h", hang: false });
    return { instances: 2_000, services: fleet.services.length, settings: settings(afterRestart.vantagePoints), afterRestart, whileRegistering };
  });

  return { timeoutSweep, healthySweep };
}

const ms = (x) => (x === null ? "-" : `${fmtInt(x)} ms`);

/** The sweep checks' lines of the printed report. */
export function printSweepScale({ timeoutSweep, healthySweep }) {
  const intervals = `${DEADLINE_INTERVALS} intervals`;
  const vs = (x, intervalMs) => (x !== null && x <= intervalMs ? "within one interval" : "NOT within one interval");
  if (timeoutSweep) {
    const t = timeoutSweep;
    const r = t.afterRestart;
    const { timeoutMs, intervalMs, vantagePoints } = t.settings;
    say(
      r.allProbedAfterMs === null
        ? `${t.instances} instances that all time out (timeout ${timeoutMs} ms, interval ${intervalMs} ms): only ${r.probed} of ${t.instances} probed within ${intervals} of a restart`
        : `${t.instances} instances that all time out (timeout ${timeoutMs} ms, interval ${intervalMs} ms): all probed within ${ms(r.allProbedAfterMs)} of a restart, ${vs(r.allProbedAfterMs, intervalMs)} (serially, six at a time, no shards: ${ms(t.serialEstimateMs)}); every round decided after ${ms(r.allDecidedAfterMs)}`,
    );
    say(
      `  ${r.shards} shards × ${vantagePoints.length} vantage point${vantagePoints.length === 1 ? "" : "s"} = ${r.probers} probers; ${r.sweep ? `the sweep: ${r.sweep.probed} probed in ${r.sweep.rounds} rounds, ${r.sweep.registryCalls} RegistryDO calls, ${ms(r.sweep.durationMs)}` : "no completed sweep seen"}` +
        `${r.sweeps > 1 ? ` (${r.sweeps} sweeps in all)` : ""}${r.busiestShardInstances === null ? "" : `; busiest shard ${r.busiestShardInstances} instances (${Math.ceil(r.busiestShardInstances / PER_PROBER)} × the timeout, six at a time)`}`,
    );
    say(
      `  probes open at once: at most ${r.maxOpen} in all = ${round(r.maxOpen / r.probers, 2)} per prober (limit ${PER_PROBER})` +
        `${r.maxOpenInOneProber === null ? "" : `, at most ${r.maxOpenInOneProber} in any one prober`}` +
        ` (counted to ${r.closeToleranceMs} ms before each connection closed; to the close itself: ${r.toClose.maxOpen}${r.toClose.maxOpenInOneProber === null ? "" : ` and ${r.toClose.maxOpenInOneProber}`})`,
    );
    const w = t.whileRegistering;
    if (w) {
      say(
        w.afterLastRegistrationMs === null
          ? `  ${t.instances} new instances that time out from the start: only ${w.probed} probed within ${intervals} of registering (${fmtInt(w.probes)} probes, ${fmtInt(w.repeatedProbes)} of them repeats)`
          : `  ${t.instances} new instances that time out from the start: all probed within ${ms(w.afterLastRegistrationMs)} of the last registration, ${vs(w.afterLastRegistrationMs, intervalMs)} (registering took ${ms(w.registrationMs)}); ${fmtInt(w.probes)} probes, ${fmtInt(w.repeatedProbes)} of them repeats sooner than 0.9 interval (rounds closed before their batch came back); up to ${w.shardsSeen} shards, ${w.maxOpen} open at once`,
      );
    }
  }
  if (healthySweep) {
    const h = healthySweep;
    const r = h.afterRestart;
    const { intervalMs } = h.settings;
    say(
      r.allProbedAfterMs === null
        ? `${fmtInt(h.instances)} healthy instances (${h.services} services, interval ${intervalMs} ms): only ${fmtInt(r.probed)} probed within ${intervals} of a restart`
        : `${fmtInt(h.instances)} healthy instances (${h.services} services, interval ${intervalMs} ms): all probed within ${ms(r.allProbedAfterMs)} of a restart, every round decided after ${ms(r.allDecidedAfterMs)} (${round((100 * (r.allDecidedAfterMs ?? r.allProbedAfterMs)) / intervalMs, 1)}% of the interval)`,
    );
    say(
      r.sweep
        ? `  the sweep: ${fmtInt(r.sweep.probed)} probed over ${r.shards} shards in ${r.sweep.rounds} rounds, ${r.sweep.registryCalls} RegistryDO calls (1 healthTargets + ${r.sweep.registryCalls - 1} applyProbeResults), ${ms(r.sweep.durationMs)}${r.sweeps > 1 ? ` (${r.sweeps} sweeps in all)` : ""}`
        : `  no completed sweep seen`,
    );
    const w = h.whileRegistering;
    say(
      w.afterLastRegistrationMs === null
        ? `  first probes while registering: only ${fmtInt(w.probed)} within ${intervals}`
        : `  first probes while registering (${ms(w.registrationMs)}): all within ${ms(w.afterLastRegistrationMs)} of the last registration, ${vs(w.afterLastRegistrationMs, intervalMs)}; ${fmtInt(w.probes)} probes, ${fmtInt(w.repeatedProbes)} repeats`,
    );
  }
}
