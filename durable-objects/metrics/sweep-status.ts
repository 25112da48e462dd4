/**
 * What the loop remembers about its health sweeps, for LoopStatus (shown on
 * the dashboard): the last sweep as handed out, the last sweep that probed
 * something and whose rounds have all been decided (aggregated over its shards
 * and vantage points), and
 * the latest health events. In memory only: after a restart the next sweeps
 * fill it in again.
 */
import type { CompletedSweep, VantagePointStats } from "../../src/contracts/metrics";
import type { InstanceHealthEvent } from "../../src/contracts/registry";
import type { RoundDecision } from "../../src/core/health";
import type { SweepKick } from "./health-sweep";

/** Enough history for the dashboard's event list without growing with the fleet's age. */
const MAX_RECENT_EVENTS = 200;
/** Sweeps whose rounds are still open; older ones are given up on (their rounds expire long before). */
const MAX_PENDING_SWEEPS = 64;

interface Tally {
  readonly at: number;
  readonly probed: number;
  readonly rounds: number;
  decided: number;
  verdicts: number;
  registryCalls: number;
  finishedAt: number;
  readonly vantage: Map<string, { answered: number; missing: number; discounted: number; probes: number; failed: number }>;
}

export class SweepStatus {
  lastSweepAt: number | null = null;
  lastSweepProbed = 0;
  /** Only sweeps that probed something count: an empty one says nothing about how long probing takes. */
  lastSweepDurationMs: number | null = null;
  lastSweepShards = 0;
  lastSweepRounds = 0;
  lastCompletedSweep: CompletedSweep | null = null;
  /** Newest first. */
  recentEvents: InstanceHealthEvent[] = [];
  private readonly pending = new Map<number, Tally>();

  /** A sweep has handed its rounds out. `registryCalls`: the healthTargets call. */
  started(at: number, kick: SweepKick): void {
    this.lastSweepAt = at;
    this.lastSweepProbed = kick.probed;
    this.lastSweepShards = kick.shards;
    this.lastSweepRounds = kick.rounds;
    // A sweep that found nothing due says nothing about probing: the last completed one stays.
    if (kick.rounds === 0) return;
    const tally: Tally = { at, probed: kick.probed, rounds: kick.rounds, decided: 0, verdicts: 0, registryCalls: 1, finishedAt: at, vantage: new Map() };
    this.pending.set(at, tally);
    while (this.pending.size > MAX_PENDING_SWEEPS) this.pending.delete(this.pending.keys().next().value as number);
  }

  /** One round of sweep `round` was decided at `at`; `applied` says whether it cost a registry call. */
  roundDecided(round: number, decision: RoundDecision, results: ReadonlyMap<string, { probes: number; failed: number }>, applied: boolean, at: number): void {
    const tally = this.pending.get(round);
    if (!tally) return;
    tally.decided++;
    tally.verdicts += decision.verdicts.length;
    if (applied) tally.registryCalls++;
    tally.finishedAt = Math.max(tally.finishedAt, at);
    const stats = (name: string) => {
      let s = tally.vantage.get(name);
      if (!s) tally.vantage.set(name, (s = { answered: 0, missing: 0, discounted: 0, probes: 0, failed: 0 }));
      return s;
    };
    for (const name of [...decision.counted, ...decision.discounted]) {
      const s = stats(name);
      s.answered++;
      s.probes += results.get(name)?.probes ?? 0;
      s.failed += results.get(name)?.failed ?? 0;
    }
    for (const name of decision.discounted) stats(name).discounted++;
    for (const name of decision.missing) stats(name).missing++;
    if (tally.decided >= tally.rounds) {
      this.pending.delete(round);
      this.complete(tally);
    }
  }

  addEvents(events: readonly InstanceHealthEvent[]): void {
    if (events.length === 0) return;
    this.recentEvents = [...events.slice().reverse(), ...this.recentEvents].slice(0, MAX_RECENT_EVENTS);
  }

  /** Every round of the sweep has been decided. */
  private complete(tally: Tally): void {
    const vantagePoints: VantagePointStats[] = [...tally.vantage].map(([name, s]) => ({ name, ...s }));
    this.lastCompletedSweep = {
      at: tally.at,
      probed: tally.probed,
      rounds: tally.rounds,
      decided: tally.verdicts,
      registryCalls: tally.registryCalls,
      durationMs: tally.finishedAt - tally.at,
      vantagePoints,
    };
    this.lastSweepDurationMs = tally.finishedAt - tally.at;
  }
}
