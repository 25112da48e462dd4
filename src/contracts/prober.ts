/**
 * ProberDO's RPC contract: the coordinator (MetricsDO's health sweep) hands
 * each prober one round of targets; the prober probes them in its own
 * invocation and sends the results back as one batch (MetricsDO.reportProbes).
 */
import type { RoundPlan } from "../core/health/sweep-rounds";
import type { HealthTarget, ProbeReport } from "./registry";

/** One round for one prober: the targets of one shard, as seen from one vantage point. */
export interface ProbeAssignment extends RoundPlan {
  readonly vantagePoint: string;
  readonly targets: readonly HealthTarget[];
}

/** What a prober sends back: everything needed to place the batch in its round, and one report per target. */
export interface ProbeBatch extends RoundPlan {
  readonly vantagePoint: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly results: readonly ProbeReport[];
}
