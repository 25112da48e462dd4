/**
 * `npm start`: the orchestrator on wrangler dev plus the demo fleet, so a fresh
 * clone shows the whole thing working with one command.
 *
 *   1. creates .dev.vars with random local keys if there is none (never overwrites one;
 *      one that lacks LIFECYCLE_HOOK_SECRET gets that line appended)
 *   2. runs `npx wrangler dev --ip 127.0.0.1 --port $PORT` (default 8787) in its own
 *      process group, showing only its warnings and errors and the Worker's 5xx (full
 *      output: .wrangler/dev.log; every Worker JSON line, 4xx included: .wrangler/access.log;
 *      `--verbose` or START_VERBOSE=1 shows everything). `--reset` first deletes .wrangler/state.
 *   3. waits for GET /health, starts demo/fleet.mjs from FLEET_BASE_PORT (9101) and its
 *      control endpoint (demo/fleet-control.mjs) on FLEET_CONTROL_PORT (9100), points each
 *      demo service's lifecycle hook at its first instance, prints what to try
 *   4. Ctrl-C / SIGTERM: the fleet deregisters, wrangler's process group is ended, exit 0.
 *      If wrangler exits on its own, the fleet is stopped and its exit code is ours.
 * Flags and ports are resolved in scripts/lib/start-options.mjs (`npm start -- --help`).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readDevVars, startFleet } from "../demo/fleet.mjs";
import { startFleetControl } from "../demo/fleet-control.mjs";
import { LOOPBACK, portIsFree } from "./lib/ports.mjs";
import { sendSignal, stopProcess } from "./lib/processes.mjs";
import { resolveStartOptions, startUsage } from "./lib/start-options.mjs";
import { sleep, waitForHttp } from "./lib/wait.mjs";
import { parseWorkerLine, showWorkerEntry, summarizeWorkerEntry } from "./lib/worker-log.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DEV_VARS = join(ROOT, ".dev.vars");
const DEV_LOG = join(ROOT, ".wrangler", "dev.log");
const ACCESS_LOG = join(ROOT, ".wrangler", "access.log");
const STATE_DIR = join(ROOT, ".wrangler", "state");
const HOST = LOOPBACK;
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 5_000;

const say = (message) => console.log(`[start] ${message}`);
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
const stripAnsi = (text) => text.replace(ANSI, "");

const resolved = resolveStartOptions(process.argv.slice(2), process.env);
if (!resolved.ok) {
  console.error(`[start] ${resolved.error}`);
  process.exit(1);
}
const options = resolved.options;
if (options.help) {
  console.log(startUsage(options));
  process.exit(0);
}
const PORT = options.port;
const BASE_URL = `http://${HOST}:${PORT}`;
const VERBOSE = options.verbose;

// ------------------------------------------------------------------ 1. local secrets

ensureDevVars();
const devVars = readDevVars(DEV_VARS);
const adminKey = devVars.ORCHESTRATOR_API_KEY || "";
const fleetToken = devVars.REGISTRATION_TOKEN || adminKey;
const hookSecret = devVars.LIFECYCLE_HOOK_SECRET || undefined;
if (!fleetToken) {
  console.error("[start] .dev.vars sets neither REGISTRATION_TOKEN nor ORCHESTRATOR_API_KEY, so the demo fleet cannot register.");
  console.error("[start] Add one (see .dev.vars.example), or delete .dev.vars and run npm start again to have both generated.");
  process.exit(1);
}

if (!(await portIsFree(PORT, HOST))) {
  console.error(`[start] ${HOST}:${PORT} is already in use (another wrangler dev?). Stop it, or pick another port: PORT=8788 npm start`);
  process.exit(1);
}

if (options.reset) resetLocalState();

// ------------------------------------------------------------------ 2. wrangler dev

mkdirSync(dirname(DEV_LOG), { recursive: true });
const devLog = createWriteStream(DEV_LOG, { flags: "w" });
const accessLog = createWriteStream(ACCESS_LOG, { flags: "w" });
say(`starting wrangler dev on ${BASE_URL} (full output in .wrangler/dev.log, the Worker's log lines in .wrangler/access.log${VERBOSE ? "" : "; 4xx lines are not shown here, --verbose shows everything"})`);
// The demo needs the top-level (development) configuration with .dev.vars as its
// secrets: a CLOUDFLARE_ENV picking staging/production, or process.env leaking in
// as Worker variables, would quietly give a different orchestrator.
const wranglerEnv = { ...process.env, WRANGLER_SEND_METRICS: "false" };
delete wranglerEnv.CLOUDFLARE_ENV;
delete wranglerEnv.CLOUDFLARE_INCLUDE_PROCESS_ENV;
const wrangler = spawn("npx", ["wrangler", "dev", "--ip", HOST, "--port", String(PORT)], {
  cwd: ROOT,
  env: wranglerEnv,
  stdio: ["ignore", "pipe", "pipe"],
  // Its own process group, so npx, wrangler and every workerd it starts can be ended together.
  detached: true,
});
const wranglerOutputClosed = new Promise((resolveClosed) => wrangler.on("close", resolveClosed));
const wranglerExited = new Promise((resolveExit) => {
  wrangler.on("exit", (code, signal) => resolveExit({ code, signal }));
  wrangler.on("error", (error) => {
    console.error(`[start] could not run npx wrangler: ${error.message}`);
    resolveExit({ code: 1, signal: null });
  });
});
const filter = new OutputFilter();
pipeLines(wrangler.stdout, (line) => filter.write(line, process.stdout));
pipeLines(wrangler.stderr, (line) => filter.write(line, process.stderr));

// ------------------------------------------------------------------ 4. stopping (set up before anything can hang)

const abortFleet = new AbortController();
let fleet = null;
let fleetControl = null;
/** @type {Promise<void> | null} settles once a starting fleet is up, or has cleaned up after itself */
let fleetStarting = null;
let shuttingDown = false;

