/**
 * Splitting a health sweep over prober objects ("shards"). Each prober runs
 * its batch in its own invocation with at most MAX_OUTBOUND_CONNECTIONS probes
 * in flight, so a sweep's capacity grows with the number of shards.
 *
 * Sizing: an instance whose probe can take `timeout` and must be probed every
 * `interval` keeps a connection busy for timeout / interval of the time when
 * every probe times out (at most 1: an instance is never probed twice at
 * once). A prober offers 6 connections, of which we plan to use `safety`
 * (0.5), so that a batch ends well within its interval:
 *
 *   shards = min(MAX_PROBE_SHARDS, max(1, ceil(Σ min(1, timeout_i / interval_i) / (6 × safety))))
 *
 * With one timeout and interval this is ceil(n × timeout / (6 × interval × safety)):
 * 500 instances at 5 s / 30 s need 28 shards. The sum runs over every instance
 * being checked (not only those due now), so the count, and with it each
 * instance's shard, stays put from sweep to sweep.
 *
 * Assignment is rendezvous hashing of the instance id: an instance stays on
 * its shard while the count holds, and when the count changes only the
 * instances whose best shard is the new (or removed) one move.
 */
import { hash32 } from "../string-hash";
import { MAX_OUTBOUND_CONNECTIONS } from "./probe-plan";

/** Share of a prober's connections a sweep plans to use. */
export const PROBE_SHARD_SAFETY = 0.5;
/**
 * The cap: per vantage point, 32 probers × 6 connections = 192 probes in flight.
 * At the defaults (5 s timeout, 30 s interval) that holds 576 instances that all
 * time out; beyond it sweeps take longer than the interval (every instance is still
 * probed, less often). Each shard is one RPC per vantage point per sweep.
 */
export const MAX_PROBE_SHARDS = 32;

export interface ShardLoad {
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

export function shardCount(targets: Iterable<ShardLoad>, cap: number = MAX_PROBE_SHARDS, safety: number = PROBE_SHARD_SAFETY): number {
  let load = 0;
  for (const t of targets) {
    if (t.intervalMs > 0 && t.timeoutMs > 0) load += Math.min(1, t.timeoutMs / t.intervalMs);
  }
  const wanted = Math.ceil(load / (MAX_OUTBOUND_CONNECTIONS * safety));
  return Math.max(1, Math.min(Math.max(1, Math.floor(cap)), wanted));
}

/** The shard (0 … shards − 1) an instance belongs to: the highest-scoring one (rendezvous hashing). */
export function shardOf(id: string, shards: number): number {
  let best = 0;
  let bestScore = -1;
  for (let shard = 0; shard < shards; shard++) {
    const score = hash32(`${shard}:${id}`);
    if (score > bestScore) {
      best = shard;
      bestScore = score;
    }
  }
  return best;
}
