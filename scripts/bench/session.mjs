/**
 * One bench run's processes and temporary files, and the ways out. Every child
 * started through the session (servers in their own process group, tools not)
 * is ended on exit, Ctrl-C, SIGTERM, SIGHUP or an error; the temp dir and any
 * tmpfs storage go with them unless --keep.
 */
import { rmSync } from "node:fs";
import { sendSignal, spawnLogged, startCaptured, stopProcess, tail } from "../lib/processes.mjs";
import { waitForHttp } from "../lib/wait.mjs";
import { ROOT, say } from "./config.mjs";

/** How much of a server's log an error message quotes. */
const LOG_TAIL_CHARS = 4_000;

/**
 * @typedef {object} Child
 * @property {string} name
 * @property {import("node:child_process").ChildProcess} child
 * @property {boolean} group      whether it leads its own process group
 * @property {string} [logFile]
 * @property {string} [cpuLabel]  its column in the report's server CPU
 */

/** @param {import("./config.mjs").BenchOptions} options */
export function createSession(options) {
  /** @type {Child[]} */
  const children = [];
  /** Directories outside tmpDir that this run created (tmpfs storage), removed with it. */
  const extraDirs = [];
  let cleaningUp = null;
  let interrupted = false;

  const session = {
    options,
    /** The run's temp dir (configs, logs, storage on disk); set once the tools are there. */
    tmpDir: /** @type {string | null} */ (null),
    /** Every port the run took, checked to be free again after cleanup. */
    usedPorts: /** @type {number[]} */ ([]),

    /** @param {string} dir */
    addExtraDir(dir) {
      extraDirs.push(dir);
    },

    /** Starts a long-running server in its own process group, its output in logFile. */
    startServer(name, command, args, logFile) {
      const child = spawnLogged(command, args, { logFile, append: false, cwd: session.tmpDir ?? undefined });
      /** @type {Child} */
      const entry = { name, child, group: true, logFile };
      child.on("error", (error) => session.fail(new Error(`${name}: ${error.message}`)));
      children.push(entry);
      return entry;
    },

    /** Waits until `url` answers 200; throws (quoting the server's log) if the server exits first or the time runs out. */
    async waitUntilReady(entry, url, timeoutMs = 30_000) {
      const { child } = entry;
      const answer = await waitForHttp(url, {
        timeoutMs,
        cancelled: () => {
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`${entry.name} exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail(entry.logFile, LOG_TAIL_CHARS)}`);
          }
          return false;
        },
      });
      if (!answer.ready) throw new Error(`${entry.name} not ready at ${url} after ${timeoutMs / 1000} s (${answer.last}):\n${tail(entry.logFile, LOG_TAIL_CHARS)}`);
    },

    /** Runs a tool to completion (in the project folder), output captured; ended with the run if it is still going. */
    async runCommand(command, args, { env, timeoutMs }) {
      const { child, done } = startCaptured(command, args, { cwd: ROOT, env, timeoutMs });
      const entry = { name: command, child, group: false };
      children.push(entry);
      try {
        return await done;
      } finally {
        children.splice(children.indexOf(entry), 1);
      }
    },

    /** Ends one started server now (not only at exit), so an idle one does not steal CPU from the next target. */
    async stopAndForget(entry) {
      await stopChild(entry);
      const index = children.indexOf(entry);
      if (index >= 0) children.splice(index, 1);
    },

    cleanup() {
      cleaningUp ??= (async () => {
        await Promise.all(children.map((entry) => stopChild(entry)));
        if (!options.keep) for (const dir of [session.tmpDir, ...extraDirs]) if (dir) rmSync(dir, { recursive: true, force: true });
        if (options.keep && session.tmpDir) say(`kept ${[session.tmpDir, ...extraDirs].join(" and ")}`);
      })();
      return cleaningUp;
    },

    /** Reports the error, ends everything and exits 1. */
    fail(error) {
      // After Ctrl-C, errors from the servers going away are expected: the signal handler exits.
      if (interrupted) return;
      console.error(`[bench] failed: ${error instanceof Error ? error.stack || error.message : String(error)}`);
      session.cleanup().finally(() => process.exit(1));
    },
  };

  /** Ends one child: SIGTERM to it (its whole group if it leads one), SIGKILL after a grace period. */
  function stopChild({ child, group }) {
    return child.pid ? stopProcess(child.pid, { group, graceMs: 3_000 }) : Promise.resolve();
  }

  // Last resort when the process exits without the async cleanup (e.g. process.exit elsewhere).
  process.on("exit", () => {
    for (const { child, group } of children) if (child.pid) sendSignal(child.pid, "SIGKILL", { group });
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      interrupted = true;
      console.error(`\n[bench] ${sig}: stopping everything this run started`);
      session.cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
    });
  }
  process.on("unhandledRejection", (error) => session.fail(error));
  process.on("uncaughtException", (error) => session.fail(error));

  return session;
}