async function shutdown(reason, exitCode) {
  if (shuttingDown) return;
  shuttingDown = true;
  const wranglerRunning = wrangler.exitCode === null && wrangler.signalCode === null;
  const stopping = [fleetStarting && "the demo fleet", wranglerRunning && "wrangler"].filter(Boolean).join(" and ");
  if (stopping) say(`${reason}: stopping ${stopping}`);
  // Aborting makes a fleet that is still registering deregister what it has; a running one is stopped here.
  // Either way this happens while the orchestrator is still up.
  abortFleet.abort(new Error(reason));
  await fleetControl?.close().catch(() => undefined);
  await fleetStarting
    ?.then(
      () => fleet?.stop(),
      () => undefined,
    )
    .catch((error) => say(`fleet stop failed: ${error.message}`));
  await stopWrangler();
  devLog.end();
  accessLog.end();
  process.exit(exitCode);
}

// One Ctrl-C can arrive twice (the terminal signals the whole foreground group,
// and a runner may forward it as well). Only a second signal well after the
// first means "stop waiting".
let firstSignalAt = 0;
for (const name of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(name, () => {
    if (firstSignalAt === 0) {
      firstSignalAt = Date.now();
      void shutdown(name, 0);
    } else if (Date.now() - firstSignalAt > 1_500) {
      say(`${name} again: killing wrangler without waiting`);
      killGroup("SIGKILL");
      process.exit(130);
    }
  });
}

// `npm start` runs us under `sh -c`, and npm forwards signals only to that shell:
// dash dies of a forwarded SIGTERM (and ignores a forwarded SIGINT). Either way
// a parent that goes away means "stop", so nothing is left running orphaned.
const parentAtStart = process.ppid;
const parentWatch = setInterval(() => {
  if (process.ppid !== parentAtStart && !shuttingDown) void shutdown("parent process exited", 0);
}, 500);
parentWatch.unref();
// With the parent gone the terminal may be too; a closed stdout must not crash the shutdown.
process.stdout.on("error", () => {});
process.stderr.on("error", () => {});

