/**
 * `npm run soak`: a bounded, steady rate of idempotent GETs through the
 * gateway (the orchestrator on plain workerd, Durable Objects on disk) to a
 * service of three loopback instances, one of which flaps (down 5 s, up 5 s:
 * its listener closes and its open connections are cut). Expected: no error
 * the gateway causes (an idempotent GET without a body that fails to connect
 * is retried on another instance), workerd's memory roughly flat, nothing
 * left counted in flight afterwards. Prints a summary table. Not part of
 * `npm test`. scripts/soak.mjs bundles and runs this file.
 *
 *   --rate=N        requests per second (500)
 *   --seconds=N     how long (60)
 *   --flap=N        seconds down / seconds up for the flapping instance (5)
 *   --max-inflight=N  cap on requests in flight; launches past it count as late (256)
 *   --var NAME=VALUE  an orchestrator setting (repeatable), e.g. --var RETRY_MIN_CONCURRENCY=16
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Api, Connections, sendRaw, totalInflight } from "./client";
import { type LoopbackUpstream, startLoopbackUpstream } from "./upstream";
import { Inspector } from "./inspector";
import { bundle, freePort, killChildrenOnSignals, Orchestrator, sleep } from "./workerd-harness";

/** Flags; --var NAME=VALUE may repeat and is collected separately. */
function flags(): { map: Map<string, string>; vars: Record<string, string> } {
  const map = new Map<string, string>();
  const vars: Record<string, string> = {};
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i] as string);
    if (!m) throw new Error(`unknown argument ${args[i]}`);
    let value = m[2];
    if (value === undefined && args[i + 1] !== undefined && !(args[i + 1] as string).startsWith("--")) value = args[++i];
    if (m[1] === "var") {
      const kv = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(value ?? "");
      if (!kv) throw new Error("--var wants NAME=VALUE");
      vars[kv[1] as string] = kv[2] as string;
    } else map.set(m[1] as string, value ?? "true");
  }
  return { map, vars };
}

