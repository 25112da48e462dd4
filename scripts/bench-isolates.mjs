/**
 * `npm run bench` (second part), or alone: `node scripts/bench-isolates.mjs`.
 *
 * The hot path as production runs it: many lightly loaded isolates sharing
 * the Durable Objects, each of which is a round trip away. One plain
 * `workerd serve` runs ISOLATES copies of the orchestrator's bundle (each its
 * own Worker, so its own isolate and module state; the first defines the
 * three Durable Object namespaces and the others bind to them). Each copy
 * sits behind bench/do-delay-wrapper.js, which adds DELAY ms before every
 * Durable Object call the edge makes; the product code does not know.
 *
 * Load: an open loop (requests at fixed times, not back to back) of RATE
 * requests/s per service per isolate over six services of two loopback
 * instances each, from many client addresses (CF-Connecting-IP), default
 * rate limits, for SECONDS after a warm-up; then again at twice the rate.
 * The same load through as many copies of the bare pass-through and of the minimal proxy
 * (bench/*.js) are the baselines. Reported:
 * p50/p99 against the pass-through's, awaited Durable Object calls per proxied
 * request and RegistryDO calls/s (both counted by the code, GET /debug/do-calls
 * on every isolate), and failed requests.
 *
 * Options: --isolates=N (8) --rate=R (2) --seconds=S (20) --warmup=S (5) --delay=MS (30) --clients=N (500)
 * Everything listens on 127.0.0.1; every process is ended on exit.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { bundleOrchestrator } from "./bench/bundle.mjs";
import { HOST, ROOT, WORKERD } from "./bench/config.mjs";
import { processCpuSeconds as cpuSeconds } from "./bench/cpu.mjs";
import { freePorts } from "./lib/ports.mjs";
import { sleep, waitForHttp } from "./lib/wait.mjs";
import { compatibilityDate, isolatesWorkerdConfig } from "./workerd-config.mjs";

const SERVICES = ["main-bot", "api", "banking", "security", "frontend", "analytics"];
const option = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const ISOLATES = option("isolates", 8);
const RATE = option("rate", 2);
const SECONDS = option("seconds", 20);
const WARMUP = option("warmup", 5);
const DELAY = option("delay", 30);
const CLIENTS = option("clients", 500);
const say = (message) => console.log(`[bench-isolates] ${message}`);

const tmp = mkdtempSync(join(os.tmpdir(), "orchestrator-bench-isolates-"));
const children = [];
const extraDirs = [];
const cleanup = () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  for (const dir of [tmp, ...extraDirs]) rmSync(dir, { recursive: true, force: true });
};
process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));
const deadline = setTimeout(() => {
  console.error("[bench-isolates] took longer than 5 minutes; giving up");
  process.exit(1);
}, 5 * 60_000);

async function startWorkerd(name, configText, readyUrl) {
  const dir = join(tmp, name);
  writeFileSync(join(dir, "config.capnp"), configText);
  const child = spawn(WORKERD, ["serve", join(dir, "config.capnp"), "--experimental", "--verbose"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log = (log + d).slice(-8000)));
  child.stderr.on("data", (d) => (log = (log + d).slice(-8000)));
  child.logTail = () => log;
  children.push(child);
  // Any answer will do: the reference Workers' /warm is whatever the upstream says.
  const answer = await waitForHttp(readyUrl, {
    timeoutMs: 20_000,
    requestTimeoutMs: 1_000,
    ready: () => true,
    cancelled: () => {
      if (child.exitCode !== null) throw new Error(`workerd ${name} exited: ${log}`);
      return false;
    },
  });
  if (!answer.ready) throw new Error(`workerd ${name} did not start: ${log}`);
  return child;
}

/** The loopback instances: one node:http server answering every path with a small JSON body. */
async function startUpstream() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "16" });
      res.end('{"ok":true,"n":1}'.slice(0, 16));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, HOST, r));
  return server;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** An open loop: `rate` requests a second to each of `targets`, for `seconds`; latencies and failures. */