// Last resort: never leave workerd running behind us, whatever way we exit.
process.on("exit", () => killGroup("SIGKILL"));

void wranglerExited.then(async ({ code, signal }) => {
  if (shuttingDown) return;
  // Let its last words (usually the reason) reach the terminal first; workerd may hold the pipes a little longer.
  await Promise.race([wranglerOutputClosed, sleep(1_000)]);
  if (shuttingDown) return;
  const exitCode = code ?? (signal ? 1 : 0);
  say(`wrangler dev exited on its own (${signal ?? `code ${code}`})${exitCode !== 0 ? "; see .wrangler/dev.log" : ""}`);
  void shutdown("wrangler exited", exitCode);
});

// ------------------------------------------------------------------ 3. ready, fleet, try it

const ready = await waitForHealth();
if (shuttingDown) await new Promise(() => {}); // the shutdown path exits
if (!ready.ok) {
  console.error(
    ready.problem
      ? `[start] the orchestrator answers GET /health with ${ready.problem}. Check .dev.vars against .dev.vars.example.`
      : `[start] the orchestrator did not answer GET ${BASE_URL}/health with 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${ready.last}).`,
  );
  console.error("[start] See .wrangler/dev.log for wrangler's full output, or run npm start -- --verbose.");
  filter.dumpRecent(process.stderr);
  await shutdown("startup timed out", 1);
}

