/**
 * `npm run bench`: one bounded throughput run on loopback, comparing the
 * orchestrator with what the same machine does without it.
 *
 *   a. nginx serving a small JSON body directly            (the ceiling)
 *   b. nginx reverse proxy -> that upstream                (a classic proxy hop)
 *   c. a bare pass-through Worker on plain `workerd serve`  (bench/passthrough.js)
 *   c'. a minimal proxy Worker on the same workerd: the pass-through plus
 *      forwarding headers, a request id both ways and an upstream deadline
 *      (bench/minimal-proxy.js), the floor for any gateway on this runtime
 *   d. the orchestrator on the same plain workerd, proxying to two registered
 *      instances of a service "bench" (both the nginx upstream), once per
 *      load-balancing strategy, with Durable Object calls per proxied request
 *      read from GET /debug/do-calls before and after each run; then
 *      round-robin once more with the Durable Objects' SQLite files on the
 *      other storage (tmpfs vs disk), to show how much of the cost is disk I/O,
 *      and once more logging every request, to show what the access log costs.
 *   e. then scripts/bench-isolates.mjs: several isolates at low load each, with a
 *      delay on every Durable Object call (the hot path as production runs it).
 *      The other runs log errors only (ACCESS_LOG=errors), as nginx here runs
 *      with access_log off.
 *
 * Each target: a warm-up, then a measured wrk run (bench/wrk-report.lua prints
 * the numbers as JSON), with the server processes' CPU use sampled from /proc.
 *
 * Everything listens on 127.0.0.1 only. Every process started here (nginx,
 * workerd, wrk) is ended on exit, Ctrl-C, SIGTERM or an error. Results go to
 * bench-results/latest.json. wrangler dev is never measured (it is a dev server).
 *
 * Options (flags or environment):
 *   --duration=S     BENCH_DURATION     measured seconds per target (10)
 *   --warmup=S       BENCH_WARMUP       warm-up seconds before each (2)
 *   --connections=N  BENCH_CONNECTIONS  wrk connections (32)
 *   --threads=N      BENCH_THREADS      wrk threads (2)
 *   --storage=disk|tmpfs   BENCH_STORAGE  where workerd keeps Durable Object SQLite files:
 *                          the temp dir on disk (default, as wrangler dev does) or /dev/shm.
 *                          (workerd's inMemory storage has no SQL API, so it cannot run these DOs.)
 *   --keep                BENCH_KEEP=1   keep the temp dir (configs, logs) for inspection
 *   --verbose             BENCH_VERBOSE=1  workerd --verbose: console output in the kept logs
 *                         (costs throughput: use it to debug, not to measure)
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { capnpString, compatibilityDate, orchestratorWorkerdConfig } from "./workerd-config.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const WORKERD = join(ROOT, "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd");
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const WRK_SCRIPT = join(ROOT, "bench", "wrk-report.lua");
const PASSTHROUGH = join(ROOT, "bench", "passthrough.js");
const MINIMAL_PROXY = join(ROOT, "bench", "minimal-proxy.js");
const RESULTS_DIR = join(ROOT, "bench-results");
const COMPATIBILITY_DATE = compatibilityDate(ROOT);
const STRATEGIES = ["round-robin", "least-connections", "weighted", "health-aware"];
/** The schema's maximum for every RATE_LIMIT_* class (src/config.ts), per 60 s. */
const RATE_LIMIT = "10000000";
/** The whole run is cut off after this, whatever happens. */
const RUN_DEADLINE_MS = 6.5 * 60_000;

const options = parseOptions();
const say = (message) => console.log(`[bench] ${message}`);

// ------------------------------------------------------------------ process bookkeeping and cleanup

/** Every child started here: { name, child, group } — group: it leads its own process group. */
const children = [];
const usedPorts = [];
let tmpDir = null;
/** Directories outside tmpDir that this run created (tmpfs storage), removed with it. */
const extraDirs = [];
let cleaningUp = null;
let interrupted = false;

