/**
 * The orchestrator on plain `workerd serve`, for the reliability suite and the
 * fuzz and soak scripts: the minimal logic of scripts/bench.mjs, copied (not
 * shared) so the benchmark can change without breaking these; only the workerd
 * config (scripts/workerd-config.mjs) and the small port, process and wait
 * helpers (scripts/lib/) are shared.
 *
 * - bundle(): a snapshot of the tree (the way test/e2e/global-setup.ts takes
 *   one, so a half-saved file of someone else's cannot break the build) is
 *   bundled with `wrangler deploy --dry-run --env "" --outdir`.
 * - Orchestrator: one workerd process with a generated capnp config in its own
 *   temp dir, Durable Objects on localDisk storage (SQLite-backed DOs cannot use
 *   inMemory), the dashboard's static files served to the ASSETS binding by a
 *   workerd disk service, every setting passed as a text binding. It can be
 *   killed with SIGKILL and started again on the same storage.
 *
 * Everything listens on 127.0.0.1 only. Every process started here is killed
 * when the Node process exits, whatever the reason.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, LOOPBACK } from "../../scripts/lib/ports.mjs";
import { runCaptured, sendSignal, spawnLogged, tail } from "../../scripts/lib/processes.mjs";
import { sleep, waitForHttp } from "../../scripts/lib/wait.mjs";
import { compatibilityDate, orchestratorWorkerdConfig } from "../../scripts/workerd-config.mjs";
import { snapshotTree } from "../support/wrangler-dev";

/** The project root. Scripts that run a bundled copy of this file set RELIABILITY_ROOT, since import.meta.url moves with the bundle. */
export function projectRoot(): string {
  return process.env.RELIABILITY_ROOT ?? fileURLToPath(new URL("../..", import.meta.url));
}

const HOST = LOOPBACK;
/** The schema's maximum for every RATE_LIMIT_* class (src/config.ts), per period. */
export const MAX_RATE_LIMIT = "10000000";

const workerdBinary = () => join(projectRoot(), "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd");
const wranglerJs = () => join(projectRoot(), "node_modules", "wrangler", "bin", "wrangler.js");

// ------------------------------------------------------------------ process bookkeeping

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort (the runner died, a script threw): never leave a workerd behind.
    process.on("exit", () => {
      for (const c of running) if (c.pid !== undefined) sendSignal(c.pid, "SIGKILL", { group: true });
    });
  }
}

/**
 * For command-line entry points (not tests): Ctrl-C, SIGTERM or SIGHUP kill
 * every workerd started here before the process exits (an exit hook alone
 * does not run when a signal ends the process).
 */