fleetStarting = startFleet({
  orchestratorUrl: BASE_URL,
  token: fleetToken,
  basePort: options.fleetBasePort,
  hookSecret,
  log: (message) => console.log(`[fleet] ${message}`),
  signal: abortFleet.signal,
}).then((started) => {
  fleet = started;
});
try {
  await fleetStarting;
  if (shuttingDown) await new Promise(() => {}); // the shutdown path stops it and exits
} catch (error) {
  if (!shuttingDown) {
    console.error(`[start] the demo fleet could not start: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown("fleet failed", 1);
  }
  await new Promise(() => {}); // the shutdown path exits
}

try {
  fleetControl = await startFleetControl(fleet.instances, {
    port: options.fleetControlPort,
    log: (message) => console.log(`[fleet] ${message}`),
    addInstance: fleet.addInstance,
    removeInstance: fleet.removeInstance,
  });
} catch (error) {
  say(`the fleet's control endpoint could not start (${error instanceof Error ? error.message : String(error)}); the fleet runs without it`);
}
if (shuttingDown) await new Promise(() => {}); // the shutdown path exits

const hooked = await configureLifecycleHooks(fleet);
if (shuttingDown) await new Promise(() => {}); // the shutdown path exits
printTryIt(fleet, hooked, fleetControl);

// ------------------------------------------------------------------ helpers

/**
 * `--reset`: Durable Object state (registry, metrics, alerts, silences, audit log,
 * revoked sessions) persists in .wrangler/state across runs; this starts from nothing.
 * After the port check, so a wrangler dev still running on it is not pulled from under.
 * .dev.vars, and so the keys, stay.
 */
function resetLocalState() {
  if (!existsSync(STATE_DIR)) {
    say("--reset: no .wrangler/state to delete");
    return;
  }
  rmSync(STATE_DIR, { recursive: true, force: true });
  say("--reset: deleted .wrangler/state (registry, metrics, alerts, audit log, sessions); .dev.vars is kept");
}

function ensureDevVars() {
  const key = randomBytes(32).toString("hex");
  const registrationToken = randomBytes(32).toString("hex");
  const text = [
    "# Local development secrets, generated by `npm start`. Never commit this file.",
    "# Every other setting is documented in .dev.vars.example.",
    `ORCHESTRATOR_API_KEY=${key}`,
    `REGISTRATION_TOKEN=${registrationToken}`,
    hookSecretLine(),
    "",
  ].join("\n");
  try {
    // "wx": create only; an existing .dev.vars is never overwritten.
    writeFileSync(DEV_VARS, text, { flag: "wx", mode: 0o600 });
    say("created .dev.vars with a random ORCHESTRATOR_API_KEY, REGISTRATION_TOKEN and LIFECYCLE_HOOK_SECRET");
  } catch (error) {
    if (error?.code !== "EEXIST") throw error;
    addHookSecretIfMissing();
  }
}

function hookSecretLine() {
  return `LIFECYCLE_HOOK_SECRET=${randomBytes(32).toString("hex")}`;
}

/**
 * A .dev.vars from before lifecycle hooks were signed has no secret for them, and the
 * orchestrator then never calls a hook. One line is appended; existing lines stay as they are.
 */
function addHookSecretIfMissing() {
  if ("LIFECYCLE_HOOK_SECRET" in readDevVars(DEV_VARS)) return;
  const text = readFileSync(DEV_VARS, "utf8");
  const separator = text === "" || text.endsWith("\n") ? "" : "\n";
  appendFileSync(DEV_VARS, `${separator}# Signs the lifecycle hook calls (added by \`npm start\`).\n${hookSecretLine()}\n`);
  say("added a random LIFECYCLE_HOOK_SECRET to .dev.vars (the demo instances check the lifecycle hook's signature with it)");
}

/**
 * Points each demo service's lifecycle hook at its first instance, which checks the
 * signature (demo/fleet.mjs), so the dashboard's Restart reaches a real receiver.
 * Best effort: the demo works without it. Hooks already right (kept in .wrangler/state
 * from an earlier run) are left alone: each PUT spends one of the admin rate limit's
 * few requests a minute, which the person trying the demo needs more.
 * Returns the services whose hook is set.
 */
async function configureLifecycleHooks(fleet) {
  if (!adminKey || !hookSecret) {
    say("lifecycle hooks not configured: .dev.vars needs ORCHESTRATOR_API_KEY and LIFECYCLE_HOOK_SECRET");
    return [];
  }
  const firstByService = new Map();
  for (const instance of fleet.instances) if (!firstByService.has(instance.service)) firstByService.set(instance.service, instance);
  const current = await currentHookUrls();
  const configured = [];
  const pending = [...firstByService].filter(([service, instance]) => {
    const alreadySet = current.get(service) === new URL(instance.url).href;
    if (alreadySet) configured.push(service);
    return !alreadySet;
  });
  for (const [index, [service, instance]] of pending.entries()) {
    const outcome = await putLifecycleHook(service, instance.url);
    if (outcome === "ok") configured.push(service);
    else if (outcome === "rate-limited") {
      const left = pending.slice(index).map(([name]) => name);
      say(`the admin rate limit (RATE_LIMIT_ADMIN) is used up: lifecycle hooks of ${left.join(", ")} not set this time`);
      break;
    } else say(`could not set ${service}'s lifecycle hook: ${outcome}`);
  }
  if (configured.length > 0) say(`lifecycle hooks of ${configured.join(", ")} point at their first instance (signed calls, checked there)`);
  return configured;
}

/** Service name → its lifecycle hook's URL, read with the fleet's token (not the admin limit); empty if that fails. */
async function currentHookUrls() {
  const urls = new Map();
  try {
    const response = await fetch(`${BASE_URL}/registry/services`, { headers: { authorization: `Bearer ${fleetToken}` }, signal: AbortSignal.timeout(5_000) });
    const body = await response.json();
    for (const service of response.ok && Array.isArray(body?.services) ? body.services : []) {
      if (service?.lifecycleHook?.kind === "url") urls.set(service.name, service.lifecycleHook.url);
    }
  } catch {
    // Then every hook is set again.
  }
  return urls;
}

/** "ok", "rate-limited", or why not. */
async function putLifecycleHook(service, url) {
  try {
    const response = await fetch(`${BASE_URL}/admin/services/${encodeURIComponent(service)}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ lifecycleHook: { url } }),
      signal: AbortSignal.timeout(5_000),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) return "ok";
    if (response.status === 429) return "rate-limited";
    return `${response.status} ${body?.detail ?? body?.title ?? ""}`.trim();
  } catch (error) {
    return error?.cause?.code ?? error?.message ?? String(error);
  }
}

/** Polls GET /health until it answers 200: { ok: true }, or { ok: false } with the last answer or the problem that waiting will not fix. */
async function waitForHealth() {
  const answer = await waitForHttp(`${BASE_URL}/health`, {
    timeoutMs: READY_TIMEOUT_MS,
    intervalMs: 500,
    requestTimeoutMs: 3_000,
    cancelled: () => shuttingDown,
    // A problem+json answer means the Worker runs but refuses (e.g. an invalid setting): waiting will not help.
    giveUp: async (response) => {
      if (response.status === 429 || !response.headers.get("content-type")?.startsWith("application/problem+json")) return undefined;
      const body = await response.json().catch(() => ({}));
      return `${response.status} ${body.title ?? ""}: ${body.detail ?? ""}`.trim();
    },
  });
  if (answer.ready) return { ok: true };
  return answer.gaveUp ? { ok: false, problem: answer.last } : { ok: false, last: answer.last };
}

/** Signals wrangler's whole process group: even when npx itself has exited, workerd may still be alive in it. */
function killGroup(signal) {
  if (wrangler.pid === undefined) return false;
  return sendSignal(wrangler.pid, signal, { group: true }); // false: the group is already empty
}

/** SIGTERM to the group, then waits for all of it, not just npx: workerd must be gone before we say we are. */
async function stopWrangler() {
  if (wrangler.pid === undefined) return;
  await stopProcess(wrangler.pid, {
    group: true,
    graceMs: STOP_GRACE_MS,
    pollMs: 100,
    killWaitMs: 0,
    onForce: () => say("wrangler did not stop within 5 s; killing it"),
  });
}

function pipeLines(stream, onLine) {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    devLog.write(stripAnsi(chunk));
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) onLine(line.replace(/\r$/, ""));
  });
  stream.on("end", () => {
    if (buffered) onLine(buffered);
  });
}

/**
 * Keeps the terminal readable: wrangler's banner and per-request lines go to
 * .wrangler/dev.log only, and the Worker's JSON lines to .wrangler/access.log
 * too; of those, the terminal shows 5xx access lines and other warn/error lines
 * (scripts/lib/worker-log.mjs), never a 4xx. Wrangler's own warnings and errors
 * (with their indented continuation lines) are shown, prefixed.
 */
function OutputFilter() {
  const recent = [];
  let showingBlock = false;
  const isHarmless = (line) =>
    // No internet here: wrangler cannot fetch Request.cf and says so at every start.
    /Unable to fetch the `Request\.cf` object/.test(line) || /getaddrinfo \w+ workers\.cloudflare\.com/.test(line) ||
    // Types regenerate with `npm run types`; not a runtime problem.
    /Your types might be out of date/.test(line) ||
    // workerd noting that a peer closed a connection (a client or an instance went away).
    /kj::getCaughtExceptionAsKj\(\) = .*disconnected:/.test(line) ||
    // workerd's own account of a failed fetch to an instance (with a stack line after it): the
    // Worker already logged that event once, classified ("dns: …", "refused: …", "tls: …"), and
    // its "other:" messages carry workerd's reference id for the rare case that needs this file.
    /rust\/worker\/ffi\.rs:\d+: failed:/.test(line) ||
    /Socket proxy disconnected abruptly/.test(line) ||
    /uncaught exception.*Network connection lost/.test(line);
  const isImportant = (line) =>
    /\[wrangler:(warn|error)\]/.test(line) ||
    /✘|▲|\[ERROR\]|\[WARNING\]/.test(line) ||
    /^(Uncaught |Error|TypeError|RangeError|ReferenceError|SyntaxError)\b/.test(line);
  const prefixFor = (line) => (/^\s*\{/.test(line) ? "[worker] " : "[wrangler] ");
  const isContinuation = (line) => line === "" || /^\s/.test(line);

  this.write = (raw, out) => {
    // Colour stays for a terminal; logs and pipes get plain text.
    const line = stripAnsi(raw);
    const shown = out.isTTY ? raw : line;
    recent.push(line);
    if (recent.length > 25) recent.shift();
    const entry = parseWorkerLine(line);
    if (entry !== null) accessLog.write(`${line.trim()}\n`);
    // While the group is being stopped, workerd complains about pipes closing; that is us, not news.
    if (shuttingDown) return;
    if (VERBOSE) {
      out.write(`${prefixFor(line)}${shown}\n`);
      return;
    }
    if (entry !== null) {
      // A JSON line is whole: no continuation lines follow it.
      showingBlock = false;
      if (showWorkerEntry(entry)) out.write(`[worker] ${summarizeWorkerEntry(entry)}\n`);
      return;
    }
    if (isContinuation(line)) {
      if (showingBlock && line.trim() !== "") out.write(`[wrangler] ${shown}\n`);
      return;
    }
    if (isHarmless(line)) {
      showingBlock = false;
      return;
    }
    showingBlock = isImportant(line);
    if (showingBlock) out.write(`${prefixFor(line)}${shown}\n`);
  };
  this.dumpRecent = (out) => {
    if (VERBOSE || recent.length === 0) return;
    out.write("[start] wrangler's last lines:\n");
    for (const line of recent) if (line.trim() !== "") out.write(`[wrangler] ${line}\n`);
  };
}

function printTryIt(fleet, hooked, control) {
  const byService = new Map();
  for (const instance of fleet.instances) byService.set(instance.service, (byService.get(instance.service) ?? 0) + 1);
  const summary = [...byService].map(([service, count]) => `${service}×${count}`).join(", ");
  const key = adminKey || "<set ORCHESTRATOR_API_KEY in .dev.vars>";
  const lines = [
    "",
    `Orchestrator ready on ${BASE_URL} with ${fleet.instances.length} demo instances (${summary}).`,
    "",
    "Try it:",
    `  curl ${BASE_URL}/api/hello            # run it twice: api-1 and api-2 take turns`,
    `  curl ${BASE_URL}/health/workers`,
    `  curl -H "Authorization: Bearer ${key}" ${BASE_URL}/admin/services`,
    ...(hooked.includes("api")
      ? [`  curl -X POST -H "Authorization: Bearer ${key}" ${BASE_URL}/admin/workers/api/restart   # api-1 gets a signed hook call`]
      : []),
    ...(control
      ? [
          "",
          `Break an instance and watch failover (the fleet's control endpoint, ${control.url}/fleet):`,
          `  curl -X POST ${control.url}/fleet/api-1/kill              # connections refused; also hang, slow?ms=3000, flap?ms=10000`,
          `  curl -X POST ${control.url}/fleet/api-1/heal              # back (restart: kill and start again)`,
          `  curl -X POST "${control.url}/fleet/api/canary?version=v2" # a v2 instance of api, for a release (README: Ship a canary)`,
        ]
      : []),
    "",
    adminKey
      ? `The admin key is ORCHESTRATOR_API_KEY in .dev.vars (a local dev key, printed here for convenience).`
      : "No ORCHESTRATOR_API_KEY in .dev.vars: admin endpoints answer 503 until you add one.",
    "Ctrl-C stops everything (the fleet deregisters first).",
    "",
  ];
  console.log(lines.join("\n"));
}
