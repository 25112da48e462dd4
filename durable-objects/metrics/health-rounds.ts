/**
 * A closed sweep round (every vantage point answered, or its deadline
 * passed) decided by quorum (core/health/quorum.ts) and handed to the
 * registry, which owns health state, in one applyProbeResults call.
 */
import type { registryStub } from "../../src/platform/stubs";
import { decideRound, type OpenRound, passed, type RoundDecision } from "../../src/core/health";
import type { InstanceHealthEvent, ProbeReport } from "../../src/contracts/registry";

export interface RoundApplied {
  readonly decision: RoundDecision;
  readonly events: InstanceHealthEvent[];
  /** Whether the registry was called (a round with no answer has nothing to apply). */
  readonly applied: boolean;
  /** Probes and failures per vantage point that answered. */
  readonly perVantage: ReadonlyMap<string, { probes: number; failed: number }>;
}

/** What the registry is sent: each instance's verdict; a split only moves its check time. */
export function reportsOf(decision: RoundDecision): ProbeReport[] {
  return decision.verdicts.map((v): ProbeReport =>
    v.probe === null
      ? { id: v.id, at: v.at, probe: { ok: false, kind: "fail", latencyMs: null, error: `split vote (${v.passVotes} : ${v.failVotes})` }, split: true }
      : { id: v.id, at: v.at, probe: v.probe },
  );
}

/**
 * `failureRuns`: each vantage point's run of contradicted failures so far (across shards), which the
 * quorum's partition rule reads; updated here with the round's batches.
 */
export async function applyRound(registry: ReturnType<typeof registryStub>, round: OpenRound, failureRuns: Map<string, number>): Promise<RoundApplied> {
  const decision = decideRound(round, (vantage) => failureRuns.get(vantage) ?? 0);
  for (const [vantage, run] of decision.failureRuns) failureRuns.set(vantage, run);
  const perVantage = new Map<string, { probes: number; failed: number }>();
  for (const [vantage, results] of round.batches) perVantage.set(vantage, { probes: results.length, failed: results.filter((r) => !passed(r.probe)).length });
  const reports = reportsOf(decision);
  if (reports.length === 0) return { decision, events: [], applied: false, perVantage };
  const events = await registry.applyProbeResults(reports);
  return { decision, events, applied: true, perVantage };
}
