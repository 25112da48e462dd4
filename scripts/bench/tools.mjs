/** The command-line tools a bench run needs (wrk, nginx), installed from Debian when missing, and their versions. */
import { spawnSync } from "node:child_process";
import { say } from "./config.mjs";

export function ensureTools() {
  const missing = ["wrk", "nginx"].filter((tool) => !commandExists(tool));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(", ")}; install them: apt-get install -y wrk nginx`);
  say(`installing ${missing.join(", ")} from Debian`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "wrk", "nginx"], { stdio: "inherit", env });
  // Only refresh the package lists when the install cannot find what it needs.
  if (install().status !== 0) {
    say("apt-get install failed; running apt-get update and trying again");
    const update = spawnSync("apt-get", ["update"], { stdio: "inherit", env });
    if (update.status !== 0 || install().status !== 0) throw new Error("could not install wrk and nginx with apt-get");
  }
  const still = ["wrk", "nginx"].filter((tool) => !commandExists(tool));
  if (still.length > 0) throw new Error(`still missing after apt-get: ${still.join(", ")}`);
}

function commandExists(name) {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** The first line a tool prints about its version, or null. */
export function toolVersion(command, args) {
  const r = spawnSync(command, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").find((line) => line.trim() !== "")?.trim() ?? null;
}
