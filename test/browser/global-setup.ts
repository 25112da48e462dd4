/**
 * Everything the dashboard's browser test needs, once for the project:
 *
 * 1. `node scripts/build-dashboard.mjs` (uPlot's files into dashboard/public/vendor);
 * 2. Debian's chromium at /usr/bin/chromium, installed with apt-get when missing
 *    (never a browser downloaded by playwright); no chromium fails the run;
 * 3. a real orchestrator (`wrangler dev`) on a free port with fresh state and a
 *    random admin key, built from a snapshot of the tree as in
 *    test/e2e/global-setup.ts (wrangler dev reloads on every save, and others
 *    edit the tree while tests run);
 * 4. the demo fleet (demo/fleet.mjs): six services × two instances on free
 *    loopback ports, registered with that orchestrator;
 * 5. a second orchestrator from the same snapshot with the default rate limits
 *    (and no fleet), for what only the real limits show: a dashboard reloaded
 *    ten times in a minute must not be refused.
 *
 * Teardown stops the fleet (it deregisters while the orchestrator is still up),
 * then the whole wrangler process group, then removes the temporary files.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "../../scripts/lib/ports.mjs";
import { tail } from "../../scripts/lib/processes.mjs";
import { ROOT, snapshotTree, startWranglerDev, waitForHealth } from "../support/wrangler-dev";
import { startFleet } from "../../demo/fleet.mjs";

const CHROMIUM = "/usr/bin/chromium";
const STARTUP_TIMEOUT_MS = 90_000;
const APT_TIMEOUT_MS = 15 * 60_000;


function buildDashboard(): void {
  execFileSync(process.execPath, [join(ROOT, "scripts/build-dashboard.mjs")], { cwd: ROOT, stdio: "inherit" });
}

/** Installs Debian's chromium when it is missing (idempotent); throws when it cannot. */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  console.log(`[browser] ${CHROMIUM} is missing: installing Debian's chromium with apt-get (this takes a few minutes once)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "chromium"]]) {
    const result = spawnSync("apt-get", args, { env, encoding: "utf8", timeout: APT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    if (result.error || result.status !== 0) {
      const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.slice(-4_000);
      throw new Error(
        `The browser test needs Debian's chromium at ${CHROMIUM}, and \`apt-get ${args.join(" ")}\` failed ` +
          `(${result.error ? String(result.error) : `exit code ${result.status}`}). Install it by hand with ` +
          `\`apt-get update && apt-get install -y chromium\` (as root). Output:\n${output}`,
      );
    }
  }
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium, but ${CHROMIUM} is still missing.`);
}


export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildDashboard();
  ensureChromium();

  const workDir = mkdtempSync(join(tmpdir(), "orchestrator-browser-"));
  const persistDir = join(workDir, "state");
  const envFile = join(workDir, "empty.env");
  const logFile = join(workDir, "wrangler.log");
  writeFileSync(envFile, "# intentionally empty: keeps .dev.vars and .env out of the browser test\n");
  const configPath = snapshotTree(join(workDir, "tree"));
  // Its own copy of the tree: two wrangler devs would share the tree's .wrangler/ build directory.
  const strictConfigPath = snapshotTree(join(workDir, "strict-tree"));

  const adminKey = `admin-${randomBytes(18).toString("hex")}`;
  const registrationToken = `reg-${randomBytes(18).toString("hex")}`;
  const [port, inspectorPort, strictPort, strictInspectorPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ORCHESTRATOR_API_KEY: adminKey,
    REGISTRATION_TOKEN: registrationToken,
    HEALTH_CHECK_INTERVAL_MS: "1000",
    // One client (127.0.0.1) loads the page, its assets, the socket and the demo traffic.
    RATE_LIMIT_ADMIN: "100000",
    AUTH_FAILURE_LIMIT: "100000",
    RATE_LIMIT_GENERAL: "100000",
    RATE_LIMIT_HEALTH: "100000",
    RATE_LIMIT_METRICS: "100000",
    RATE_LIMIT_REGISTRY: "100000",
  };
  const dev = startWranglerDev({ configPath, port, inspectorPort, persistDir, envFile, vars, logFile });
  const child = dev.child;
  const baseUrl = `http://127.0.0.1:${port}`;
  // Default rate limits: only what the dashboard needs to sign in.
  const strictLogFile = join(workDir, "wrangler-strict.log");
  const strict = startWranglerDev({
    configPath: strictConfigPath,
    port: strictPort,
    inspectorPort: strictInspectorPort,
    persistDir: join(workDir, "strict-state"),
    envFile,
    vars: { ENVIRONMENT: "development", ORCHESTRATOR_API_KEY: adminKey },
    logFile: strictLogFile,
  });
  const strictBaseUrl = `http://127.0.0.1:${strictPort}`;

  let fleet: { stop: () => Promise<void> } | null = null;
  const cleanup = async () => {
    await fleet?.stop().catch(() => undefined);
    await Promise.all([dev.stop(), strict.stop()]);
    if (process.env.BROWSER_KEEP_LOGS) console.log(`[browser] wrangler output kept in ${logFile} and ${strictLogFile}`);
    else rmSync(workDir, { recursive: true, force: true });
  };

  try {
    await Promise.all([
      waitForHealth(baseUrl, child, Date.now() + STARTUP_TIMEOUT_MS, STARTUP_TIMEOUT_MS),
      waitForHealth(strictBaseUrl, strict.child, Date.now() + STARTUP_TIMEOUT_MS, STARTUP_TIMEOUT_MS),
    ]);
    // Any base port works (busy ports are skipped); a free ephemeral one keeps clear of `npm start`'s 9101.
    // Aborted only if registration hangs; the fleet listens to this signal for its whole life.
    const giveUp = new AbortController();
    const timer = setTimeout(() => giveUp.abort(new Error(`the demo fleet did not register within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
    try {
      fleet = await startFleet({ orchestratorUrl: baseUrl, token: registrationToken, basePort: await freePort(), log: null, signal: giveUp.signal });
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    console.error(`[browser] ${String(error)}\n----- wrangler dev output -----\n${tail(logFile)}\n----- second wrangler dev (default limits) -----\n${tail(strictLogFile)}\n-------------------------------`);
    await cleanup();
    throw error;
  }

  project.provide("browserBaseUrl", baseUrl);
  project.provide("browserAdminKey", adminKey);
  project.provide("browserRegistrationToken", registrationToken);
  project.provide("browserStrictBaseUrl", strictBaseUrl);
  project.provide("browserExecutable", CHROMIUM);
  project.provide("browserWranglerLog", logFile);
  return cleanup;
}
