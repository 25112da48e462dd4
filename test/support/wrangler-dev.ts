/**
 * Starting and stopping a real `wrangler dev` for the Node-side test projects
 * (e2e, browser): a snapshot of the tree (so edits made while a run is going on
 * cannot reload it mid-test), a clean child environment, waiting for /health,
 * and stopping the whole process group. Free ports, logs and signals come from
 * scripts/lib/, shared with the scripts.
 */
import type { ChildProcess } from "node:child_process";
import { cpSync, symlinkSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { sendSignal, spawnLogged } from "../../scripts/lib/processes.mjs";
import { waitForHttp } from "../../scripts/lib/wait.mjs";

export const ROOT = new URL("../..", import.meta.url).pathname;

/** Top-level entries that are never part of the Worker (or must not be: secrets files). */
const NOT_IN_SNAPSHOT = new Set(["node_modules", ".git", ".wrangler", "dist", "test", "coverage", "bench-results", ".tmp", "test-artifacts"]);

/**
 * Copies the tree as it is now; returns the wrangler.toml to run. `root` is
 * for callers bundled elsewhere (the reliability scripts), where this file's
 * own location says nothing about the project's.
 */
export function snapshotTree(into: string, root = ROOT): string {
  cpSync(root, into, {
    recursive: true,
    filter: (source) => {
      const top = relative(root, source).split(sep)[0] ?? "";
      return top === "" || !(NOT_IN_SNAPSHOT.has(top) || top.startsWith(".dev.vars") || top.startsWith(".env"));
    },
  });
  symlinkSync(join(root, "node_modules"), join(into, "node_modules"), "dir");
  return join(into, "wrangler.toml");
}

export function childEnv(logDir?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["CLOUDFLARE_ENV", "CLOUDFLARE_INCLUDE_PROCESS_ENV", "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "WRANGLER_LOG", "FORCE_COLOR"]) {
    delete env[name];
  }
  // WRANGLER_LOG_PATH: wrangler's debug logs go with this run, not to ~/.config/.wrangler/logs.
  return { ...env, WRANGLER_SEND_METRICS: "false", ...(logDir === undefined ? {} : { WRANGLER_LOG_PATH: logDir }), NO_COLOR: "1", CI: "true" };
}

/** Waits until GET <baseUrl>/health answers 200; throws if wrangler exits first or `deadline` passes. */
export async function waitForHealth(baseUrl: string, child: ChildProcess, deadline: number, timeoutMs: number): Promise<void> {
  const answer = await waitForHttp(`${baseUrl}/health`, {
    timeoutMs: deadline - Date.now(),
    intervalMs: 300,
    requestTimeoutMs: 5_000,
    cancelled: () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`wrangler dev exited early (code ${child.exitCode}, signal ${child.signalCode})`);
      }
      return false;
    },
  });
  if (!answer.ready) throw new Error(`orchestrator not healthy within ${timeoutMs} ms (${answer.last})`);
}

/** SIGTERM to the whole process group (wrangler, esbuild, workerd); once wrangler has exited, SIGKILL to what is left of it (SIGKILL anyway after 5 s). */
export function stopGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return resolve();
    const pid = child.pid;
    const killGroup = (signal: NodeJS.Signals) => void sendSignal(pid, signal, { group: true });
    const hard = setTimeout(() => killGroup("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(hard);
      // workerd can outlive its parent for a moment; make sure the group is gone.
      killGroup("SIGKILL");
      resolve();
    });
    killGroup("SIGTERM");
  });
}

export interface WranglerDevOptions {
  readonly configPath: string;
  readonly port: number;
  readonly inspectorPort: number;
  readonly persistDir: string;
  readonly envFile: string;
  readonly vars: Readonly<Record<string, string>>;
}

/** The arguments of one `wrangler dev` for a test project: loopback only, its own state, no interactive session or live reload. */
function wranglerDevArgs({ configPath, port, inspectorPort, persistDir, envFile, vars }: WranglerDevOptions): string[] {
  return [
    "dev",
    "--config",
    configPath,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    persistDir,
    "--env-file",
    envFile,
    "--show-interactive-dev-session=false",
    "--live-reload=false",
    "--var",
    ...Object.entries(vars).map(([key, value]) => `${key}:${value}`),
  ];
}

export interface WranglerDev {
  readonly child: ChildProcess;
  /** Ends the whole process group and drops the exit-time safety net. */
  stop(): Promise<void>;
}

/**
 * Starts `wrangler dev` in its own process group, its output appended to
 * `logFile` (and wrangler's debug logs in `wranglerLogDir`, when given). If the
 * runner dies without calling stop(), the group is killed at exit: never
 * leave workerd behind.
 */
export function startWranglerDev(options: WranglerDevOptions & { readonly logFile: string; readonly wranglerLogDir?: string }): WranglerDev {
  const child = spawnLogged(join(ROOT, "node_modules/.bin/wrangler"), wranglerDevArgs(options), {
    logFile: options.logFile,
    cwd: ROOT,
    env: childEnv(options.wranglerLogDir),
  });
  const killOnExit = () => {
    if (child.pid !== undefined && child.exitCode === null) sendSignal(child.pid, "SIGKILL", { group: true });
  };
  process.once("exit", killOnExit);
  return {
    child,
    async stop() {
      await stopGroup(child);
      process.off("exit", killOnExit);
    },
  };
}
