/**
 * `npm run fuzz`: the bad-input run of fuzz.test.ts, longer (scripts/fuzz.mjs
 * bundles this file and runs it with plain node).
 *
 *   --cases=N        cases to send (100000)
 *   --seed=N         fast-check seed (random); a failure names the batch seed that reproduces it
 *   --concurrency=N  requests in flight (16)
 *   --batch=N        cases between two registry snapshots (500)
 *   --minutes=N      stop starting new batches after this long (30)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatReport, runFuzz, startFuzzTarget, waitForZeroInflight } from "./fuzz-core";
import { bundle, killChildrenOnSignals } from "./workerd-harness";

function flags(): Map<string, string> {
  const map = new Map<string, string>();
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i] as string);
    if (!m) throw new Error(`unknown argument ${args[i]}`);
    let value = m[2];
    if (value === undefined && args[i + 1] !== undefined && !(args[i + 1] as string).startsWith("--")) value = args[++i];
    map.set(m[1] as string, value ?? "true");
  }
  return map;
}

function int(map: Map<string, string>, name: string, fallback: number, min: number, max: number): number {
  const raw = map.get(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

export async function main(): Promise<number> {
  const map = flags();
  const cases = int(map, "cases", 100_000, 1, 10_000_000);
  const seed = int(map, "seed", Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31);
  const concurrency = int(map, "concurrency", 16, 1, 256);
  const batchSize = int(map, "batch", 500, 10, 100_000);
  const minutes = int(map, "minutes", 30, 1, 24 * 60);
  const say = (line: string) => console.log(`[fuzz] ${line}`);
  killChildrenOnSignals();

  const work = mkdtempSync(join(tmpdir(), "orchestrator-fuzz-"));
  say("bundling the orchestrator (wrangler deploy --dry-run)");
  const built = await bundle(work);
  const target = await startFuzzTarget(built);
  say(`orchestrator on workerd ${target.orchestrator.baseUrl} (pid ${target.orchestrator.pid}); ${cases} cases, seed ${seed}, concurrency ${concurrency}`);
  let lastPrint = 0;
  try {
    const report = await runFuzz({
      ctx: target.ctx,
      api: target.api,
      cases,
      seed,
      concurrency,
      batchSize,
      budgetMs: minutes * 60_000,
      onBatch: ({ done, elapsedMs, failures }) => {
        if (Date.now() - lastPrint < 5_000 && done < cases) return;
        lastPrint = Date.now();
        say(`${done}/${cases} cases, ${Math.round((done / Math.max(1, elapsedMs)) * 1000)} req/s, ${failures} failure(s), workerd RSS ${Math.round((target.orchestrator.rssKiB() ?? 0) / 1024)} MiB`);
      },
    });
    const alive = target.orchestrator.pid !== null && (await fetch(`${target.orchestrator.baseUrl}/health`).then((r) => r.status).catch(() => 0)) === 200;
    const drained = await waitForZeroInflight(target.api, 20_000);
    console.log("");
    console.log(formatReport(report));
    console.log(`after      workerd alive and healthy: ${alive}; in flight ${drained.inflight} (after ${drained.waitedMs} ms); RSS ${Math.round((target.orchestrator.rssKiB() ?? 0) / 1024)} MiB`);
    const ok = report.failureCount === 0 && report.stateFailures.length === 0 && alive && drained.inflight === 0 && report.casesRun === cases;
    say(ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
  } finally {
    await target.close();
    rmSync(work, { recursive: true, force: true });
  }
}
