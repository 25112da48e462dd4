/**
 * Plain `workerd serve` processes of a bench run, and the reference Workers
 * (bench/passthrough.js, bench/minimal-proxy.js) they run for the baseline rows.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPATIBILITY_DATE, HOST, WORKERD } from "./config.mjs";

/**
 * Starts workerd on `configText` (written to <tmpDir>/<name>/config.capnp, beside what it embeds)
 * and waits until `readyUrl` answers 200.
 *
 * @param {ReturnType<typeof import("./session.mjs").createSession>} session
 * @param {string} name
 * @param {string} configText
 * @param {string} readyUrl
 */
export async function startWorkerd(session, name, configText, readyUrl) {
  const dir = join(session.tmpDir, name);
  const file = join(dir, "config.capnp");
  writeFileSync(file, configText);
  const entry = session.startServer(`workerd (${name})`, WORKERD, ["serve", file, "--experimental", ...(session.options.verbose ? ["--verbose"] : [])], join(dir, "workerd.log"));
  entry.cpuLabel = "workerd";
  await session.waitUntilReady(entry, readyUrl, 60_000);
  return entry;
}

/**
 * One of the reference Workers (bench/*.js), which only need the upstream's port, on its own workerd at `port`.
 *
 * @param {ReturnType<typeof import("./session.mjs").createSession>} session
 * @param {{ name: string, file: string, port: number, upstreamPort: number }} worker
 */
export function startReferenceWorker(session, { name, file, port, upstreamPort }) {
  return startWorkerd(session, name, referenceWorkerConfig(session, name, file, port, upstreamPort), `http://${HOST}:${port}/`);
}

function referenceWorkerConfig(session, name, file, port, upstreamPort) {
  const dir = join(session.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(file, join(dir, "worker.js"));
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"], tlsOptions = (trustBrowserCas = true))),
  ],
  sockets = [ (name = "http", address = "${HOST}:${port}", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.js") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  bindings = [ (name = "UPSTREAM_PORT", text = "${upstreamPort}") ],
  globalOutbound = "internet",
);
`;
}
