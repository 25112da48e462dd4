/**
 * `npm start` itself (scripts/start.mjs), run from a snapshot of the tree so
 * that its .dev.vars, .wrangler/state and logs are its own and the
 * developer's are never touched (issue #19):
 *
 * - FLEET_BASE_PORT moves the demo fleet (before, only `node demo/fleet.mjs` read it);
 * - `--reset` deletes .wrangler/state before starting;
 * - a 4xx is not printed in the terminal but is in .wrangler/access.log;
 * - the fleet's control endpoint kills one instance and the orchestrator fails over.
 *
 * It starts a second wrangler dev next to the suite's, so it is one file with
 * one start.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDevVars } from "../../demo/fleet.mjs";
import { freePort } from "../../scripts/lib/ports.mjs";
import { sendSignal } from "../../scripts/lib/processes.mjs";
import { childEnv, snapshotTree } from "../support/wrangler-dev";
import { eventually } from "./upstreams";

const READY_TIMEOUT_MS = 120_000;

let workDir: string;
let tree: string;
let start: ChildProcess;
let output = "";
let exited: Promise<number | null>;
let baseUrl: string;
let fleetBasePort: number;
let controlUrl: string;

/** Processes whose working directory is the snapshot (wrangler and workerd, if start.mjs could not stop them). */
function leftBehind(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(tree)) pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "orchestrator-npm-start-"));
  snapshotTree(join(workDir, "tree"));
  tree = join(workDir, "tree");
  // State from "an earlier run", which --reset must delete.
  mkdirSync(join(tree, ".wrangler", "state"), { recursive: true });
  writeFileSync(join(tree, ".wrangler", "state", "from-an-earlier-run"), "x");

  const port = await freePort();
  fleetBasePort = await freePort();
  const controlPort = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  controlUrl = `http://127.0.0.1:${controlPort}`;
  start = spawn(process.execPath, ["scripts/start.mjs", "--reset"], {
    cwd: tree,
    env: { ...childEnv(), PORT: String(port), FLEET_BASE_PORT: String(fleetBasePort), FLEET_CONTROL_PORT: String(controlPort), START_VERBOSE: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  start.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  start.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  exited = new Promise((resolve) => start.once("exit", (code) => resolve(code)));
  await eventually(
    async () => {
      if (start.exitCode !== null) throw new Error(`npm start exited (${start.exitCode}):\n${output}`);
      return output.includes("Orchestrator ready on") ? true : undefined;
    },
    READY_TIMEOUT_MS,
    500,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\n----- npm start output -----\n${output}`);
  });
}, READY_TIMEOUT_MS + 10_000);

afterAll(async () => {
  if (start && start.exitCode === null) {
    // What Ctrl-C does: the fleet deregisters, wrangler's group is stopped, exit 0.
    start.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 30_000))]);
    if (code === "timeout") start.kill("SIGKILL");
    expect(code).toBe(0);
  }
  for (const pid of tree ? leftBehind() : []) sendSignal(pid, "SIGKILL");
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, 60_000);

describe("npm start", () => {
  it("FLEET_BASE_PORT moves the demo fleet", async () => {
    expect(output).toContain(`listening on 127.0.0.1:${fleetBasePort}-`);
    const token = readDevVars(join(tree, ".dev.vars")).REGISTRATION_TOKEN as string;
    const response = await fetch(`${baseUrl}/registry/services`, { headers: { authorization: `Bearer ${token}` } });
    const { services } = (await response.json()) as { services: { name: string; instances: { target: { kind: string; url?: string } }[] }[] };
    const ports = services.flatMap((s) => s.instances.map((i) => Number(new URL(i.target.url as string).port)));
    expect(ports).toHaveLength(12);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(fleetBasePort);
      expect(port).toBeLessThan(fleetBasePort + 200);
    }
  });

  it("--reset deleted .wrangler/state before starting", () => {
    expect(output).toContain("--reset: deleted .wrangler/state");
    expect(existsSync(join(tree, ".wrangler", "state", "from-an-earlier-run"))).toBe(false);
  });

  it("the fleet's control endpoint kills one instance; requests fail over to the other; heal brings it back", async () => {
    const killed = await fetch(`${controlUrl}/fleet/api-1/kill`, { method: "POST" });
    expect(((await killed.json()) as { mode: string }).mode).toBe("killed");
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${baseUrl}/api/hello-${i}`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { instance: string }).instance).toBe("api-2");
    }
    const healed = await fetch(`${controlUrl}/fleet/api-1/heal`, { method: "POST" });
    expect(((await healed.json()) as { mode: string }).mode).toBe("up");
  });

  it("keeps 4xx access lines out of the terminal, and writes every line to .wrangler/access.log", async () => {
    const notFound = await fetch(`${baseUrl}/no-such-service-here/x`);
    expect(notFound.status).toBe(404);
    const unauthorized = await fetch(`${baseUrl}/admin/services`);
    expect(unauthorized.status).toBe(401);
    const accessLog = join(tree, ".wrangler", "access.log");
    const lines = await eventually(
      async () => {
        const entries = readFileSync(accessLog, "utf8")
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => JSON.parse(line) as { path?: string; status?: number });
        const found = entries.filter((e) => (e.path === "/no-such-service-here/x" && e.status === 404) || (e.path === "/admin/services" && e.status === 401));
        return found.length >= 2 ? entries : undefined;
      },
      10_000,
    );
    expect(lines.some((e) => e.path === "/health" && e.status === 200)).toBe(true);
    expect(output).not.toMatch(/→ 40[14]/);
    expect(output).not.toContain("/no-such-service-here/x");
  });
});
