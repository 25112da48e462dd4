/**
 * Starting and stopping a real `wrangler dev` for the Node-side test projects
 * (e2e, browser): free ports, a snapshot of the tree (so edits made while a run
 * is going on cannot reload it mid-test), a clean child environment, waiting for
 * /health, and stopping the whole process group.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, cpSync, existsSync, openSync, readFileSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative, sep } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

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

export function tail(path: string, bytes = 16_000): string {
  if (!existsSync(path)) return "(no output captured)";
  const text = readFileSync(path, "utf8");
  return text.length > bytes ? `…${text.slice(-bytes)}` : text;
}

export async function waitForHealth(baseUrl: string, child: ChildProcess, deadline: number, timeoutMs: number): Promise<void> {
  let lastError = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`wrangler dev exited early (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    try {
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      lastError = `GET /health answered ${response.status}`;
    } catch (error) {
      lastError = String(error);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`orchestrator not healthy within ${timeoutMs} ms (${lastError})`);
}

export function stopGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return resolve();
    const pid = child.pid;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        // Negative pid: the whole process group (wrangler, esbuild, workerd).
        process.kill(-pid, signal);
      } catch {
        /* already gone */
      }
    };
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
  const out = openSync(options.logFile, "a");
  const child = spawn(join(ROOT, "node_modules/.bin/wrangler"), wranglerDevArgs(options), {
    cwd: ROOT,
    env: childEnv(options.wranglerLogDir),
    detached: true,
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  const killOnExit = () => {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
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