export function killChildrenOnSignals(): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping the workerd processes this run started`);
      for (const c of running) if (c.pid !== undefined) sendSignal(c.pid, "SIGKILL", { group: true });
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
}

export { freePort, sleep };

/** How much of workerd's log an error message quotes. */
const LOG_TAIL_BYTES = 6000;

// ------------------------------------------------------------------ bundling

export interface Bundle {
  /** Directory holding index.js (the Worker) and public/ (the dashboard's static files). */
  readonly dir: string;
}

/**
 * Snapshots the tree into `workDir/tree`, bundles it into `workDir/bundle`
 * and copies the dashboard's files next to it. Takes a couple of seconds.
 */
export async function bundle(workDir: string): Promise<Bundle> {
  const root = projectRoot();
  const tree = join(workDir, "tree");
  const out = join(workDir, "bundle");
  snapshotTree(tree, root);
  const env: NodeJS.ProcessEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", WRANGLER_LOG_PATH: join(workDir, "wrangler-logs") };
  for (const name of ["CLOUDFLARE_ENV", "CLOUDFLARE_INCLUDE_PROCESS_ENV", "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "FORCE_COLOR"]) delete env[name];
  const result = await runCaptured(process.execPath, [wranglerJs(), "deploy", "--dry-run", "--env", "", "--outdir", out], { cwd: tree, env, timeoutMs: 120_000 });
  if (result.code !== 0 || !existsSync(join(out, "index.js"))) {
    throw new Error(`wrangler deploy --dry-run failed (${result.code}):\n${result.output.slice(-3000)}`);
  }
  cpSync(join(tree, "dashboard", "public"), join(out, "public"), { recursive: true });
  rmSync(tree, { recursive: true, force: true });
  return { dir: out };
}

// ------------------------------------------------------------------ the orchestrator on workerd

export interface OrchestratorOptions {
  readonly bundle: Bundle;
  /** Settings over the defaults below (strings, as in the Worker environment). */
  readonly vars?: Readonly<Record<string, string>>;
  /** Keep workerd's console output (--verbose) in the log file. */
  readonly verbose?: boolean;
  /** Open the V8 inspector on this loopback port (for heap measurements). */
  readonly inspectorPort?: number;
}

/** Defaults for every reliability run: development (loopback upstreams allowed), rate limits out of the way. */
export function defaultVars(adminKey: string, registrationToken: string): Record<string, string> {
  return {
    ENVIRONMENT: "development",
    DEV_MODE: "true",
    LB_STRATEGY: "round-robin",
    ORCHESTRATOR_API_KEY: adminKey,
    REGISTRATION_TOKEN: registrationToken,
    STATIC_INSTANCES: "[]",
    RATE_LIMIT_PERIOD_SECONDS: "60",
    RATE_LIMIT_GENERAL: MAX_RATE_LIMIT,
    RATE_LIMIT_HEALTH: MAX_RATE_LIMIT,
    RATE_LIMIT_REGISTRY: MAX_RATE_LIMIT,
    RATE_LIMIT_ADMIN: MAX_RATE_LIMIT,
    AUTH_FAILURE_LIMIT: MAX_RATE_LIMIT,
    RATE_LIMIT_METRICS: MAX_RATE_LIMIT,
  };
}


export class Orchestrator {
  readonly adminKey = `admin-${randomBytes(18).toString("hex")}`;
  readonly registrationToken = `reg-${randomBytes(18).toString("hex")}`;
  readonly dir: string;
  readonly storageDir: string;
  readonly logFile: string;
  readonly vars: Readonly<Record<string, string>>;
  port = 0;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private starts = 0;

  constructor(readonly options: OrchestratorOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "orchestrator-reliability-"));
    this.storageDir = join(this.dir, "do-storage");
    this.logFile = join(this.dir, "workerd.log");
    mkdirSync(this.storageDir, { recursive: true });
    // capnp resolves an absolute embed path against its import path, not "/": embed a copy beside the config.
    copyFileSync(join(options.bundle.dir, "index.js"), join(this.dir, "index.js"));
    this.vars = { ...defaultVars(this.adminKey, this.registrationToken), ...options.vars };
  }

  get baseUrl(): string {
    return `http://${HOST}:${this.port}`;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Starts workerd (again, on the same storage and port, after a kill) and waits for GET /health. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) throw new Error("already running");
    if (this.port === 0) this.port = await freePort();
    const config = join(this.dir, "config.capnp");
    writeFileSync(config, this.config());
    this.starts++;
    appendFileSync(this.logFile, `\n----- start ${this.starts} at ${new Date().toISOString()} -----\n`);
    const child = spawnLogged(workerdBinary(), ["serve", config, "--experimental", ...(this.options.verbose ? ["--verbose"] : []), ...(this.options.inspectorPort ? [`--inspector-addr=${HOST}:${this.options.inspectorPort}`] : [])], {
      logFile: this.logFile,
      cwd: this.dir,
    });
    track(child);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const answer = await waitForHttp(`${this.baseUrl}/health`, {
      timeoutMs,
      cancelled: () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          this.child = null;
          throw new Error(`workerd exited while starting (${child.exitCode ?? child.signalCode}):\n${tail(this.logFile, LOG_TAIL_BYTES)}`);
        }
        return false;
      },
    });
    if (answer.ready) return;
    await this.kill();
    throw new Error(`workerd not healthy within ${timeoutMs} ms (${answer.last}):\n${tail(this.logFile, LOG_TAIL_BYTES)}`);
  }

  /** SIGKILL: no shutdown, no flush, exactly what a crash does. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.pid !== undefined) sendSignal(child.pid, "SIGKILL", { group: true });
    await Promise.race([this.exited, sleep(5_000)]);
  }

  /** Kills workerd and removes its directory (unless RELIABILITY_KEEP is set). */
  async dispose(): Promise<void> {
    await this.kill();
    if (process.env.RELIABILITY_KEEP) console.log(`[reliability] kept ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** Resident memory of the workerd process in KiB (VmRSS), or null when it is not running. */
  rssKiB(): number | null {
    const pid = this.pid;
    if (pid === null) return null;
    try {
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return match ? Number(match[1]) : null;
    } catch {
      return null;
    }
  }

  logTail(bytes?: number): string {
    return tail(this.logFile, bytes ?? LOG_TAIL_BYTES);
  }

  private config(): string {
    return orchestratorWorkerdConfig({
      host: HOST,
      port: this.port,
      storageDir: this.storageDir,
      assetsDir: join(this.options.bundle.dir, "public"),
      vars: this.vars,
      uniqueKeyPrefix: "orchestrator-reliability",
      compatibilityDate: compatibilityDate(projectRoot()),
    });
  }
}
