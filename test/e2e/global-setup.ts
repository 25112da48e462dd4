/**
 * Starts one real orchestrator (`wrangler dev`) for the whole e2e project and
 * hands its address and tokens to the tests through vitest's provide/inject.
 *
 * Isolation from the developer's machine and from the working tree:
 * - a fresh `--persist-to` directory, so no registry state survives between runs;
 * - the Worker is built from a snapshot of the tree taken when the run starts
 *   (everything but node_modules, .git, .wrangler, dist, test and secrets files,
 *   node_modules linked back). `wrangler dev` always watches its sources and
 *   reloads on every save; in a tree others edit while the suite runs, a reload
 *   drops in-flight requests and Durable Object memory mid-test, or serves a
 *   half-saved file. Set E2E_LIVE_TREE=1 to run the repo's wrangler.toml directly;
 * - `--env-file <empty file>`: wrangler 4.86 reads `.dev.vars` only when no
 *   `--env-file` is given (getVarsForDev), so a developer's own `.dev.vars`
 *   (or `.env`) cannot add or change variables;
 * - every setting the tests rely on is passed with `--var`, which wrangler
 *   applies last (over wrangler.toml [vars] and any secrets file);
 * - CLOUDFLARE_ENV / CLOUDFLARE_INCLUDE_PROCESS_ENV / CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV
 *   are removed from the child's environment, so the top-level (development)
 *   configuration is used and process.env never becomes Worker variables.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "../../scripts/lib/ports.mjs";
import { tail } from "../../scripts/lib/processes.mjs";
import { ROOT, snapshotTree, startWranglerDev, waitForHealth } from "../support/wrangler-dev";

const STARTUP_TIMEOUT_MS = Number(process.env.E2E_STARTUP_TIMEOUT_MS) || 90_000;

/** The variables the suite depends on; anything else falls back to the code's documented defaults. */
export interface OrchestratorSettings {
  readonly adminKey: string;
  readonly registrationToken: string;
  /** LIFECYCLE_HOOK_SECRET: the demo fleet instances of lifecycle-hook.test.ts check hook signatures with it. */
  readonly lifecycleHookSecret: string;
  /** Keys configured by digest in ADMIN_KEYS (viewer, operator) and REGISTRATION_TOKENS (banking: banking and pay-*). */
  readonly scopedKeys: { readonly viewer: string; readonly operator: string; readonly banking: string };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workDir = mkdtempSync(join(tmpdir(), "orchestrator-e2e-"));
  const persistDir = join(workDir, "state");
  const envFile = join(workDir, "empty.env");
  const logFile = join(workDir, "wrangler.log");
  const configPath = process.env.E2E_LIVE_TREE ? join(ROOT, "wrangler.toml") : snapshotTree(join(workDir, "tree"));
  writeFileSync(envFile, "# intentionally empty: keeps .dev.vars and .env out of the e2e run\n");

  const settings: OrchestratorSettings = {
    adminKey: `admin-${randomBytes(18).toString("hex")}`,
    registrationToken: `reg-${randomBytes(18).toString("hex")}`,
    lifecycleHookSecret: randomBytes(32).toString("hex"),
    scopedKeys: { viewer: `viewer-${randomBytes(18).toString("hex")}`, operator: `operator-${randomBytes(18).toString("hex")}`, banking: `banking-${randomBytes(18).toString("hex")}` },
  };
  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ORCHESTRATOR_API_KEY: settings.adminKey,
    REGISTRATION_TOKEN: settings.registrationToken,
    LIFECYCLE_HOOK_SECRET: settings.lifecycleHookSecret,
    ADMIN_KEYS: JSON.stringify({ [sha256(settings.scopedKeys.viewer)]: "viewer", [sha256(settings.scopedKeys.operator)]: "operator" }),
    REGISTRATION_TOKENS: JSON.stringify({ [sha256(settings.scopedKeys.banking)]: ["banking", "pay-*"] }),
    DEREGISTER_CRITICAL_AFTER_SECONDS: "3",
    LEASE_TTL_SECONDS: "60",
    // Pinned to the code's defaults so nothing outside the repo changes them.
    LB_STRATEGY: "round-robin",
    UPSTREAM_TIMEOUT_MS: "30000",
    INSTANCE_TTL_SECONDS: "30",
    MAX_REGISTRY_BODY_BYTES: "16384",
    // Above the 5 MB streaming tests, low enough to send a body over it quickly.
    MAX_REQUEST_BODY_BYTES: String(8 * 1024 * 1024),
    STATIC_INSTANCES: "[]",
    // One client (127.0.0.1) sends every request of the suite: keep the per-IP
    // rate limits out of the way of tests that are not about rate limiting.
    RATE_LIMIT_GENERAL: "1000000",
    RATE_LIMIT_ADMIN: "1000000",
    // Several tests send wrong credentials on purpose, all from 127.0.0.1.
    AUTH_FAILURE_LIMIT: "1000000",
    RATE_LIMIT_REGISTRY: "1000000",
    RATE_LIMIT_HEALTH: "1000000",
    RATE_LIMIT_METRICS: "1000000",
    // One service with a small limit, for the test that WebSocket upgrades are rate-limited like any request.
    RATE_LIMIT_SERVICES: JSON.stringify({ "ws-limited": 3 }),
    // Stops drain (and close open WebSocket connections) after 2 s instead of 30 s.
    DRAIN_TIMEOUT_MS: "2000",
    // Passive ejection for 2 s instead of 30 s, so a test can watch an instance come back.
    OUTLIER_BASE_EJECTION_MS: "2000",
  };
  const dev = startWranglerDev({ configPath, port, inspectorPort, persistDir, envFile, vars, logFile, wranglerLogDir: join(workDir, "wrangler-logs") });
  const child = dev.child;
  const baseUrl = `http://127.0.0.1:${port}`;

  const cleanup = async () => {
    await dev.stop();
    if (process.env.E2E_KEEP_LOGS) console.log(`[e2e] wrangler output kept in ${logFile}`);
    else rmSync(workDir, { recursive: true, force: true });
  };

  try {
    await waitForHealth(baseUrl, child, Date.now() + STARTUP_TIMEOUT_MS, STARTUP_TIMEOUT_MS);
  } catch (error) {
    console.error(`[e2e] ${String(error)}\n----- wrangler dev output -----\n${tail(logFile)}\n-------------------------------`);
    await cleanup();
    throw error;
  }

  project.provide("baseUrl", baseUrl);
  project.provide("adminKey", settings.adminKey);
  project.provide("registrationToken", settings.registrationToken);
  project.provide("lifecycleHookSecret", settings.lifecycleHookSecret);
  project.provide("scopedKeys", settings.scopedKeys);
  project.provide("wranglerLog", logFile);
  return cleanup;
}
