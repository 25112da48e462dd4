/**
 * The orchestrator bundled for plain workerd (`wrangler deploy --dry-run`), as
 * both halves of `npm run bench` (scripts/bench.mjs, scripts/bench-isolates.mjs) run it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCaptured } from "../lib/processes.mjs";
import { ROOT, WRANGLER } from "./config.mjs";

/**
 * Writes the bundle (index.js) into outDir. `run` runs the command (a bench session's
 * runCommand, so that Ctrl-C ends it too); by default it is simply run in the project folder.
 *
 * @param {string} outDir
 * @param {(command: string, args: string[], options: { env: NodeJS.ProcessEnv, timeoutMs: number }) => Promise<{ code: number | null, signal: string | null, stdout: string, stderr: string }>} [run]
 */
export async function bundleOrchestrator(outDir, run = (command, args, options) => runCaptured(command, args, { cwd: ROOT, ...options })) {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };
  delete env.CLOUDFLARE_ENV;
  // --env "" : the top-level (development) configuration, as wrangler.toml intends for local runs.
  const r = await run(process.execPath, [WRANGLER, "deploy", "--dry-run", "--env", "", "--outdir", outDir], { env, timeoutMs: 120_000 });
  if (r.code !== 0 || !existsSync(join(outDir, "index.js"))) {
    throw new Error(`wrangler deploy --dry-run failed (${r.code ?? r.signal}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  }
}