async function openLoop(targets, rate, seconds) {
  const latencies = [];
  let failed = 0;
  const failures = new Map();
  const pending = [];
  const interval = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  for (let tick = 0; tick * interval < seconds * 1000; tick++) {
    const due = start + tick * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    for (const target of targets) {
      const n = sent % CLIENTS;
      const client = `198.51.${n >> 8}.${n & 255}`;
      sent++;
      const t0 = performance.now();
      pending.push(
        fetch(target, { headers: { "cf-connecting-ip": client }, signal: AbortSignal.timeout(10_000) })
          .then(async (r) => {
            await r.arrayBuffer();
            if (r.status !== 200) {
              failed++;
              failures.set(r.status, (failures.get(r.status) ?? 0) + 1);
            } else latencies.push(performance.now() - t0);
          })
          .catch((error) => {
            failed++;
            failures.set(String(error.name), (failures.get(String(error.name)) ?? 0) + 1);
          }),
      );
    }
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { sent, failed, failures: Object.fromEntries(failures), p50: percentile(latencies, 50), p99: percentile(latencies, 99), seconds: (performance.now() - start) / 1000 };
}

async function doCalls(ports, adminKey) {
  const all = await Promise.all(
    ports.map(async (port) => {
      const r = await fetch(`http://${HOST}:${port}/debug/do-calls`, { headers: { authorization: `Bearer ${adminKey}`, "cf-connecting-ip": "192.0.2.1" } });
      const json = await r.json();
      if (r.status !== 200) throw new Error(`/debug/do-calls: ${r.status} ${JSON.stringify(json)}`);
      return json;
    }),
  );
  const sum = { proxiedRequests: 0, registry: 0, rateLimiter: 0, metrics: 0, awaited: 0 };
  for (const one of all) {
    sum.proxiedRequests += one.proxiedRequests;
    for (const kind of ["registry", "rateLimiter", "metrics", "awaited"]) sum[kind] += one.calls[kind] ?? 0;
  }
  return sum;
}

const diff = (after, before) => Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));