function alive(pid, group) {
  try {
    process.kill(group ? -pid : pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(entry, sig) {
  const { child, group } = entry;
  if (!child.pid) return;
  try {
    process.kill(group ? -child.pid : child.pid, sig);
  } catch {
    // already gone
  }
}

/** Ends one child: SIGTERM to it (its whole group if it leads one), SIGKILL after a grace period. */
async function stopChild(entry, graceMs = 3000) {
  const { child, group } = entry;
  if (!child.pid || !alive(child.pid, group)) return;
  signal(entry, "SIGTERM");
  const until = Date.now() + graceMs;
  while (Date.now() < until && alive(child.pid, group)) await sleep(50);
  if (alive(child.pid, group)) signal(entry, "SIGKILL");
  const hardUntil = Date.now() + 2000;
  while (Date.now() < hardUntil && alive(child.pid, group)) await sleep(50);
}

async function cleanup() {
  cleaningUp ??= (async () => {
    await Promise.all(children.map((entry) => stopChild(entry)));
    if (!options.keep) for (const dir of [tmpDir, ...extraDirs]) if (dir) rmSync(dir, { recursive: true, force: true });
    if (options.keep && tmpDir) say(`kept ${[tmpDir, ...extraDirs].join(" and ")}`);
  })();
  return cleaningUp;
}

// Last resort when the process exits without the async cleanup (e.g. process.exit elsewhere).
process.on("exit", () => {
  for (const entry of children) if (entry.child.pid && alive(entry.child.pid, entry.group)) signal(entry, "SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    interrupted = true;
    console.error(`\n[bench] ${sig}: stopping everything this run started`);
    cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  });
}
process.on("unhandledRejection", (error) => fail(error));
process.on("uncaughtException", (error) => fail(error));

function fail(error) {
  // After Ctrl-C, errors from the servers going away are expected: the signal handler exits.
  if (interrupted) return;
  console.error(`[bench] failed: ${error instanceof Error ? error.stack || error.message : String(error)}`);
  cleanup().finally(() => process.exit(1));
}

const deadline = setTimeout(() => fail(new Error(`the run took longer than ${RUN_DEADLINE_MS / 1000} s`)), RUN_DEADLINE_MS);
deadline.unref();

// ------------------------------------------------------------------ main

async function main() {
  const startedAt = new Date();
  ensureTools();
  tmpDir = mkdtempSync(join(os.tmpdir(), "orchestrator-bench-"));
  const loadBefore = os.loadavg();

  const [upstreamPort, upstreamPort2, proxyPort, passthroughPort, minimalProxyPort, ...orchestratorPorts] = await freePorts(5 + STRATEGIES.length + 2);
  usedPorts.push(upstreamPort, upstreamPort2, proxyPort, passthroughPort, minimalProxyPort, ...orchestratorPorts);
  const upstreamPorts = [upstreamPort, upstreamPort2];

  say("bundling the orchestrator (wrangler deploy --dry-run)");
  const bundleDir = join(tmpDir, "bundle");
  await bundleOrchestrator(bundleDir);

  say(`starting nginx: upstream on :${upstreamPort} and :${upstreamPort2}, reverse proxy on :${proxyPort}`);
  const nginx = await startNginx({ upstreamPort, upstreamPort2, proxyPort });

  say(`starting the pass-through Worker on workerd :${passthroughPort}`);
  const passthrough = await startWorkerd("passthrough", referenceWorkerConfig("passthrough", PASSTHROUGH, passthroughPort, upstreamPort), `http://${HOST}:${passthroughPort}/`);

  const results = [];
  /** One target: warm-up, optional "before" hook, the measured run (server CPU sampled alongside), "after" hook. */
  const measure = async (id, label, url, servers, extra = {}) => {
    say(`${label}: ${options.warmup} s warm-up, ${options.duration} s measured (${url})`);
    await runWrk(url, options.warmup);
    const before = extra.before ? await extra.before() : undefined;
    const cpuBefore = servers.map((entry) => groupCpuSeconds(entry.child.pid));
    const wallStart = process.hrtime.bigint();
    const wrk = await runWrk(url, options.duration);
    const wallSeconds = Number(process.hrtime.bigint() - wallStart) / 1e9;
    const serverCpu = Object.fromEntries(
      servers.map((entry, i) => [entry.cpuLabel ?? entry.name, round((100 * (groupCpuSeconds(entry.child.pid) - cpuBefore[i])) / wallSeconds, 0)]),
    );
    const after = extra.after ? await extra.after(before) : {};
    const result = { id, label, url, ...summarise(wrk), serverCpuPercent: serverCpu, ...after };
    results.push(result);
    say(`  ${fmtInt(result.rps)} req/s, p50 ${fmtMs(result.latencyMs.p50)} ms, p99 ${fmtMs(result.latencyMs.p99)} ms, non-2xx ${result.non2xx}, server CPU ${Object.entries(serverCpu).map(([n, c]) => `${n} ${c}%`).join(", ")}`);
    return result;
  };

  await measure("nginx-direct", "nginx direct", `http://${HOST}:${upstreamPort}/bench/anything`, [nginx]);
  await measure("nginx-proxy", "nginx reverse proxy", `http://${HOST}:${proxyPort}/bench/anything`, [nginx]);
  await measure("workerd-passthrough", "workerd pass-through", `http://${HOST}:${passthroughPort}/bench/anything`, [passthrough, nginx]);
  await stopAndForget(passthrough);
  if (!options.smoke) {
    say(`starting the minimal proxy Worker on workerd :${minimalProxyPort}`);
    const minimal = await startWorkerd("minimal-proxy", referenceWorkerConfig("minimal-proxy", MINIMAL_PROXY, minimalProxyPort, upstreamPort), `http://${HOST}:${minimalProxyPort}/`);
    await measure("workerd-minimal-proxy", "workerd minimal proxy", `http://${HOST}:${minimalProxyPort}/bench/anything`, [minimal, nginx]);
    await stopAndForget(minimal);
  }

  // The orchestrator, once per strategy, with its Durable Objects' SQLite files where --storage says;
  // then round-robin once more with the other storage, to show how much of the cost is disk I/O.
  const otherStorage = options.storage === "disk" ? "tmpfs" : "disk";
  // --smoke (the test suite's check that this script still works): one strategy, one storage.
  let scale = null;
  // The access log is "errors" (every response with status >= 400) for the strategy runs, as nginx here runs
  // with access_log off; one more round-robin run logs every request (ACCESS_LOG=all, the default) to show its cost.
  // Each run gets a fresh workerd, as the pass-through did: workerd's own tail latency and memory grow with
  // a process's age under load (the bare pass-through's p99 too), so rows measured on an older process would
  // not compare with the baseline.
  const runs = options.smoke
    ? [{ storage: options.storage, accessLog: "errors", strategy: "round-robin", variant: null }]
    : [
        ...STRATEGIES.map((strategy) => ({ storage: options.storage, accessLog: "errors", strategy, variant: null })),
        { storage: otherStorage, accessLog: "errors", strategy: "round-robin", variant: { id: otherStorage, label: `DO storage ${otherStorage}` } },
        { storage: options.storage, accessLog: "all", strategy: "round-robin", variant: { id: "access-log", label: "access log of every request" } },
      ];
  for (const [index, run] of runs.entries()) {
    const id = `orchestrator-${run.strategy}${run.variant === null ? "" : `-${run.variant.id}`}`;
    const orchestrator = await startOrchestrator(id, orchestratorPorts[index], run.storage, run.accessLog, bundleDir, upstreamPorts);
    await measureOrchestrator(measure, orchestrator, run.strategy, {
      id,
      label: `orchestrator ${run.strategy}${run.variant === null ? "" : ` (${run.variant.label})`}`,
      servers: [orchestrator.entry, nginx],
      storage: run.storage,
    });
    if (index === 0 && !options.smoke) scale = await measureScale(orchestrator, upstreamPorts[0]);
    await stopAndForget(orchestrator.entry);
  }

  // ---- report
  const base = results.find((r) => r.id === "workerd-passthrough");
  const minimalProxy = results.find((r) => r.id === "workerd-minimal-proxy");
  const direct = results.find((r) => r.id === "nginx-direct");
  for (const r of results) {
    r.ratioToPassthrough = base?.rps ? round(r.rps / base.rps, 3) : null;
    r.ratioToMinimalProxy = minimalProxy?.rps ? round(r.rps / minimalProxy.rps, 3) : null;
    r.ratioToNginxDirect = direct?.rps ? round(r.rps / direct.rps, 3) : null;
  }
  const report = {
    timestamp: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: machineInfo(loadBefore),
    settings: {
      durationSeconds: options.duration,
      warmupSeconds: options.warmup,
      connections: options.connections,
      threads: options.threads,
      durableObjectStorage: options.storage,
      compatibilityDate: COMPATIBILITY_DATE,
      orchestratorVars: { ...redactedVars(orchestratorVars("", "")), ACCESS_LOG: "errors (all in the access-log row)" },
      note: "one run on one machine, loopback only; compare ratios, not absolute numbers. non2xx = responses with status > 399 (wrk's count).",
    },
    results,
    scale,
  };
  printTable(results);
  if (scale) {
    const { sweep } = scale;
    say(
      sweep.allProbedAfterMs === null
        ? `500-instance health sweep: only ${sweep.probed} of ${sweep.instances} probed again within 60 s of a restart`
        : `500-instance health sweep: all ${sweep.instances} probed again within ${sweep.allProbedAfterMs} ms of a restart (polled every 250 ms; longest single sweep seen ${sweep.longestSweepMs} ms; check interval ${sweep.intervalMs} ms)`,
    );
    say(`GET /metrics with ${scale.instances} instances: p50 ${scale.metrics.p50Ms} ms, max ${scale.metrics.maxMs} ms over ${scale.metrics.samples} requests`);
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const resultsFile = options.smoke ? "smoke.json" : "latest.json";
  writeFileSync(join(RESULTS_DIR, resultsFile), JSON.stringify(report, null, 2) + "\n");
  say(`wrote ${join("bench-results", resultsFile)}`);
}

/**
 * Scale checks at the size the issue names: 500 instances. Registers 498 more
 * (distinct paths on the nginx upstream), restarts their service so that all
 * of them are due for a check, measures how long until every one has been
 * probed again (the issue asks for inside one 30 s interval), then times
 * GET /metrics.
 */
async function measureScale(orchestrator, upstreamPort) {
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

/** Starts the bundled orchestrator on plain workerd and registers the two upstream instances of "bench". */
async function startOrchestrator(name, port, storage, accessLog, bundleDir, upstreamPorts) {
  const adminKey = randomBytes(24).toString("hex");
  const registrationToken = randomBytes(24).toString("hex");
  say(`starting the orchestrator on workerd :${port} (Durable Object storage: ${storage})`);
  const entry = await startWorkerd(name, orchestratorConfig({ name, port, storage, accessLog, bundleDir, adminKey, registrationToken }), `http://${HOST}:${port}/health`);
  const client = orchestratorClient(`http://${HOST}:${port}`, adminKey, registrationToken);
  const instanceIds = [];
  for (const upstreamPort of upstreamPorts) {
    // Two distinct URLs (two nginx ports), since one URL registers once per service.
    // ttlSeconds: the schema's maximum, so the instances stay passing for the whole run (heartbeats are sent too).
    const registered = await client.call("POST", "/registry/instances", "registration", { service: "bench", url: `http://${HOST}:${upstreamPort}`, ttlSeconds: 3600 });
    expectStatus(registered, [201], "registering an instance");
    instanceIds.push(registered.json.id);
  }
  say(`registered 2 instances of "bench": ${instanceIds.join(", ")}`);
  return { ...client, entry, instanceIds, port };
}

async function measureOrchestrator(measure, orchestrator, strategy, { id, label, servers, storage }) {
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
      // Give the last releases (ctx.waitUntil) a moment, then check that every lease came back.
      await sleep(500);
      const registry = await orchestrator.call("GET", "/debug/registry", "admin");
      const service = registry.json?.services?.find((s) => s.name === "bench");
      return {
        strategy,
        durableObjectStorage: storage,
        doCalls: doCallDelta(before, after),
        registryAfter: {
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
  if (leaked > 0) say(`  note: ${leaked} lease(s) still counted in flight 0.5 s after the run`);
}

// ------------------------------------------------------------------ tools

function ensureTools() {
  const missing = ["wrk", "nginx"].filter((tool) => !commandExists(tool));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(", ")}; install them: apt-get install -y wrk nginx`);
  say(`installing ${missing.join(", ")} from Debian`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "wrk", "nginx"], { stdio: "inherit", env });
  // Only refresh the package lists when the install cannot find what it needs.
  if (install().status !== 0) {
    say("apt-get install failed; running apt-get update and trying again");
    const update = spawnSync("apt-get", ["update"], { stdio: "inherit", env });
    if (update.status !== 0 || install().status !== 0) throw new Error("could not install wrk and nginx with apt-get");
  }
  const still = ["wrk", "nginx"].filter((tool) => !commandExists(tool));
  if (still.length > 0) throw new Error(`still missing after apt-get: ${still.join(", ")}`);
}

function commandExists(name) {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

function toolVersion(command, args) {
  const r = spawnSync(command, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").find((line) => line.trim() !== "")?.trim() ?? null;
}

// ------------------------------------------------------------------ ports

async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      await new Promise((ok, ko) => server.once("error", ko).listen(0, HOST, ok));
      servers.push(server);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  }
}

function portIsFree(port) {
  return new Promise((ok) => {
    const server = net.createServer();
    server.once("error", () => ok(false));
    server.listen(port, HOST, () => server.close(() => ok(true)));
  });
}

// ------------------------------------------------------------------ processes

/** Starts a long-running child in its own process group with its output in a log file. */
function startChild(name, command, args, logFile) {
  const log = openLog(logFile);
  const child = spawn(command, args, { cwd: tmpDir, stdio: ["ignore", log, log], detached: true });
  const entry = { name, child, group: true, logFile, exited: null };
  entry.exited = new Promise((ok) => child.on("exit", (code, sig) => ok({ code, signal: sig })));
  child.on("error", (error) => fail(new Error(`${name}: ${error.message}`)));
  children.push(entry);
  return entry;
}

function openLog(file) {
  return openSync(file, "w");
}

function tail(file, lines = 30) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function waitUntilReady(entry, url, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < until) {
    const exited = await Promise.race([entry.exited, sleep(0).then(() => null)]);
    if (exited) throw new Error(`${entry.name} exited (${exited.code ?? exited.signal}) while starting:\n${tail(entry.logFile)}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError = error.cause?.code ?? error.message;
    }
    await sleep(100);
  }
  throw new Error(`${entry.name} not ready at ${url} after ${timeoutMs / 1000} s (${lastError}):\n${tail(entry.logFile)}`);
}

async function runCommand(command, args, { env, timeoutMs }) {
  return new Promise((ok, ko) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const entry = { name: command, child, group: false };
    children.push(entry);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => signal(entry, "SIGKILL"), timeoutMs);
    child.on("error", ko);
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      children.splice(children.indexOf(entry), 1);
      ok({ code, signal: sig, stdout, stderr });
    });
  });
}

