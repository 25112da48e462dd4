/**
 * The benchmark is not a test and asserts no timing; this only proves that
 * `npm run bench` still builds, starts and measures everything (a second of
 * tiny load per target), that the orchestrator answered every request, and
 * that the report names Durable Object calls per proxied request.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("bench smoke run", () => {
  it("runs every target once and writes a report", () => {
    const run = spawnSync("node", ["scripts/bench.mjs", "--smoke", "--duration=1", "--warmup=1", "--connections=4", "--threads=1"], {
      cwd: new URL("../..", import.meta.url).pathname,
      encoding: "utf8",
      timeout: 240_000,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    const report = JSON.parse(readFileSync(new URL("../../bench-results/smoke.json", import.meta.url), "utf8")) as {
      results: { id: string; rps: number; non2xx: number; doCalls?: { perProxiedRequest: Record<string, number> } }[];
    };
    const ids = report.results.map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining(["nginx-direct", "nginx-proxy", "workerd-passthrough", "orchestrator-round-robin"]));
    for (const result of report.results) expect(result.rps).toBeGreaterThan(0);
    const orchestrator = report.results.find((r) => r.id === "orchestrator-round-robin");
    expect(orchestrator?.non2xx).toBe(0);
    expect(orchestrator?.doCalls?.perProxiedRequest).toHaveProperty("registry");
  }, 300_000);
});