function int(map: Map<string, string>, name: string, fallback: number, min: number, max: number): number {
  const raw = map.get(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const mib = (kib: number | null) => (kib === null ? "-" : `${(kib / 1024).toFixed(1)} MiB`);

export async function main(): Promise<number> {
  const { map, vars: extraVars } = flags();
  const rate = int(map, "rate", 500, 1, 20_000);
  const seconds = int(map, "seconds", 60, 1, 3_600);
  const flap = int(map, "flap", 5, 1, 600);
  const maxInflight = int(map, "max-inflight", 256, 1, 10_000);
  const say = (line: string) => console.log(`[soak] ${line}`);
  killChildrenOnSignals();

  const work = mkdtempSync(join(tmpdir(), "orchestrator-soak-"));
  const upstreams: LoopbackUpstream[] = [];
  let orchestrator: Orchestrator | null = null;
  try {
    say("bundling the orchestrator (wrangler deploy --dry-run)");
    const built = await bundle(work);
    orchestrator = new Orchestrator({
      bundle: built,
      // The V8 inspector, to read the live JavaScript heap after a forced GC (see inspector.ts).
      inspectorPort: await freePort(),
      vars: {
        // Active checks every second: the flapping instance is seen going down and coming back.
        HEALTH_CHECK_INTERVAL_MS: "1000",
        HEALTH_CHECK_TIMEOUT_MS: "500",
        UPSTREAM_TIMEOUT_MS: "10000",
        ...extraVars,
      },
    });
    await orchestrator.start();
    const api = new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken);
    for (let i = 0; i < 3; i++) {
      const upstream = await startLoopbackUpstream(`soak-${i}`);
      upstreams.push(upstream);
      const registered = await api.register({ service: "soak", url: upstream.url, ttlSeconds: 3600 });
      if (registered.status !== 201) throw new Error(`register: ${registered.status} ${registered.text}`);
    }
    const flapping = upstreams[0] as LoopbackUpstream;
    say(`orchestrator ${orchestrator.baseUrl} (workerd pid ${orchestrator.pid}); ${rate} req/s for ${seconds} s; ${flapping.name} flaps ${flap} s down / ${flap} s up${Object.keys(extraVars).length ? `; settings ${JSON.stringify(extraVars)}` : ""}`);

    // ---- live JavaScript heap (after a full GC) at the start, after warm-up and at the end
    let inspector: Inspector | null = null;
    const liveHeap = async (): Promise<number | null> => {
      try {
        inspector ??= await Inspector.connect(orchestrator?.options.inspectorPort as number);
        return await inspector.liveHeapBytes();
      } catch (error) {
        say(`could not read the live heap: ${String(error)}`);
        return null;
      }
    };
    const heapStart = await liveHeap();
    let heapWarm: number | null = null;
    const warmTimer = setTimeout(() => void liveHeap().then((bytes) => (heapWarm = bytes)), 10_000);

    // ---- memory samples
    const rss: Array<{ at: number; kib: number }> = [];
    const started = Date.now();
    const sampleRss = () => {
      const kib = orchestrator?.rssKiB();
      if (kib != null) rss.push({ at: Date.now() - started, kib });
    };
    sampleRss();
    const sampler = setInterval(sampleRss, 2_000);

    // ---- the flapping instance
    let flaps = 0;
    let flapping_ = true;
    const flapper = (async () => {
      while (flapping_) {
        // In short steps, so the end of the run is not held up by a long --flap.
        for (let waited = 0; waited < flap * 1000 && flapping_; waited += 100) await sleep(100);
        if (!flapping_) break;
        if (flapping.isUp()) await flapping.down();
        else await flapping.up();
        flaps++;
      }
      await flapping.up();
    })();

    // ---- open-loop load: request i is due at started + i / rate
    const total = rate * seconds;
    const connections = new Connections(maxInflight);
    const statuses: Record<string, number> = {};
    const errors: string[] = [];
    const latencies: number[] = [];
    let windowLatencies: number[] = [];
    let windowErrors = 0;
    let launched = 0;
    let inflight = 0;
    let late = 0;
    let completed = 0;
    const hardDeadline = started + (seconds + 60) * 1000;
    let lastReport = started;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const now = Date.now();
        const due = Math.min(total, Math.floor(((now - started) * rate) / 1000));
        while (launched < due) {
          if (inflight >= maxInflight) {
            late++;
            break;
          }
          const i = launched++;
          inflight++;
          const sentAt = Date.now();
          sendRaw(orchestrator?.baseUrl as string, connections, { method: "GET", path: `/soak/items/${i}`, timeoutMs: 15_000 })
            .then((response) => {
              statuses[String(response.status)] = (statuses[String(response.status)] ?? 0) + 1;
              if (response.status !== 200) windowErrors++;
              if (response.status !== 200 && errors.length < 20) errors.push(`#${i} at ${((sentAt - started) / 1000).toFixed(1)} s: HTTP ${response.status} ${response.body.toString("utf8").slice(0, 200)}`);
            })
            .catch((error: unknown) => {
              statuses.transport = (statuses.transport ?? 0) + 1;
              windowErrors++;
              if (errors.length < 20) errors.push(`#${i} at ${((sentAt - started) / 1000).toFixed(1)} s: ${String(error)}`);
            })
            .finally(() => {
              latencies.push(Date.now() - sentAt);
              windowLatencies.push(Date.now() - sentAt);
              inflight--;
              completed++;
            });
        }
        if (now - lastReport >= 5_000) {
          const window = windowLatencies.sort((a, b) => a - b);
          say(
            `${String(Math.round((now - started) / 1000)).padStart(4)} s: ${completed} done, last 5 s ${(window.length / ((now - lastReport) / 1000)).toFixed(0)} req/s, ` +
              `p50 ${percentile(window, 50)} ms, p99 ${percentile(window, 99)} ms, errors ${windowErrors}, in flight ${inflight}, RSS ${mib(orchestrator?.rssKiB() ?? null)}, ${flapping.name} ${flapping.isUp() ? "up" : "down"}`,
          );
          lastReport = now;
          windowLatencies = [];
          windowErrors = 0;
        }
        if ((launched >= total && inflight === 0) || now > hardDeadline) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    const elapsedMs = Date.now() - started;
    flapping_ = false;
    await flapper;
    connections.destroy();
    sampleRss();
    clearInterval(sampler);
    clearTimeout(warmTimer);

    // ---- afterwards: nothing left in flight (leases released, edge reports expired)
    let inflightAfter = Number.POSITIVE_INFINITY;
    const drainStart = Date.now();
    while (Date.now() - drainStart < 20_000) {
      inflightAfter = totalInflight(await api.snapshot());
      if (inflightAfter === 0) break;
      await sleep(250);
    }
    const drainMs = Date.now() - drainStart;
    const heapEnd = await liveHeap();
    const rssAfterGc = orchestrator.rssKiB();
    (inspector as Inspector | null)?.close();
    const snapshot = await api.snapshot();
    // The isolate sends its last outcomes one metrics flush interval (1 s by default) after they happen:
    // wait for that, so the total below counts every request rather than all but the last second's.
    await sleep(2_000);
    const metrics = await api.expect<{ workers: Record<string, { totalRequests: number; errors: Record<string, number>; instances: Record<string, { totalRequests: number }> }> }>(200, "GET", "/metrics");

    // ---- summary
    const sorted = latencies.slice().sort((a, b) => a - b);
    const ok = statuses["200"] ?? 0;
    const notOk = completed - ok;
    const achieved = (completed / elapsedMs) * 1000;
    const warm = rss.find((s) => s.at >= 10_000) ?? rss[0];
    const first = rss[0]?.kib ?? null;
    const last = rss[rss.length - 1]?.kib ?? null;
    const max = rss.reduce((m, s) => Math.max(m, s.kib), 0);
    const growthAfterWarmup = warm && last !== null ? (last - warm.kib) / warm.kib : 0;
    // A leak shows as live heap that keeps growing; RSS also holds garbage V8 has not collected yet.
    const heapFlat = heapWarm !== null && heapEnd !== null ? heapEnd <= heapWarm * 1.5 + 2 * 1024 * 1024 : null;
    const memoryFlat = heapFlat ?? growthAfterWarmup <= 0.5;
    const heapMiB = (bytes: number | null) => (bytes === null ? "n/a" : `${(bytes / 1048576).toFixed(1)} MiB`);
    const service = snapshot.services.find((s) => s.name === "soak");
    const rows: Array<[string, string]> = [
      ["target", `${rate} req/s x ${seconds} s = ${total} GETs (open loop, at most ${maxInflight} in flight)`],
      ["achieved", `${completed} completed in ${(elapsedMs / 1000).toFixed(1)} s = ${achieved.toFixed(0)} req/s; launched late ${late} time(s)`],
      ["statuses", Object.entries(statuses).map(([k, v]) => `${k}: ${v}`).join(", ")],
      ["gateway errors", `${notOk} (non-200 or transport) of ${completed}`],
      ["latency ms", `p50 ${percentile(sorted, 50)}, p95 ${percentile(sorted, 95)}, p99 ${percentile(sorted, 99)}, max ${sorted[sorted.length - 1] ?? 0}`],
      ["flapping", `${flapping.name}: ${flaps} transitions (${flap} s down / ${flap} s up)`],
      ["upstreams served", upstreams.map((u) => `${u.name} ${u.served()}`).join(", ")],
      ["orchestrator metrics", `soak total ${metrics.workers.soak?.totalRequests ?? 0}, errors ${JSON.stringify(metrics.workers.soak?.errors ?? {})}`],
      ["workerd RSS", `first ${mib(first)}, after 10 s ${mib(warm?.kib ?? null)}, last ${mib(last)}, max ${mib(max)} (${rss.length} samples, every 2 s; growth after warm-up ${(growthAfterWarmup * 100).toFixed(1)}%); after a forced GC at the end ${mib(rssAfterGc)}`],
      ["live JS heap", `after GC: start ${heapMiB(heapStart)}, after 10 s ${heapMiB(heapWarm)}, end ${heapMiB(heapEnd)} -> ${heapFlat === null ? "unknown (judged on RSS)" : heapFlat ? "flat" : "GROWING"}`],
      ["in flight after", `${inflightAfter} (after ${drainMs} ms); per instance ${service?.instances.map((i) => `${i.inflight}`).join("/")}`],
      ["instances after", service?.instances.map((i) => `${i.target.kind === "url" ? i.target.url.replace("http://127.0.0.1:", ":") : i.target.binding} ${i.health}`).join(", ") ?? "-"],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log("");
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    if (errors.length > 0) {
      console.log("\nfirst errors:");
      for (const e of errors) console.log(`  ${e}`);
    }
    const pass = notOk === 0 && inflightAfter === 0 && completed === total && memoryFlat;
    console.log("");
    say(pass ? "PASS" : `FAIL${notOk ? ` (${notOk} gateway errors)` : ""}${inflightAfter ? ` (in flight ${inflightAfter})` : ""}${completed !== total ? ` (${completed}/${total} completed)` : ""}${memoryFlat ? "" : " (memory grew after warm-up)"}`);
    return pass ? 0 : 1;
  } finally {
    await orchestrator?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
    rmSync(work, { recursive: true, force: true });
  }
}
