/**
 * Child processes for the scripts and the Node-side test suites: a long-running
 * server in its own process group with its output in a log file, a short command
 * whose output is captured, signalling and stopping a process or its whole group,
 * and the end of a log file for error messages. Node built-ins only; types in
 * processes.d.mts.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { sleep } from "./wait.mjs";

/**
 * Sends `signal` to `pid`, or with `group` to the whole process group it leads (wrangler, esbuild
 * and workerd go together). Signal 0 only asks whether it is there.
 *
 * @param {number} pid
 * @param {NodeJS.Signals | 0} signal
 * @param {{ group?: boolean }} [options]
 * @returns {boolean} false when there was no such process or group (already gone)
 */
export function sendSignal(pid, signal, { group = false } = {}) {
  try {
    process.kill(group ? -pid : pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * @param {number} pid
 * @param {{ group?: boolean }} [options]
 * @returns {boolean} whether the process (or any process of the group) is still there
 */
export function isAlive(pid, options) {
  return sendSignal(pid, 0, options);
}

/**
 * Ends a process (or its whole group): SIGTERM, then SIGKILL if it is still there after
 * `graceMs`. Resolves once it is gone, or `killWaitMs` after the SIGKILL.
 *
 * @param {number} pid
 * @param {object} [options]
 * @param {boolean} [options.group=false]
 * @param {number} [options.graceMs=3000]
 * @param {number} [options.pollMs=50]
 * @param {number} [options.killWaitMs=2000]
 * @param {() => void} [options.onForce]  called just before the SIGKILL
 * @returns {Promise<void>}
 */
export async function stopProcess(pid, { group = false, graceMs = 3_000, pollMs = 50, killWaitMs = 2_000, onForce } = {}) {
  if (!isAlive(pid, { group })) return;
  sendSignal(pid, "SIGTERM", { group });
  const until = Date.now() + graceMs;
  while (Date.now() < until && isAlive(pid, { group })) await sleep(pollMs);
  if (!isAlive(pid, { group })) return;
  onForce?.();
  sendSignal(pid, "SIGKILL", { group });
  const hardUntil = Date.now() + killWaitMs;
  while (Date.now() < hardUntil && isAlive(pid, { group })) await sleep(pollMs);
}

/**
 * Starts a long-running process in its own process group (so it and everything it starts can be
 * signalled together, and a Ctrl-C meant for the caller does not reach it first), stdin closed,
 * stdout and stderr into `logFile`.
 *
 * @param {string} command
 * @param {readonly string[]} args
 * @param {object} options
 * @param {string} options.logFile
 * @param {boolean} [options.append=true]  false: the log file is truncated first
 * @param {string} [options.cwd]
 * @param {NodeJS.ProcessEnv} [options.env]
 * @returns {import("node:child_process").ChildProcess}
 */
export function spawnLogged(command, args, { logFile, append = true, cwd, env }) {
  const log = openSync(logFile, append ? "a" : "w");
  try {
    return spawn(command, args, { cwd, env, stdio: ["ignore", log, log], detached: true });
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(log);
  }
}

/**
 * @typedef {object} CapturedRun
 * @property {number | null} code
 * @property {NodeJS.Signals | null} signal
 * @property {string} stdout
 * @property {string} stderr
 * @property {string} output  stdout and stderr interleaved as they came
 */

/**
 * Starts a short command with its output captured (not in its own process group), SIGKILLed
 * after `timeoutMs` if given. `done` settles when it has exited and its output is closed;
 * it rejects only when the command could not be started.
 *
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number }} [options]
 * @returns {{ child: import("node:child_process").ChildProcess, done: Promise<CapturedRun> }}
 */
export function startCaptured(command, args, { cwd, env, timeoutMs } = {}) {
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const done = new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let output = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      output += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      output += d;
    });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output });
    });
  });
  return { child, done };
}

/**
 * startCaptured, for a caller that only needs the outcome.
 *
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number }} [options]
 * @returns {Promise<CapturedRun>}
 */
export function runCaptured(command, args, options) {
  return startCaptured(command, args, options).done;
}

/**
 * The last `maxChars` characters of a log file, for an error message.
 *
 * @param {string} path
 * @param {number} [maxChars=16000]
 * @returns {string}
 */
export function tail(path, maxChars = 16_000) {
  if (!existsSync(path)) return "(no output captured)";
  const text = readFileSync(path, "utf8");
  return text.length > maxChars ? `…${text.slice(-maxChars)}` : text;
}
