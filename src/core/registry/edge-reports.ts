/**
 * An edge isolate's report (RegistryDO.edgeSync): its in-flight counts replace
 * its previous ones (inflight.ts), each finished request teaches about its
 * instance (outcomes.ts), and instances it could not connect to are ejected
 * (ejection.ts).
 */
import type { RegistryConfig } from "./config";
import { ejectRefusing } from "./ejection";
import { isolateReportTtlMs, replaceIsolateInflight } from "./inflight";
import type { EdgeReport } from "./inputs";
import { learnFromOutcome } from "./outcomes";
import type { InstanceRecord } from "./records";
import type { RegistryState } from "./state";
import { NO_WRITES, type RegistryWrite } from "./writes";

/** Per instance and per report, for outcomes and refusals alike: a report cannot make the registry work without bound. */
export const MAX_OUTCOMES_PER_REPORT = 1000;

export interface EdgeReportApplied {
  readonly writes: readonly RegistryWrite[];
  /** When this report's counts go stale unless the isolate reports again; null when it counts nothing. */
  readonly wakeAt: number | null;
}

export function applyEdgeReport(state: RegistryState, report: EdgeReport, now: number, config: RegistryConfig): EdgeReportApplied {
  replaceIsolateInflight(state, report.isolateId, report.inflight, now, report.sockets);
  // Allocated only when an outlier state changes: most reports change none.
  let writes: RegistryWrite[] | null = null;
  for (const [id, outcomes] of Object.entries(report.outcomes)) {
    const instance = state.instances.get(id);
    if (!instance) continue;
    const count = Math.min(outcomes.length, MAX_OUTCOMES_PER_REPORT);
    for (let i = 0; i < count; i++) {
      const [status, durationMs, failure] = outcomes[i] as (typeof outcomes)[number];
      if (learnFromOutcome(state, instance, { status, durationMs, failure }, now, config)) writes = withOutlierWrite(writes, instance);
    }
  }
  const refused = report.refused ?? [];
  for (let i = 0; i < Math.min(refused.length, MAX_OUTCOMES_PER_REPORT); i++) {
    const instance = state.instances.get(refused[i] as string);
    if (instance && ejectRefusing(state, instance, now, config)) writes = withOutlierWrite(writes, instance);
  }
  return { writes: writes ?? NO_WRITES, wakeAt: state.isolateReports.size > 0 ? now + isolateReportTtlMs(config) : null };
}

/** Outcomes arrive grouped per instance and the store writes the record's final state: one write per run is enough. */
function withOutlierWrite(writes: RegistryWrite[] | null, instance: InstanceRecord): RegistryWrite[] {
  const list = writes ?? [];
  const last = list[list.length - 1];
  if (last?.kind !== "outlier" || last.instance !== instance) list.push({ kind: "outlier", instance });
  return list;
}
