/**
 * Deciding an instance's probe result from several vantage points, as
 * Cloudflare Load Balancing does (each origin probed from several data
 * centres, decided by majority), with one addition for partitions:
 *
 * 1. Only vantage points that answered count: a prober whose batch did not
 *    arrive within the round has no vote.
 * 2. A vantage point whose probes ALL failed in the round is discounted (no
 *    vote at all) when another vantage point passed at least one of the same
 *    instances, and it has failed at least PARTITION_EVIDENCE (6) probes
 *    that another vantage point passed since its own last pass (this round's
 *    and earlier ones, across shards): nothing it probed got through for a
 *    while, while the same instances answered elsewhere, so the problem is on
 *    its side (its own partition). Only contradicted failures count, so a
 *    fleet with instances that are really down does not build up the run; and
 *    the run length keeps a flapping instance alone in its round from looking
 *    like a partition of whichever vantage point caught it failing. If every
 *    vantage point failed everything, nobody is discounted: then it is the
 *    instances.
 * 3. Each instance: more passing votes than failing ones passes, more failing
 *    ones fails, a tie (e.g. 1 : 1 with one of three silent) is a split:
 *    inconclusive, the instance's state does not move.
 * 4. One vantage point: its results are the verdicts (rule 2 needs another).
 *
 * A round is one shard's targets, probed by every vantage point, so every
 * vantage point probes the same instances. Pure.
 */
import type { Probe } from "./active-check";

export interface VantageResult {
  readonly id: string;
  readonly probe: Probe;
}

export interface VantageBatch {
  readonly vantagePoint: string;
  readonly results: readonly VantageResult[];
}

export type VerdictKind = "pass" | "fail" | "split";

export interface InstanceVerdict {
  readonly id: string;
  readonly verdict: VerdictKind;
  /** The probe the state machine is fed: the passing one with the median latency, or the first failing one. Null for a split. */
  readonly probe: Probe | null;
  readonly passVotes: number;
  readonly failVotes: number;
}

export interface QuorumDecision {
  /** One per instance, in the order instances first appear in the batches. */
  readonly verdicts: InstanceVerdict[];
  /** Vantage points whose votes counted. */
  readonly counted: string[];
  /** Vantage points that answered but were discounted (rule 2). */
  readonly discounted: string[];
  /** Each answering vantage point's run of contradicted failures after this round (for `failedBefore` next time). */
  readonly failureRuns: ReadonlyMap<string, number>;
}

export function passed(probe: Probe): boolean {
  return probe.ok && probe.kind === "pass";
}

/** Probes another vantage point passed that a vantage point failed since its last pass (this round's included) before it can be discounted. */
export const PARTITION_EVIDENCE = 6;

/**
 * `failedBefore` gives each vantage point's run of contradicted failures before this
 * round (failed probes another vantage point passed, since its own last pass, across
 * shards); the caller keeps it from each decision's `failureRuns`.
 */
export function decideQuorum(batches: readonly VantageBatch[], failedBefore: (vantagePoint: string) => number = () => 0): QuorumDecision {
  // One batch per vantage point (a repeated one replaces the earlier).
  const byVantage = new Map<string, readonly VantageResult[]>();
  for (const batch of batches) byVantage.set(batch.vantagePoint, batch.results);
  const multiple = byVantage.size > 1;

  const passedBy = new Map<string, Set<string>>();
  for (const [vantage, results] of byVantage) {
    for (const r of results) {
      if (!passed(r.probe)) continue;
      let set = passedBy.get(r.id);
      if (!set) passedBy.set(r.id, (set = new Set()));
      set.add(vantage);
    }
  }

  const counted: string[] = [];
  const discounted: string[] = [];
  const failureRuns = new Map<string, number>();
  for (const [vantage, results] of byVantage) {
    const contradicted = results.filter((r) => !passed(r.probe) && [...(passedBy.get(r.id) ?? [])].some((v) => v !== vantage)).length;
    const anyPassed = results.some((r) => passed(r.probe));
    const run = anyPassed ? 0 : failedBefore(vantage) + contradicted;
    failureRuns.set(vantage, run);
    const allFailed = results.length > 0 && !anyPassed;
    if (allFailed && contradicted > 0 && run >= PARTITION_EVIDENCE) discounted.push(vantage);
    else counted.push(vantage);
  }

  const votes = new Map<string, { pass: Probe[]; fail: { vantage: string; probe: Probe }[] }>();
  const order: string[] = [];
  for (const [vantage, results] of byVantage) {
    const counts = counted.includes(vantage);
    for (const r of results) {
      let entry = votes.get(r.id);
      if (!entry) {
        votes.set(r.id, (entry = { pass: [], fail: [] }));
        order.push(r.id);
      }
      if (!counts) continue;
      if (passed(r.probe)) entry.pass.push(r.probe);
      else entry.fail.push({ vantage, probe: r.probe });
    }
  }

  const verdicts = order.map((id): InstanceVerdict => {
    const entry = votes.get(id) as { pass: Probe[]; fail: { vantage: string; probe: Probe }[] };
    const passVotes = entry.pass.length;
    const failVotes = entry.fail.length;
    if (passVotes > failVotes) return { id, verdict: "pass", probe: medianLatencyProbe(entry.pass), passVotes, failVotes };
    if (failVotes > passVotes) {
      const first = entry.fail[0] as { vantage: string; probe: Probe };
      // The vantage point goes last: the error's class prefix ("dns: …", core/upstream-errors.ts) stays first.
      const probe = multiple ? { ...first.probe, error: `${first.probe.error ?? first.probe.kind} (from ${first.vantage})` } : first.probe;
      return { id, verdict: "fail", probe, passVotes, failVotes };
    }
    return { id, verdict: "split", probe: null, passVotes, failVotes };
  });
  return { verdicts, counted, discounted, failureRuns };
}

/** Of passing probes (at least one), the one with the median latency (the lower middle for an even count); unknown latencies sort last. */
function medianLatencyProbe(probes: readonly Probe[]): Probe {
  const sorted = [...probes].sort((a, b) => (a.latencyMs ?? Number.POSITIVE_INFINITY) - (b.latencyMs ?? Number.POSITIVE_INFINITY));
  return sorted[Math.floor((sorted.length - 1) / 2)] as Probe;
}

