/**
 * What `npm start` (scripts/start.mjs) runs with: its flags and environment,
 * resolved and checked in one place, so the ports it prints are the ports it
 * uses. Node built-ins only; types in start-options.d.mts.
 *
 *   npm start -- --verbose   every line of wrangler's and the Worker's output in the terminal
 *   npm start -- --reset     delete .wrangler/state (registry, metrics, audit…) before starting
 *   npm start -- --help      this, with the ports resolved
 *
 *   PORT=8787                the orchestrator (wrangler dev)
 *   FLEET_BASE_PORT=9101     the demo fleet's first port (busy ones are skipped)
 *   FLEET_CONTROL_PORT       the fleet's control endpoint (default FLEET_BASE_PORT − 1)
 *   START_VERBOSE=1          as --verbose
 */

export const DEFAULT_PORT = 8787;
export const DEFAULT_FLEET_BASE_PORT = 9101;

/**
 * @typedef {object} StartOptions
 * @property {number} port
 * @property {number} fleetBasePort
 * @property {number} fleetControlPort
 * @property {boolean} verbose
 * @property {boolean} reset
 * @property {boolean} help
 */

/**
 * @param {readonly string[]} argv  the arguments after the script (process.argv.slice(2))
 * @param {Readonly<Record<string, string | undefined>>} env
 * @returns {{ ok: true, options: StartOptions } | { ok: false, error: string }}
 */
export function resolveStartOptions(argv, env) {
  const flags = { verbose: false, reset: false, help: false };
  for (const arg of argv) {
    if (arg === "--verbose" || arg === "-v") flags.verbose = true;
    else if (arg === "--reset") flags.reset = true;
    else if (arg === "--help" || arg === "-h") flags.help = true;
    else return { ok: false, error: `unknown option ${JSON.stringify(arg)} (try --help)` };
  }
  const port = portFrom(env, "PORT", DEFAULT_PORT);
  if (typeof port === "string") return { ok: false, error: port };
  const fleetBasePort = portFrom(env, "FLEET_BASE_PORT", DEFAULT_FLEET_BASE_PORT);
  if (typeof fleetBasePort === "string") return { ok: false, error: fleetBasePort };
  const fleetControlPort = portFrom(env, "FLEET_CONTROL_PORT", fleetBasePort - 1);
  if (typeof fleetControlPort === "string") return { ok: false, error: fleetControlPort };
  if (fleetControlPort === port) return { ok: false, error: `FLEET_CONTROL_PORT (${fleetControlPort}) is the orchestrator's PORT; pick another` };
  const verbose = flags.verbose || /^(1|true|yes)$/i.test(env.START_VERBOSE ?? "");
  return { ok: true, options: { port, fleetBasePort, fleetControlPort, verbose, reset: flags.reset, help: flags.help } };
}

/** A TCP port from the environment, its default when unset or empty, or why not (a string). */
function portFrom(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const port = Number(raw);
  return Number.isInteger(port) && port >= 1 && port <= 65_535 ? port : `${name} must be a TCP port number (1–65535), not ${JSON.stringify(raw)}`;
}

/** `npm start -- --help`, with what the current environment resolves to. */
export function startUsage(options) {
  return [
    "npm start [-- [--verbose] [--reset] [--help]]",
    "",
    "  --verbose, -v   show all of wrangler's and the Worker's output (also START_VERBOSE=1);",
    "                  by default the terminal shows warnings, errors and 5xx only",
    "  --reset         delete .wrangler/state (registry, metrics, alerts, audit log, sessions) first",
    "  --help, -h      this",
    "",
    `  PORT=${options.port}                 the orchestrator, http://127.0.0.1:${options.port}`,
    `  FLEET_BASE_PORT=${options.fleetBasePort}      the demo fleet's first port (busy ones are skipped)`,
    `  FLEET_CONTROL_PORT=${options.fleetControlPort}   the fleet's control endpoint (kill, hang, slow, flap, heal, restart)`,
    "",
    "Logs: .wrangler/dev.log (wrangler's full output), .wrangler/access.log (every JSON line the Worker logs).",
  ].join("\n");
}