async function main() {
  const started = Date.now();
  const compat = compatibilityDate(ROOT);
  say(`bundling the orchestrator; ${ISOLATES} isolates, ${SERVICES.length} services, ${RATE} and ${2 * RATE} req/s per service per isolate, ${SECONDS} s each, ${DELAY} ms added to every Durable Object call the edge makes`);
  const bundleDir = join(tmp, "bundle");
  await bundleOrchestrator(bundleDir);
  const upstream = await startUpstream();
  const upstreamPort = upstream.address().port;

  // The baselines, same shape: ISOLATES copies of a reference Worker on as many ports, the same load.
  const startReference = async (name, file) => {
    const refDir = join(tmp, name);
    mkdirSync(refDir, { recursive: true });
    copyFileSync(join(ROOT, "bench", file), join(refDir, "worker.js"));
    const refPorts = await freePorts(ISOLATES);
    const child = await startWorkerd(
      name,
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
${refPorts.map((_, i) => `    (name = "${name}${i}", worker = (modules = [(name = "worker", esModule = embed "worker.js")], compatibilityDate = "${compat}", bindings = [(name = "UPSTREAM_PORT", text = "${upstreamPort}")], globalOutbound = "internet")),`).join("\n")}
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ ${refPorts.map((port, i) => `(name = "p${i}", address = "${HOST}:${port}", http = (), service = "${name}${i}")`).join(", ")} ],
);`,
      `http://${HOST}:${refPorts[0]}/warm`,
    );
    return { child, targets: refPorts.flatMap((port) => SERVICES.map((s) => `http://${HOST}:${port}/${s}/work`)) };
  };
  const passThrough = await startReference("pass", "passthrough.js");
  const minimalProxy = await startReference("minimal", "minimal-proxy.js");

  // The orchestrator: ISOLATES Workers from one bundle, sharing iso0's Durable Objects.
  const dir = join(tmp, "orchestrator");
  mkdirSync(dir, { recursive: true });
  // The objects' SQLite files on tmpfs: here they share workerd's one thread with the isolates, and a
  // disk fsync per rate-limit charge would stall the edge in a way production (objects elsewhere) does not.
  const storageDir = existsSync("/dev/shm") ? mkdtempSync(join("/dev/shm", "orchestrator-bench-isolates-")) : join(dir, "do-storage");
  mkdirSync(storageDir, { recursive: true });
  extraDirs.push(storageDir);
  copyFileSync(join(bundleDir, "index.js"), join(dir, "index.js"));
  copyFileSync(join(ROOT, "bench", "do-delay-wrapper.js"), join(dir, "wrapper.js"));
  const adminKey = `admin-${randomBytes(16).toString("hex")}`;
  const registrationToken = `reg-${randomBytes(16).toString("hex")}`;
  const vars = { ENVIRONMENT: "development", DEV_MODE: "true", ACCESS_LOG: "errors", ORCHESTRATOR_API_KEY: adminKey, REGISTRATION_TOKEN: registrationToken, BENCH_DO_DELAY_MS: String(DELAY), RATE_LIMIT_ADMIN: "100000", AUTH_FAILURE_LIMIT: "100000" };
  const ports = await freePorts(ISOLATES);
  const config = isolatesWorkerdConfig({ host: HOST, ports, storageDir, vars, uniqueKeyPrefix: "bench-isolates", compatibilityDate: compat, mainModule: "wrapper.js" });
  const orchestrator = await startWorkerd("orchestrator", config, `http://${HOST}:${ports[0]}/health`);
  for (const port of ports) await (await fetch(`http://${HOST}:${port}/health`)).arrayBuffer();

  for (const service of SERVICES) {
    for (let n = 0; n < 2; n++) {
      const r = await fetch(`http://${HOST}:${ports[0]}/registry/instances`, {
        method: "POST",
        headers: { authorization: `Bearer ${registrationToken}`, "content-type": "application/json", "cf-connecting-ip": "192.0.2.2" },
        body: JSON.stringify({ service, url: `http://${HOST}:${upstreamPort}/${service}-${n}`, ttlSeconds: 3600 }),
      });
      if (r.status !== 201) throw new Error(`register ${service}: ${r.status} ${await r.text()}\n${orchestrator.logTail()}`);
      await r.arrayBuffer();
    }
  }

  const orchestratorTargets = ports.flatMap((port) => SERVICES.map((s) => `http://${HOST}:${port}/${s}/work`));

  const rows = [];
  for (const [label, rate] of [["1x", RATE], ["2x", 2 * RATE]]) {
    const reference = async (label2, ref) => {
      say(`${label2} at ${rate} req/s per path per isolate: ${WARMUP} s warm-up, ${SECONDS} s measured`);
      await openLoop(ref.targets, rate, WARMUP);
      const before = cpuSeconds(ref.child.pid);
      const result = await openLoop(ref.targets, rate, SECONDS);
      result.cpuMsPerRequest = before === null ? null : ((cpuSeconds(ref.child.pid) - before) * 1000) / result.sent;
      return result;
    };
    const pass = await reference("pass-through", passThrough);
    const minimal = await reference("minimal proxy", minimalProxy);
    say(`orchestrator at ${rate} req/s per service per isolate (${rate * SERVICES.length * ISOLATES} req/s in all)`);
    await openLoop(orchestratorTargets, rate, WARMUP);
    const before = await doCalls(ports, adminKey);
    const cpuBefore = cpuSeconds(orchestrator.pid);
    const load = await openLoop(orchestratorTargets, rate, SECONDS);
    load.cpuMsPerRequest = cpuBefore === null ? null : ((cpuSeconds(orchestrator.pid) - cpuBefore) * 1000) / load.sent;
    const after = await doCalls(ports, adminKey);
    const calls = diff(after, before);
    rows.push({ label, ratePerServicePerIsolate: rate, requestsPerSecond: rate * SERVICES.length * ISOLATES, pass, minimal, orchestrator: load, calls, registryCallsPerSecond: calls.registry / load.seconds, awaitedPerProxied: calls.proxiedRequests > 0 ? calls.awaited / calls.proxiedRequests : null });
  }

  console.log("");
  console.log(`${ISOLATES} isolates, ${SERVICES.length} services x 2 instances, ${CLIENTS} client addresses, ${DELAY} ms added to each Durable Object call, ${SECONDS} s per row (one run on ${os.cpus().length} cores)`);
  console.log("rate        req/s  pass p50  pass p99  min. p50  orch p50  orch p99  p50 - pass  p50 - min.  CPU ms/req pass  CPU ms/req orch  awaited DO calls/req  RegistryDO calls/s  RateLimiterDO calls/s  failed");
  for (const r of rows) {
    const f = (x) => (x === null ? "-" : x.toFixed(2));
    console.log(
      `${r.label.padEnd(6)} ${String(r.requestsPerSecond).padStart(9)}  ${f(r.pass.p50).padStart(8)}  ${f(r.pass.p99).padStart(8)}  ${f(r.minimal.p50).padStart(8)}  ${f(r.orchestrator.p50).padStart(8)}  ${f(r.orchestrator.p99).padStart(8)}  ${f(r.orchestrator.p50 - r.pass.p50).padStart(10)}  ${f(r.orchestrator.p50 - r.minimal.p50).padStart(10)}  ${f(r.pass.cpuMsPerRequest).padStart(15)}  ${f(r.orchestrator.cpuMsPerRequest).padStart(15)}  ${(r.awaitedPerProxied ?? 0).toFixed(4).padStart(20)}  ${r.registryCallsPerSecond.toFixed(1).padStart(18)}  ${(r.calls.rateLimiter / r.orchestrator.seconds).toFixed(1).padStart(21)}  ${String(r.orchestrator.failed + r.pass.failed + r.minimal.failed).padStart(6)}${r.orchestrator.failed > 0 ? ` ${JSON.stringify(r.orchestrator.failures)}` : ""}`,
    );
  }
  const [one, two] = rows;
  const ratio = two.registryCallsPerSecond / Math.max(1e-9, one.registryCallsPerSecond);
  console.log(`RegistryDO calls/s at 2x / at 1x: ${ratio.toFixed(2)} (bound: isolates / soft TTL = ${ISOLATES}/s plus registration)`);
  mkdirSync(join(ROOT, "bench-results"), { recursive: true });
  writeFileSync(join(ROOT, "bench-results", "isolates.json"), JSON.stringify({ at: new Date().toISOString(), isolates: ISOLATES, services: SERVICES.length, delayMs: DELAY, seconds: SECONDS, rows, registryRatio: ratio, tookSeconds: (Date.now() - started) / 1000 }, null, 2));
  say("wrote bench-results/isolates.json");
  clearTimeout(deadline);
  orchestrator.kill("SIGTERM");
  passThrough.child.kill("SIGTERM");
  minimalProxy.child.kill("SIGTERM");
  upstream.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`[bench-isolates] failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);
