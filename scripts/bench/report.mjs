/**
 * The run's report: ratios to the baselines, the machine it ran on, the table
 * printed at the end, and bench-results/<latest|smoke>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { COMPATIBILITY_DATE, RESULTS_DIR, ROOT, say, WORKERD } from "./config.mjs";
import { fmtInt, fmtMs, round } from "./format.mjs";
import { orchestratorVars, redactedVars } from "./orchestrator.mjs";
import { toolVersion } from "./tools.mjs";

/** Each result's throughput relative to the pass-through, the minimal proxy and nginx direct (null where that row is missing). */
export function addRatios(results) {
  const base = results.find((r) => r.id === "workerd-passthrough");
  const minimalProxy = results.find((r) => r.id === "workerd-minimal-proxy");
  const direct = results.find((r) => r.id === "nginx-direct");
  for (const r of results) {
    r.ratioToPassthrough = base?.rps ? round(r.rps / base.rps, 3) : null;
    r.ratioToMinimalProxy = minimalProxy?.rps ? round(r.rps / minimalProxy.rps, 3) : null;
    r.ratioToNginxDirect = direct?.rps ? round(r.rps / direct.rps, 3) : null;
  }
}

/** The JSON report of a run. */
export function buildReport({ options, startedAt, loadBefore, results, scale }) {
  return {
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
}

/** Writes the report to bench-results/ (smoke.json for --smoke, else latest.json). */
export function writeReport(report, { smoke }) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const resultsFile = smoke ? "smoke.json" : "latest.json";
  writeFileSync(join(RESULTS_DIR, resultsFile), JSON.stringify(report, null, 2) + "\n");
  say(`wrote ${join("bench-results", resultsFile)}`);
}

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

export function printTable(results) {
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
