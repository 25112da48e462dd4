/**
 * The coordinator's book of sweep rounds in progress. A round is one shard's
 * due instances, handed to that shard's prober at every vantage point; each
 * prober sends back one batch. A round closes when every vantage point has
 * answered, or at its deadline with the batches that came (a vantage point
 * that did not answer in time has no vote; see quorum.ts). Its instances are
 * "in flight" until the caller releases the round, after applying its
 * decision, and are not handed out again meanwhile: a slow prober never gets a
 * second copy of work it is still doing, and a sweep running while a decision
 * is being applied does not see the instances as due again.
 *
 * Memory only and self-healing: batches carry everything needed to reopen
 * their round, so a batch arriving after the coordinator restarted still
 * counts (in-flight marks are lost then, which costs at most a repeated probe).
 * Pure: the clock comes in as `now`.
 */
import type { Probe } from "./active-check";
import { decideQuorum, type VerdictKind } from "./quorum";

export interface RoundKey {
  /** When the coordinator's sweep started (ms); with the shard, names the round. */
  readonly round: number;
  readonly shard: number;
}

export interface RoundPlan extends RoundKey {
  /** Every vantage point the round was handed to. */
  readonly vantagePoints: readonly string[];
  /** After this, the round closes with what has arrived. */
  readonly deadline: number;
  readonly ids: readonly string[];
}

export interface BatchResult {
  readonly id: string;
  /** When the probe ended. */
  readonly at: number;
  readonly probe: Probe;
}

export interface VantageBatchIn extends RoundPlan {
  readonly vantagePoint: string;
  readonly results: readonly BatchResult[];
}

export interface OpenRound extends RoundPlan {
  readonly batches: Map<string, readonly BatchResult[]>;
}

export type BatchOutcome =
  /** Every vantage point has answered: decide it now. */
  | { readonly kind: "complete"; readonly round: OpenRound }
  | { readonly kind: "waiting" }
  /** The round had closed (deadline passed, or already decided): the batch has no vote. */
  | { readonly kind: "late" };

function keyOf(k: RoundKey): string {
  return `${k.round}/${k.shard}`;
}

export class SweepRounds {
  private readonly open = new Map<string, OpenRound>();
  private readonly inFlight = new Map<string, string>();
  /** Rounds decided recently, so a duplicate batch (a retried alarm) is recognised as late. */
  private readonly closed = new Map<string, number>();

  /** Opens a round and marks its instances in flight. */
  start(plan: RoundPlan): void {
    const key = keyOf(plan);
    this.open.set(key, { ...plan, batches: new Map() });
    for (const id of plan.ids) this.inFlight.set(id, key);
  }

  /** Whether the instance is in a round that has not closed yet. */
  isInFlight(id: string): boolean {
    return this.inFlight.has(id);
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  openCount(): number {
    return this.open.size;
  }

  /**
   * Shards with a round still open. A shard gets one round at a time: a prober
   * works through its rounds one after another, so a second round would wait
   * behind the first and miss a deadline sized for its own instances alone,
   * and its instances would be handed out again (found by the bench's "500
   * new instances that time out" check).
   */
  busyShards(): ReadonlySet<number> {
    const busy = new Set<number>();
    for (const round of this.open.values()) busy.add(round.shard);
    return busy;
  }

  /** Records one vantage point's batch. A complete round is closed (later batches are late) but still in flight until `release`. */
  add(batch: VantageBatchIn, now: number): BatchOutcome {
    const key = keyOf(batch);
    let round = this.open.get(key);
    if (!round) {
      if (this.closed.has(key) || now > batch.deadline) return { kind: "late" };
      // The coordinator restarted since it handed this round out: reopen it from the batch.
      round = { round: batch.round, shard: batch.shard, vantagePoints: batch.vantagePoints, deadline: batch.deadline, ids: batch.ids, batches: new Map() };
      this.open.set(key, round);
    }
    round.batches.set(batch.vantagePoint, batch.results);
    if (!round.vantagePoints.every((v) => round.batches.has(v))) return { kind: "waiting" };
    this.close(key, round, now);
    return { kind: "complete", round };
  }

  /** Closes and returns the rounds whose deadline has passed (with whatever batches they have, possibly none); release each after deciding it. */
  expire(now: number): OpenRound[] {
    const expired: OpenRound[] = [];
    for (const [key, round] of this.open) {
      if (now < round.deadline) continue;
      this.close(key, round, now);
      expired.push(round);
    }
    return expired;
  }

  /** The earliest deadline of an open round, or null. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const round of this.open.values()) if (next === null || round.deadline < next) next = round.deadline;
    return next;
  }

  /** The round's decision has been applied: its instances may be handed out again. */
  release(round: RoundKey & { readonly ids: readonly string[] }): void {
    const key = keyOf(round);
    for (const id of round.ids) if (this.inFlight.get(id) === key) this.inFlight.delete(id);
  }

  private close(key: string, round: OpenRound, now: number): void {
    this.open.delete(key);
    this.closed.set(key, now);
    // Remembered long enough for a retried batch; forgotten after that so the map stays small.
    for (const [k, at] of this.closed) if (now - at > CLOSED_MEMORY_MS) this.closed.delete(k);
  }
}

/** How long a decided round is remembered (alarm retries end well within this). */
export const CLOSED_MEMORY_MS = 10 * 60_000;

export interface RoundVerdict {
  readonly id: string;
  /** The latest end of the probes that voted (when the instance was last checked). */
  readonly at: number;
  readonly verdict: VerdictKind;
  /** What the state machine is fed; null for a split (no change but the check time). */
  readonly probe: Probe | null;
  readonly passVotes: number;
  readonly failVotes: number;
}

export interface RoundDecision {
  readonly verdicts: RoundVerdict[];
  readonly counted: string[];
  readonly discounted: string[];
  /** Vantage points that did not answer before the round closed. */
  readonly missing: string[];
  /** Each answering vantage point's run of contradicted failures after this round (quorum.ts). */
  readonly failureRuns: ReadonlyMap<string, number>;
}

/** The quorum decision (quorum.ts) over a closed round's batches; `failedBefore` as decideQuorum's. */
export function decideRound(round: OpenRound, failedBefore: (vantagePoint: string) => number = () => 0): RoundDecision {
  const latest = new Map<string, number>();
  const batches = [...round.batches].map(([vantagePoint, results]) => {
    for (const r of results) latest.set(r.id, Math.max(latest.get(r.id) ?? Number.NEGATIVE_INFINITY, r.at));
    return { vantagePoint, results };
  });
  const decision = decideQuorum(batches, failedBefore);
  return {
    verdicts: decision.verdicts.map((v) => ({ ...v, at: latest.get(v.id) as number })),
    counted: decision.counted,
    discounted: decision.discounted,
    failureRuns: decision.failureRuns,
    missing: round.vantagePoints.filter((v) => !round.batches.has(v)),
  };
}