// ------------------------------------------------------------------ nginx

async function startNginx({ upstreamPort, upstreamPort2, proxyPort }) {
  const dir = join(tmpDir, "nginx");
  mkdirSync(join(dir, "temp"), { recursive: true });
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/temp/client;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
  keepalive_requests 100000;
  upstream bench_upstream {
    server ${HOST}:${upstreamPort};
    keepalive 64;
    keepalive_requests 100000;
  }
  # The upstream: a small static JSON body on every path (including /health, for the orchestrator's probes).
  server {
    listen ${HOST}:${upstreamPort};
    listen ${HOST}:${upstreamPort2};
    location / {
      default_type application/json;
      return 200 '{"ok":true,"service":"bench"}\\n';
    }
  }
  # nginx as a reverse proxy to it, over kept-alive upstream connections.
  server {
    listen ${HOST}:${proxyPort};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const entry = startChild("nginx", "nginx", ["-p", dir, "-e", join(dir, "error.log"), "-c", conf], join(dir, "stdout.log"));
  entry.logFile = join(dir, "error.log");
  entry.cpuLabel = "nginx";
  await waitUntilReady(entry, `http://${HOST}:${upstreamPort}/`);
  await waitUntilReady(entry, `http://${HOST}:${upstreamPort2}/`);
  await waitUntilReady(entry, `http://${HOST}:${proxyPort}/`);
  return entry;
}

// ------------------------------------------------------------------ workerd

async function startWorkerd(name, config, readyUrl) {
  const dir = join(tmpDir, name);
  const file = join(dir, "config.capnp");
  writeFileSync(file, config.text);
  const entry = startChild(`workerd (${name})`, WORKERD, ["serve", file, "--experimental", ...(options.verbose ? ["--verbose"] : [])], join(dir, "workerd.log"));
  entry.cpuLabel = "workerd";
  await waitUntilReady(entry, readyUrl, 60_000);
  return entry;
}

/** Ends one started server now (not only at exit), so an idle one does not steal CPU from the next target. */
async function stopAndForget(entry) {
  await stopChild(entry);
  const index = children.indexOf(entry);
  if (index >= 0) children.splice(index, 1);
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

/** CPU seconds (user + system) used so far by every process in the process group led by pgid (Linux /proc). */
function groupCpuSeconds(pgid) {
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the ")" that closes the command name: state ppid pgrp ... utime(12th) stime(13th).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

function tmpfsRoot() {
  if (!existsSync("/dev/shm")) throw new Error("--storage=tmpfs needs /dev/shm");
  return "/dev/shm";
}

/** A workerd config for one of the reference Workers (bench/*.js), which only need the upstream's port. */
function referenceWorkerConfig(name, file, port, upstreamPort) {
  const dir = join(tmpDir, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(file, join(dir, "worker.js"));
  return {
    text: `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"], tlsOptions = (trustBrowserCas = true))),
  ],
  sockets = [ (name = "http", address = "${HOST}:${port}", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.js") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  bindings = [ (name = "UPSTREAM_PORT", text = "${upstreamPort}") ],
  globalOutbound = "internet",
);
`,
  };
}

function orchestratorVars(adminKey, registrationToken) {
  return {
    ENVIRONMENT: "development",
    DEV_MODE: "true",
    LB_STRATEGY: "round-robin",
    ORCHESTRATOR_API_KEY: adminKey,
    REGISTRATION_TOKEN: registrationToken,
    RATE_LIMIT_PERIOD_SECONDS: "60",
    RATE_LIMIT_GENERAL: RATE_LIMIT,
    RATE_LIMIT_HEALTH: RATE_LIMIT,
    RATE_LIMIT_REGISTRY: RATE_LIMIT,
    RATE_LIMIT_ADMIN: RATE_LIMIT,
    AUTH_FAILURE_LIMIT: RATE_LIMIT,
    RATE_LIMIT_METRICS: RATE_LIMIT,
    HEALTH_CHECK_INTERVAL_MS: "1000",
  };
}

function redactedVars(vars) {
  return { ...vars, ORCHESTRATOR_API_KEY: "[random]", REGISTRATION_TOKEN: "[random]" };
}

function orchestratorConfig({ name, port, storage: storageKind, accessLog, bundleDir, adminKey, registrationToken }) {
  const dir = join(tmpDir, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(bundleDir, "index.js"), join(dir, "index.js"));
  // SQLite-backed Durable Objects need localDisk storage: workerd's inMemory storage has no SQL API.
  const storageDir = storageKind === "tmpfs" ? mkdtempSync(join(tmpfsRoot(), "orchestrator-bench-do-")) : join(dir, "do-storage");
  mkdirSync(storageDir, { recursive: true });
  if (storageKind === "tmpfs") extraDirs.push(storageDir);
  const vars = { ...orchestratorVars(adminKey, registrationToken), ACCESS_LOG: accessLog };
  return { text: orchestratorWorkerdConfig({ host: HOST, port, storageDir, vars, uniqueKeyPrefix: "orchestrator-bench", compatibilityDate: COMPATIBILITY_DATE }) };
}

async function bundleOrchestrator(outDir) {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };
  delete env.CLOUDFLARE_ENV;
  // --env "" : the top-level (development) configuration, as wrangler.toml intends for local runs.
  const r = await runCommand(process.execPath, [WRANGLER, "deploy", "--dry-run", "--env", "", "--outdir", outDir], { env, timeoutMs: 120_000 });
  if (r.code !== 0 || !existsSync(join(outDir, "index.js"))) {
    throw new Error(`wrangler deploy --dry-run failed (${r.code ?? r.signal}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  }
}

// ------------------------------------------------------------------ the orchestrator's API

function orchestratorClient(baseUrl, adminKey, registrationToken) {
  const tokens = { admin: adminKey, registration: registrationToken };
  const call = async (method, path, auth, body) => {
    const headers = {};
    if (auth) headers.authorization = `Bearer ${tokens[auth]}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { method, path, status: response.status, text, json };
  };
  return {
    call,
    async doCalls() {
      const r = await call("GET", "/debug/do-calls", "admin");
      expectStatus(r, [200], "reading /debug/do-calls");
      return r.json;
    },
  };
}

function expectStatus(response, statuses, what) {
  if (!statuses.includes(response.status)) {
    throw new Error(`${what}: ${response.method} ${response.path} answered ${response.status}: ${response.text.slice(0, 500)}`);
  }
}

function doCallDelta(before, after) {
  const proxiedRequests = after.proxiedRequests - before.proxiedRequests;
  const calls = {};
  for (const kind of Object.keys(after.calls)) calls[kind] = after.calls[kind] - (before.calls[kind] ?? 0);
  // The "after" reading is itself rate-limited, so it made one RateLimiterDO call of its own.
  if (typeof calls.rateLimiter === "number") calls.rateLimiter = Math.max(0, calls.rateLimiter - 1);
  const perProxiedRequest = Object.fromEntries(Object.entries(calls).map(([kind, n]) => [kind, proxiedRequests > 0 ? round(n / proxiedRequests, 3) : null]));
  return { proxiedRequests, calls, perProxiedRequest };
}

// ------------------------------------------------------------------ wrk

async function runWrk(url, seconds) {
  const args = [`-t${options.threads}`, `-c${options.connections}`, `-d${seconds}s`, "--latency", "-s", WRK_SCRIPT, url];
  const r = await runCommand("wrk", args, { env: process.env, timeoutMs: (seconds + 20) * 1000 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (r.code !== 0 || !line) throw new Error(`wrk ${args.join(" ")} failed (${r.code ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return { ...JSON.parse(line.slice("BENCH_JSON ".length)), text: r.stdout.replace(/^BENCH_JSON .*\n?/m, "").trim() };
}

function summarise(wrk) {
  const seconds = wrk.duration_us / 1e6;
  const ms = (us) => round(us / 1000, 3);
  const e = wrk.errors;
  return {
    rps: round(wrk.requests / seconds, 1),
    requests: wrk.requests,
    seconds: round(seconds, 2),
    latencyMs: { mean: ms(wrk.latency_us.mean), p50: ms(wrk.latency_us.p50), p75: ms(wrk.latency_us.p75), p90: ms(wrk.latency_us.p90), p99: ms(wrk.latency_us.p99), p999: ms(wrk.latency_us.p999), max: ms(wrk.latency_us.max) },
    non2xx: e.status,
    socketErrors: { connect: e.connect, read: e.read, write: e.write, timeout: e.timeout, total: e.connect + e.read + e.write + e.timeout },
    wrkOutput: wrk.text,
  };
}

// ------------------------------------------------------------------ report

function machineInfo(loadBefore) {
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    workerd: toolVersion(WORKERD, ["--version"]),
    wrangler: JSON.parse(readFileSync(join(ROOT, "node_modules", "wrangler", "package.json"), "utf8")).version,
    wrk: toolVersion("wrk", ["-v"]),
    nginx: toolVersion("nginx", ["-v"]),
    loadAverageBefore: loadBefore.map((x) => round(x, 2)),
    loadAverageAfter: os.loadavg().map((x) => round(x, 2)),
  };
}

function printTable(results) {
  const header = ["target", "req/s", "p50 ms", "p99 ms", "x pass-through", "x minimal proxy", "x nginx", "non-2xx", "sock err", "server CPU %", "DO calls/proxied req (reg / rl / met)"];
  const rows = results.map((r) => [
    r.label,
    fmtInt(r.rps),
    fmtMs(r.latencyMs.p50),
    fmtMs(r.latencyMs.p99),
    r.ratioToPassthrough === null ? "-" : r.ratioToPassthrough.toFixed(2),
    r.ratioToMinimalProxy === null ? "-" : r.ratioToMinimalProxy.toFixed(2),
    r.ratioToNginxDirect === null ? "-" : r.ratioToNginxDirect.toFixed(2),
    String(r.non2xx),
    String(r.socketErrors.total),
    Object.entries(r.serverCpuPercent).map(([name, pct]) => `${name} ${pct}`).join(", "),
    r.doCalls ? ["registry", "rateLimiter", "metrics"].map((k) => (r.doCalls.perProxiedRequest[k] ?? 0).toFixed(2)).join(" / ") : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log("");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
  console.log("");
}

// ------------------------------------------------------------------ helpers

function parseOptions() {
  const flags = new Map();
  for (const arg of process.argv.slice(2)) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg}`);
    flags.set(m[1], m[2] ?? "true");
  }
  const pick = (flag, envName, fallback) => flags.get(flag) ?? process.env[envName] ?? fallback;
  const int = (flag, envName, fallback, min, max) => {
    const n = Number(pick(flag, envName, String(fallback)));
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const storage = pick("storage", "BENCH_STORAGE", "disk");
  if (!["disk", "tmpfs"].includes(storage)) throw new Error("--storage must be disk or tmpfs");
  return {
    duration: int("duration", "BENCH_DURATION", 10, 1, 30),
    warmup: int("warmup", "BENCH_WARMUP", 2, 1, 10),
    connections: int("connections", "BENCH_CONNECTIONS", 32, 1, 1024),
    threads: int("threads", "BENCH_THREADS", 2, 1, 16),
    storage,
    keep: /^(1|true|yes)$/i.test(pick("keep", "BENCH_KEEP", "")),
    smoke: /^(1|true|yes)$/i.test(pick("smoke", "BENCH_SMOKE", "")),
    verbose: /^(1|true|yes)$/i.test(pick("verbose", "BENCH_VERBOSE", "")),
  };
}

function sleep(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmtInt(x) {
  return Math.round(x).toLocaleString("en-US");
}

function fmtMs(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

// ------------------------------------------------------------------ run

try {
  await main();
  await cleanup();
  const stillBound = [];
  for (const port of usedPorts) if (!(await portIsFree(port))) stillBound.push(port);
  if (stillBound.length > 0) {
    console.error(`[bench] ports still bound after cleanup: ${stillBound.join(", ")}`);
    process.exitCode = 1;
  }
  clearTimeout(deadline);
  // Then the many-isolate, low-load row (scripts/bench-isolates.mjs): the hot path as production runs it.
  if (!options.smoke && process.exitCode !== 1) {
    const isolates = spawnSync(process.execPath, [join(ROOT, "scripts", "bench-isolates.mjs")], { stdio: "inherit" });
    if (isolates.status !== 0) process.exitCode = 1;
  }
} catch (error) {
  fail(error);
}
