/**
 * What a bench run is: the paths it uses, its constants, and its options
 * (flags or environment, documented in scripts/bench.mjs).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LOOPBACK } from "../lib/ports.mjs";
import { compatibilityDate } from "../workerd-config.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const HOST = LOOPBACK;
export const WORKERD = join(ROOT, "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd");
export const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
export const WRK_SCRIPT = join(ROOT, "bench", "wrk-report.lua");
export const PASSTHROUGH = join(ROOT, "bench", "passthrough.js");
export const MINIMAL_PROXY = join(ROOT, "bench", "minimal-proxy.js");
export const RESULTS_DIR = join(ROOT, "bench-results");
export const COMPATIBILITY_DATE = compatibilityDate(ROOT);
export const STRATEGIES = ["round-robin", "least-connections", "weighted", "health-aware"];
/** The schema's maximum for every RATE_LIMIT_* class (src/config.ts), per 60 s. */
export const RATE_LIMIT = "10000000";
/** The whole run is cut off after this, whatever happens. */
export const RUN_DEADLINE_MS = 6.5 * 60_000;

export const say = (message) => console.log(`[bench] ${message}`);

/**
 * @typedef {object} BenchOptions
 * @property {number} duration     measured seconds per target
 * @property {number} warmup       warm-up seconds before each
 * @property {number} connections  wrk connections
 * @property {number} threads      wrk threads
 * @property {"disk" | "tmpfs"} storage  where workerd keeps Durable Object SQLite files
 * @property {boolean} keep        keep the temp dir
 * @property {boolean} smoke       the test suite's quick check: one strategy, one storage, no scale check
 * @property {boolean} verbose     workerd --verbose
 */

/** @returns {BenchOptions} */
export function parseOptions(argv = process.argv.slice(2)) {
  const flags = new Map();
  for (const arg of argv) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg}`);
    flags.set(m[1], m[2] ?? "true");
  }
  const pick = (flag, envName, fallback) => flags.get(flag) ?? process.env[envName] ?? fallback;
  const int = (flag, envName, fallback, min, max) => {
    const n = Number(pick(flag, envName, String(fallback)));
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const storage = pick("storage", "BENCH_STORAGE", "disk");
  if (!["disk", "tmpfs"].includes(storage)) throw new Error("--storage must be disk or tmpfs");
  return {
    duration: int("duration", "BENCH_DURATION", 10, 1, 30),
    warmup: int("warmup", "BENCH_WARMUP", 2, 1, 10),
    connections: int("connections", "BENCH_CONNECTIONS", 32, 1, 1024),
    threads: int("threads", "BENCH_THREADS", 2, 1, 16),
    storage,
    keep: /^(1|true|yes)$/i.test(pick("keep", "BENCH_KEEP", "")),
    smoke: /^(1|true|yes)$/i.test(pick("smoke", "BENCH_SMOKE", "")),
    verbose: /^(1|true|yes)$/i.test(pick("verbose", "BENCH_VERBOSE", "")),
  };
}
