/**
 * Loopback ports for the processes the scripts and the Node-side test suites
 * start: a free one, several distinct ones, and whether one is free. Node
 * built-ins only (scripts run without a build step); types in ports.d.mts.
 */
import net from "node:net";

/** Everything the scripts and suites start listens here, never on a public address. */
export const LOOPBACK = "127.0.0.1";

/**
 * A port nothing listens on right now (the kernel's pick). Closed again before it is
 * returned, so another process could take it first; for several at once use freePorts.
 *
 * @param {string} [host]
 * @returns {Promise<number>}
 */
export function freePort(host = LOOPBACK) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

/**
 * `n` distinct free ports: all are held open together before any is released, so no two are the same.
 *
 * @param {number} n
 * @param {string} [host]
 * @returns {Promise<number[]>}
 */
export async function freePorts(n, host = LOOPBACK) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      await new Promise((ok, ko) => server.once("error", ko).listen(0, host, ok));
      servers.push(server);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  }
}

/**
 * Whether `port` can be listened on now (nothing else holds it).
 *
 * @param {number} port
 * @param {string} [host]
 * @returns {Promise<boolean>}
 */
export function portIsFree(port, host = LOOPBACK) {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}
