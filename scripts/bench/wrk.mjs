/**
 * Measuring one target: a wrk warm-up, then the measured wrk run
 * (bench/wrk-report.lua prints its numbers as JSON) with the servers' CPU use
 * sampled from /proc alongside.
 */
import { groupCpuSeconds } from "./cpu.mjs";
import { say, WRK_SCRIPT } from "./config.mjs";
import { fmtInt, fmtMs, round } from "./format.mjs";

/**
 * A measure(id, label, url, servers, extra) function that appends each target's result to `results`.
 * extra.before() runs after the warm-up, extra.after(before) after the measured run; what after
 * returns is added to the result.
 *
 * @param {ReturnType<typeof import("./session.mjs").createSession>} session
 * @param {object[]} results
 */
export function measurer(session, results) {
  const { options } = session;
  return async (id, label, url, servers, extra = {}) => {
    say(`${label}: ${options.warmup} s warm-up, ${options.duration} s measured (${url})`);
    await runWrk(session, url, options.warmup);
    const before = extra.before ? await extra.before() : undefined;
    const cpuBefore = servers.map((entry) => groupCpuSeconds(entry.child.pid));
    const wallStart = process.hrtime.bigint();
    const wrk = await runWrk(session, url, options.duration);
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
}

async function runWrk(session, url, seconds) {
  const { threads, connections } = session.options;
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--latency", "-s", WRK_SCRIPT, url];
  const r = await session.runCommand("wrk", args, { env: process.env, timeoutMs: (seconds + 20) * 1000 });
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
