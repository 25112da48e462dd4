/**
 * One health sweep: ask the registry what to probe, probe what is due (each
 * service on its own interval, jittered) with at most six probes in flight,
 * and hand the results back to the registry, which owns health state.
 * Returns the health events the registry reported and when the next sweep is due.
 */
import type { Config } from "../../src/config";
import type { registryStub } from "../../src/platform/stubs";
import { mapWithConcurrency, MAX_OUTBOUND_CONNECTIONS, planSweep } from "../../src/core/health";
import { probeInstance } from "./health-probe";
import type { HealthTarget, InstanceHealthEvent, ProbeReport } from "../../src/contracts/registry";

export interface SweepResult {
  readonly probed: number;
  readonly events: InstanceHealthEvent[];
  readonly nextAt: number;
}

export async function runHealthSweep(
  env: Env,
  config: Config,
  registry: ReturnType<typeof registryStub>,
  now: number,
  random: () => number,
): Promise<SweepResult> {
  const targets = await registry.healthTargets();
  const byInterval = new Map<number, HealthTarget[]>();
  for (const target of targets) byInterval.set(target.intervalMs, [...(byInterval.get(target.intervalMs) ?? []), target]);

  const due: HealthTarget[] = [];
  let nextAt = now + config.health.intervalMs;
  for (const [intervalMs, group] of byInterval) {
    const plan = planSweep(group, now, intervalMs, random);
    const dueIds = new Set(plan.due);
    due.push(...group.filter((t) => dueIds.has(t.id)));
    nextAt = Math.min(nextAt, plan.nextAt);
  }
  if (due.length === 0) return { probed: 0, events: [], nextAt };

  const settled = await mapWithConcurrency(due, MAX_OUTBOUND_CONNECTIONS, (target) => probeInstance(env, config, target));
  const reports: ProbeReport[] = [];
  settled.forEach((outcome, index) => {
    const target = due[index] as HealthTarget;
    reports.push(
      outcome.status === "fulfilled"
        ? outcome.value
        : { id: target.id, at: Date.now(), probe: { ok: false, kind: "fail", latencyMs: null, error: String(outcome.reason) } },
    );
  });
  const events = await registry.applyProbeResults(reports);
  return { probed: reports.length, events, nextAt };
}
