/**
 * The version guard in front of `npm start`, `npm test` and the other scripts
 * (scripts/require-node.cjs): on a Node older than package.json's engines it
 * stops at once with one message naming the version and how to get it.
 *
 * The refusal is checked on a real old Node: the machine's own if it has one
 * (the system Node is 20 on ours and CI's), else Node 20 from the npm
 * registry through scripts/install-node.sh, the same installer .ci/run uses.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;
const guardPath = join(root, "scripts", "require-node.cjs");
const { checkNodeVersion, minimumFromEngines } = createRequire(import.meta.url)(guardPath) as {
  checkNodeVersion: (running: string, minimum: string) => string | null;
  minimumFromEngines: (range: string) => string;
};
const packageJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string }; scripts: Record<string, string> };
const minimum = minimumFromEngines(packageJson.engines.node);
const OLD_NODE_FOR_TEST = "20.20.2";

function versionOf(binary: string): string | null {
  try {
    return execFileSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

/** A Node binary older than the minimum: one already on the machine, else one installed for the test. */
function oldNode(): string {
  const candidates = [process.env.OLD_NODE, "/usr/bin/node", "/usr/local/bin/node", join(root, ".tools", `node-${OLD_NODE_FOR_TEST}`, "bin", "node")];
  for (const candidate of candidates) {
    if (!candidate || !existsSync(candidate)) continue;
    const version = versionOf(candidate);
    if (version !== null && checkNodeVersion(version, minimum) !== null) return candidate;
  }
  const bin = execFileSync(join(root, "scripts", "install-node.sh"), [OLD_NODE_FOR_TEST], { encoding: "utf8", timeout: 120_000 }).trim();
  return join(bin, "node");
}

describe("Node version guard", () => {
  it("takes its minimum from package.json's engines, which require Node 22.12 or newer", () => {
    expect(packageJson.engines.node).toBe(">=22.12.0");
    expect(minimum).toBe("22.12.0");
    expect(() => minimumFromEngines("^22")).toThrow(/engines\.node/);
  });

  it("accepts the minimum and anything newer, refuses anything older", () => {
    for (const ok of ["22.12.0", "v22.12.0", "22.13.1", "23.0.0", "24.22.3", "v26.12.1"]) expect(checkNodeVersion(ok, minimum), ok).toBeNull();
    for (const old of ["20.20.2", "v20.3.0", "18.20.8", "22.11.9", "22.0.0", "21.99.99", "not-a-version", ""]) expect(checkNodeVersion(old, minimum), old).not.toBeNull();
  });

  it("names the version needed, the one running, and how to get Node 24", () => {
    const message = checkNodeVersion("v20.20.2", minimum) ?? "";
    expect(message).toContain("needs Node 22.12.0 or newer");
    expect(message).toContain("this is Node 20.20.2");
    expect(message).toContain("source scripts/use-node.sh");
    expect(message).toContain("24 LTS");
  });

  it("runs first in every script that starts the toolchain", () => {
    for (const name of ["start", "test", "bench", "fuzz", "soak"]) {
      expect(packageJson.scripts[name], name).toMatch(/^node scripts\/require-node\.cjs && /);
    }
  });

  it("on a real Node 20: exits 1 at once with the message and no stack trace", () => {
    const binary = oldNode();
    const result = spawnSync(binary, [guardPath], { encoding: "utf8", timeout: 30_000 });
    expect(versionOf(binary)).toMatch(/^v(1\d|2[01])\.|^v22\.(\d|1[01])\./);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^This project needs Node 22\.12\.0 or newer \(24 LTS recommended\); this is Node 2?\d\.\d+\.\d+\.\n/);
    expect(result.stderr).toContain("source scripts/use-node.sh");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  }, 150_000);

  it("on the Node running the tests: exits 0 and prints nothing", () => {
    const result = spawnSync(process.execPath, [guardPath], { encoding: "utf8", timeout: 30_000 });
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).toBe("");
  });
});
