/**
 * The upstream of the health-sweep scale checks (scripts/bench/sweep-scale.mjs):
 * a node:http server on loopback, in the bench's own process, that records every
 * probe it gets. Instances are registered at distinct base paths, /<fleet>/<n>, so
 * each probe's path (/<fleet>/<n>/health) names its instance. Each fleet either
 * answers 200 at once (the default) or accepts and never answers (`hang(fleet)`:
 * every probe times out); a fleet can be switched while it is being probed.
 *
 * It keeps, per instance key ("<fleet>/<n>"), when probes arrived, and for each
 * measurement window when each request arrived and when its connection closed (a
 * hanging one closes when the prober gives up on it), from which it counts the
 * requests open at once, in all and per group (the instance's prober).
 */
import http from "node:http";
import { HOST } from "./config.mjs";

const PROBE_PATH = /^\/([a-z]+)\/(\d+)\//;

/**
 * A request counts as open from its arrival until this long before its connection closed: when a
 * prober gives up on a probe it starts its next one at once, and that one can reach this server a
 * fraction of a millisecond before the close of the one given up on (measured: counted to the close
 * itself, one prober in six showed a seventh request for under 1 ms).
 */
export const CLOSE_TOLERANCE_MS = 1;

/** @param {number} port */
export async function startProbeUpstream(port) {
  /** instance key -> arrival times (Date.now()), oldest first */
  const arrivals = new Map();
  /** Fleets whose requests are never answered. */
  const hanging = new Set();
  /** @type {(key: string) => string | null} */
  let groupOf = () => null;
  /** This window's requests: group, arrival and close (performance.now(); null while open). */
  let window = [];
  let open = 0;
  let requests = 0;

  const server = http.createServer((req, res) => {
    const match = PROBE_PATH.exec(req.url ?? "");
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const key = `${match[1]}/${match[2]}`;
    requests++;
    open++;
    let times = arrivals.get(key);
    if (!times) arrivals.set(key, (times = []));
    times.push(Date.now());
    const record = { group: groupOf(key), at: performance.now(), closedAt: null };
    window.push(record);
    res.on("close", () => {
      open--;
      record.closedAt = performance.now();
    });
    // A hanging fleet's request is accepted and never answered: the prober's timeout closes it.
    if (!hanging.has(match[1])) res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}\n');
  });
  // The defaults would end a hanging request on their own after a while: leave that to the prober.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise((resolve, reject) => server.once("error", reject).listen(port, HOST, resolve));

  /** The most requests of this window open at once, in all and in the busiest group, each counted until `tolerance` ms before it closed. */
  function maxOpen(tolerance) {
    const events = [];
    for (const r of window) {
      events.push([r.at, 1, r.group]);
      if (r.closedAt !== null) events.push([Math.max(r.at, r.closedAt - tolerance), -1, r.group]);
    }
    // At the same instant a close goes first.
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let total = 0;
    let maxTotal = 0;
    let maxInOneGroup = null;
    const byGroup = new Map();
    for (const [, delta, group] of events) {
      total += delta;
      maxTotal = Math.max(maxTotal, total);
      if (group === null) continue;
      const n = (byGroup.get(group) ?? 0) + delta;
      byGroup.set(group, n);
      maxInOneGroup = Math.max(maxInOneGroup ?? 0, n);
    }
    return { inAll: maxTotal, inOneGroup: maxInOneGroup };
  }

  return {
    port,
    /** From now on, `fleet`'s probes are never answered. */
    hang(fleet) {
      hanging.add(fleet);
    },
    /** Starts a measurement window; `group` names each instance key's group (its prober), or null. */
    startWindow(group = () => null) {
      groupOf = group;
      window = [];
    },
    /**
     * Requests of this window open at once: `inAll` and `inOneGroup` (null without groups) counted
     * until CLOSE_TOLERANCE_MS before each closed, `toClose` counted to the close itself.
     */
    concurrency() {
      const tolerant = maxOpen(CLOSE_TOLERANCE_MS);
      const toClose = maxOpen(0);
      return { maxOpen: tolerant.inAll, maxInOneGroup: tolerant.inOneGroup, toClose: { maxOpen: toClose.inAll, maxInOneGroup: toClose.inOneGroup } };
    },
    /** When `key` was first probed at or after `since` (Date.now() ms), or null. */
    firstProbeSince(key, since) {
      return arrivals.get(key)?.find((at) => at >= since) ?? null;
    },
    /** When `key`'s probes arrived (Date.now() ms), oldest first. */
    arrivalsOf(key) {
      return arrivals.get(key) ?? [];
    },
    requests: () => requests,
    openNow: () => open,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
