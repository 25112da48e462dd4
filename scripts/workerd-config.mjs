/**
 * The plain `workerd serve` configuration of the bundled orchestrator, shared
 * by `npm run bench` (scripts/bench.mjs) and the reliability suite
 * (test/reliability/workerd-harness.ts): one Worker with its
 * SQLite-backed Durable Objects on local disk, listening on loopback only.
 * SQLite-backed Durable Objects need localDisk storage: workerd's inMemory
 * storage has no SQL API.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The compatibility date wrangler.toml sets (the one place it is written), so the bundle runs
 * on plain workerd as it does under wrangler. `root` is the project folder (a bundled copy of
 * this file cannot find it from its own URL).
 */
export function compatibilityDate(root) {
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  const match = /^compatibility_date\s*=\s*"(\d{4}-\d{2}-\d{2})"/m.exec(toml);
  if (!match) throw new Error("wrangler.toml has no top-level compatibility_date");
  return match[1];
}

const DURABLE_OBJECT_CLASSES = ["RegistryDO", "RateLimiterDO", "MetricsDO", "ProberDO"];

/** A capnp string literal. JSON's escapes are valid capnp escapes. */
export function capnpString(value) {
  return JSON.stringify(String(value));
}

/**
 * The config's text. `index.js` (the bundle) must sit beside the config file.
 *
 * @param {object} options
 * @param {string} options.host         the listening address (loopback)
 * @param {number} options.port
 * @param {string} options.storageDir   where the Durable Objects' SQLite files go
 * @param {string} [options.assetsDir]  the dashboard's static files (an ASSETS binding), if any
 * @param {Record<string, string>} options.vars  text bindings (settings and secrets)
 * @param {string} options.uniqueKeyPrefix  namespaces the Durable Objects' storage keys
 * @param {string} options.compatibilityDate  compatibilityDate(root)
 * @returns {string}
 */
export function orchestratorWorkerdConfig({ host, port, storageDir, assetsDir, vars, uniqueKeyPrefix, compatibilityDate }) {
  const assetsService = assetsDir === undefined ? "" : `\n    (name = "assets", disk = (path = ${capnpString(assetsDir)}, writable = false)),`;
  const assetsBinding = assetsDir === undefined ? "" : `\n    (name = "ASSETS", service = "assets"),`;
  const textBindings = Object.entries(vars).map(([name, value]) => `    (name = ${capnpString(name)}, text = ${capnpString(value)}),`);
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"], tlsOptions = (trustBrowserCas = true))),
    (name = "do-storage", disk = (path = ${capnpString(storageDir)}, writable = true)),${assetsService}
  ],
  sockets = [ (name = "http", address = "${host}:${port}", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [ (name = "index.js", esModule = embed "index.js") ],
  compatibilityDate = "${compatibilityDate}",
  bindings = [
    (name = "REGISTRY", durableObjectNamespace = "RegistryDO"),
    (name = "RATE_LIMITER", durableObjectNamespace = "RateLimiterDO"),
    (name = "METRICS", durableObjectNamespace = "MetricsDO"),
    (name = "PROBER", durableObjectNamespace = "ProberDO"),${assetsBinding}
${textBindings.join("\n")}
  ],
  globalOutbound = "internet",
  durableObjectNamespaces = [
${DURABLE_OBJECT_CLASSES.map((c) => `    (className = "${c}", uniqueKey = "${uniqueKeyPrefix}-${c}", enableSql = true),`).join("\n")}
  ],
  durableObjectStorage = (localDisk = "do-storage"),
);
`;
}

/**
 * Several copies of the bundled orchestrator in one plain `workerd serve`: each its own
 * Worker (so its own isolate and module state) on its own port, the first defining the
 * Durable Object namespaces and the others binding to them. How production spreads
 * traffic over isolates, for scripts/bench-isolates.mjs and test/reliability/isolates.test.ts.
 * The modules (`index.js`, and `mainModule` if it is another one) sit beside the config.
 *
 * @param {object} options
 * @param {string} options.host
 * @param {number[]} options.ports         one per isolate
 * @param {string} options.storageDir
 * @param {Record<string, string>} options.vars
 * @param {string} options.uniqueKeyPrefix
 * @param {string} options.compatibilityDate
 * @param {string} [options.mainModule]    a module wrapping index.js (default: index.js itself)
 * @returns {string}
 */
export function isolatesWorkerdConfig({ host, ports, storageDir, vars, uniqueKeyPrefix, compatibilityDate, mainModule = "index.js" }) {
  const bindingNames = { RegistryDO: "REGISTRY", RateLimiterDO: "RATE_LIMITER", MetricsDO: "METRICS", ProberDO: "PROBER" };
  const modules = [...new Set([mainModule, "index.js"])].map((name) => `(name = ${capnpString(name)}, esModule = embed ${capnpString(name)})`);
  const bindings = [
    ...DURABLE_OBJECT_CLASSES.map((c) => `(name = "${bindingNames[c]}", durableObjectNamespace = (className = "${c}", serviceName = "iso0"))`),
    ...Object.entries(vars).map(([name, value]) => `(name = ${capnpString(name)}, text = ${capnpString(value)})`),
  ];
  const worker = (i) => `(
      modules = [ ${modules.join(", ")} ],
      compatibilityDate = "${compatibilityDate}",
      bindings = [ ${bindings.join(", ")} ],
      globalOutbound = "internet"${
        i === 0
          ? `,
      durableObjectNamespaces = [ ${DURABLE_OBJECT_CLASSES.map((c) => `(className = "${c}", uniqueKey = "${uniqueKeyPrefix}-${c}", enableSql = true)`).join(", ")} ],
      durableObjectStorage = (localDisk = "do-storage")`
          : ""
      }
    )`;
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
${ports.map((_, i) => `    (name = "iso${i}", worker = ${worker(i)}),`).join("\n")}
    (name = "internet", network = (allow = ["public", "private", "local"], tlsOptions = (trustBrowserCas = true))),
    (name = "do-storage", disk = (path = ${capnpString(storageDir)}, writable = true)),
  ],
  sockets = [ ${ports.map((port, i) => `(name = "s${i}", address = "${host}:${port}", http = (), service = "iso${i}")`).join(", ")} ],
);
`;
}
