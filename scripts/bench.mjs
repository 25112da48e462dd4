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
 *   d'. the health sweep at fleet scale (scripts/bench/sweep-scale.mjs), each on an
 *      orchestrator of its own with a 1 s probe timeout and a 10 s interval, against
 *      a loopback upstream in this process that records every probe: 500 instances
 *      that all time out (after a restart, and as a new fleet registering), and
 *      2,000 healthy ones (with the sweep's RegistryDO calls). Not with --smoke.
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
 *
 * This file is the run's order; each part lives in scripts/bench/ (config and options,
 * session: processes and cleanup, tools, bundle, nginx, workerd: the reference Worker rows,
 * orchestrator, strategies, scale, sweep-scale and its probe-upstream, wrk: measuring one
 * target, report), and the process and port helpers it shares with `npm start` and the test
 * suites in scripts/lib/.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { freePorts, portIsFree } from "./lib/ports.mjs";
import { bundleOrchestrator } from "./bench/bundle.mjs";
import { HOST, MINIMAL_PROXY, PASSTHROUGH, parseOptions, ROOT, RUN_DEADLINE_MS, say, STRATEGIES } from "./bench/config.mjs";
import { startNginx } from "./bench/nginx.mjs";
import { startOrchestrator } from "./bench/orchestrator.mjs";
import { addRatios, buildReport, printTable, writeReport } from "./bench/report.mjs";
import { measureScale, printScale } from "./bench/scale.mjs";
import { startProbeUpstream } from "./bench/probe-upstream.mjs";
import { measureSweepScale, SWEEP_SCALE_VARS } from "./bench/sweep-scale.mjs";
import { createSession } from "./bench/session.mjs";
import { measureOrchestrator, orchestratorRuns, runName } from "./bench/strategies.mjs";
import { ensureTools } from "./bench/tools.mjs";
import { startReferenceWorker } from "./bench/workerd.mjs";
import { measurer } from "./bench/wrk.mjs";

const options = parseOptions();
// Every process started from here on is ended on exit, Ctrl-C, SIGTERM or an error (scripts/bench/session.mjs).
const session = createSession(options);
const deadline = setTimeout(() => session.fail(new Error(`the run took longer than ${RUN_DEADLINE_MS / 1000} s`)), RUN_DEADLINE_MS);
deadline.unref();

async function main() {
  const startedAt = new Date();
  ensureTools();
  session.tmpDir = mkdtempSync(join(os.tmpdir(), "orchestrator-bench-"));
  const loadBefore = os.loadavg();

  // The health-sweep checks take one more upstream (in this process) and three more orchestrators.
  const [upstreamPort, upstreamPort2, proxyPort, passthroughPort, minimalProxyPort, probeUpstreamPort, ...allOrchestratorPorts] = await freePorts(6 + STRATEGIES.length + 2 + 3);
  const orchestratorPorts = allOrchestratorPorts.slice(0, STRATEGIES.length + 2);
  const sweepScalePorts = allOrchestratorPorts.slice(STRATEGIES.length + 2);
  session.usedPorts.push(upstreamPort, upstreamPort2, proxyPort, passthroughPort, minimalProxyPort, probeUpstreamPort, ...allOrchestratorPorts);
  const upstreamPorts = [upstreamPort, upstreamPort2];

  say("bundling the orchestrator (wrangler deploy --dry-run)");
  const bundleDir = join(session.tmpDir, "bundle");
  await bundleOrchestrator(bundleDir, session.runCommand);

  say(`starting nginx: upstream on :${upstreamPort} and :${upstreamPort2}, reverse proxy on :${proxyPort}`);
  const nginx = await startNginx(session, { upstreamPort, upstreamPort2, proxyPort });

  say(`starting the pass-through Worker on workerd :${passthroughPort}`);
  const passthrough = await startReferenceWorker(session, { name: "passthrough", file: PASSTHROUGH, port: passthroughPort, upstreamPort });

  const results = [];
  /** One target: warm-up, optional "before" hook, the measured run (server CPU sampled alongside), "after" hook. */
  const measure = measurer(session, results);

  await measure("nginx-direct", "nginx direct", `http://${HOST}:${upstreamPort}/bench/anything`, [nginx]);
  await measure("nginx-proxy", "nginx reverse proxy", `http://${HOST}:${proxyPort}/bench/anything`, [nginx]);
  await measure("workerd-passthrough", "workerd pass-through", `http://${HOST}:${passthroughPort}/bench/anything`, [passthrough, nginx]);
  await session.stopAndForget(passthrough);
  if (!options.smoke) {
    say(`starting the minimal proxy Worker on workerd :${minimalProxyPort}`);
    const minimal = await startReferenceWorker(session, { name: "minimal-proxy", file: MINIMAL_PROXY, port: minimalProxyPort, upstreamPort });
    await measure("workerd-minimal-proxy", "workerd minimal proxy", `http://${HOST}:${minimalProxyPort}/bench/anything`, [minimal, nginx]);
    await session.stopAndForget(minimal);
  }

  // The orchestrator, once per strategy, then the storage and access-log variants (scripts/bench/strategies.mjs).
  // Each run gets a fresh workerd, as the pass-through did: workerd's own tail latency and memory grow with
  // a process's age under load (the bare pass-through's p99 too), so rows measured on an older process would
  // not compare with the baseline. The first run also carries the 500-instance scale check (not with --smoke).
  let scale = null;
  for (const [index, run] of orchestratorRuns(options).entries()) {
    const { id, label } = runName(run);
    const orchestrator = await startOrchestrator(session, id, orchestratorPorts[index], run.storage, run.accessLog, bundleDir, upstreamPorts);
    await measureOrchestrator(measure, orchestrator, run.strategy, { id, label, servers: [orchestrator.entry, nginx], storage: run.storage });
    if (index === 0 && !options.smoke) scale = await measureScale(orchestrator, upstreamPorts[0]);
    await session.stopAndForget(orchestrator.entry);
  }

  // The health sweep at fleet scale: 500 instances that all time out, 2,000 healthy ones; each check on a
  // fresh orchestrator with SWEEP_SCALE_VARS, after the rows so that it takes nothing from them.
  if (scale) {
    say(`health sweep at fleet scale: probe upstream on :${probeUpstreamPort}, ${Object.entries(SWEEP_SCALE_VARS).map(([k, v]) => `${k}=${v}`).join(", ")}`);
    const upstream = await startProbeUpstream(probeUpstreamPort);
    try {
      const ports = [...sweepScalePorts];
      Object.assign(
        scale,
        await measureSweepScale({
          upstream,
          startScaleOrchestrator: (name) => startOrchestrator(session, name, ports.shift(), options.storage, "errors", bundleDir, [], SWEEP_SCALE_VARS),
          stop: (orchestrator) => session.stopAndForget(orchestrator.entry),
        }),
      );
    } finally {
      await upstream.close();
    }
  }

  // ---- report
  addRatios(results);
  const report = buildReport({ options, startedAt, loadBefore, results, scale });
  printTable(results);
  if (scale) printScale(scale);
  writeReport(report, options);
}

try {
  await main();
  await session.cleanup();
  const stillBound = [];
  for (const port of session.usedPorts) if (!(await portIsFree(port))) stillBound.push(port);
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
  session.fail(error);
}
