/**
 * The health sweep's coordinator, run by MetricsDO's alarm: ask the registry
 * what to probe, pick what is due (each instance on the interval its state
 * calls for, jittered; at once when it asked for a probe), split it over
 * shards by a stable hash of the instance id, and hand each shard's round to
 * that shard's prober at every vantage point (ProberDO, one RPC each, answered
 * at once: the probing runs in the prober's own invocation, six at a time).
 * The batches come back through MetricsDO.reportProbes; health-rounds.ts
 * decides each round by quorum and hands it to the registry in one call.
 *
 * Why MetricsDO coordinates and not RegistryDO: the loop (alarms, back-off,
 * LoopStatus) already lives here, and RegistryDO serves the edge's syncs: the
 * planning, the fan-out and the collection of V × S batches per sweep stay off
 * the object every isolate depends on, which sees one healthTargets call per
 * sweep and one applyProbeResults call per shard.
 */
import type { Config } from "../../src/config";
import type { registryStub } from "../../src/platform/stubs";
import { proberStub } from "../../src/platform/stubs";
import { planDueTargets, roundDeadline, shardCount, shardOf, type SweepRounds } from "../../src/core/health";
import type { HealthTarget } from "../../src/contracts/registry";

export interface SweepKick {
  /** Instances handed out to probers in this sweep. */
  readonly probed: number;
  /** The shard count the fleet was sized to (core/health/shards.ts). */
  readonly shards: number;
  /** Shards that had instances due: each became one round, handed to every vantage point. */
  readonly rounds: number;
  /** Instances already in a round that has not closed (not handed out again). */
  readonly inFlight: number;
  /** Due instances whose shard still had a round open: handed out once it closes. */
  readonly deferred: number;
  readonly nextAt: number;
}

/** While due instances wait for their shard's round to close, look again this often (not every tick: each look asks the registry). */
const DEFERRED_RECHECK_MS = 1_000;

export async function startHealthSweep(
  env: Env,
  config: Config,
  registry: ReturnType<typeof registryStub>,
  rounds: SweepRounds,
  now: number,
  random: () => number,
): Promise<SweepKick> {
  const targets = await registry.healthTargets();
  const shards = shardCount(targets);
  const plan = planDueTargets(targets, now, config.health.intervalMs, random, (id) => rounds.isInFlight(id));
  const inFlight = rounds.inFlightCount();
  if (plan.due.length === 0) return { probed: 0, shards, rounds: 0, inFlight, deferred: 0, nextAt: plan.nextAt };

  const busy = rounds.busyShards();
  const byShard = new Map<number, HealthTarget[]>();
  let deferred = 0;
  for (const target of plan.due) {
    const shard = shardOf(target.id, shards);
    if (busy.has(shard)) {
      deferred++;
      continue;
    }
    const list = byShard.get(shard);
    if (list) list.push(target);
    else byShard.set(shard, [target]);
  }

  const vantagePoints = config.health.vantagePoints;
  const kicks: Promise<void>[] = [];
  let deadline = deferred > 0 ? now + DEFERRED_RECHECK_MS : Number.POSITIVE_INFINITY;
  if (byShard.size === 0) return { probed: 0, shards, rounds: 0, inFlight, deferred, nextAt: Math.min(plan.nextAt, deadline) };
  for (const [shard, list] of byShard) {
    const roundPlan = { round: now, shard, vantagePoints, deadline: roundDeadline(list, now), ids: list.map((t) => t.id) };
    deadline = Math.min(deadline, roundPlan.deadline);
    rounds.start(roundPlan);
    for (const vantagePoint of vantagePoints) kicks.push(proberStub(env, vantagePoint, shard).assign({ ...roundPlan, vantagePoint, targets: list }));
  }
  const kicked = await Promise.allSettled(kicks);
  const failed = kicked.filter((k): k is PromiseRejectedResult => k.status === "rejected");
  for (const f of failed) console.error(JSON.stringify({ level: "error", message: "could not hand a round to a prober", error: String(f.reason) }));
  // Nobody took the work: a failed sweep (counted, backed off); its rounds close empty at their deadline.
  if (failed.length === kicks.length) throw failed[0]?.reason;
  return { probed: plan.due.length - deferred, shards, rounds: byShard.size, inFlight, deferred, nextAt: Math.min(plan.nextAt, deadline) };
}
