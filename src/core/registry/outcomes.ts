/**
 * What a finished request teaches about its instance, whether it went through
 * a lease or was routed at the edge: recent latency and errors (health score,
 * degraded), passive outlier detection, and its service's release analysis.
 */
import { updateErrorEwma, updateLatencyEwma } from "../instance-health";
import type { RegistryConfig } from "./config";
import { recordPassiveOutcome } from "./ejection";
import type { ReleaseOutcome } from "./inputs";
import type { InstanceRecord } from "./records";
import { recordReleaseOutcome } from "./release-traffic";
import type { RegistryState } from "./state";

/** True when storage must learn the instance's outlier state (see recordPassiveOutcome). */
export function learnFromOutcome(state: RegistryState, instance: InstanceRecord, outcome: ReleaseOutcome, now: number, config: Pick<RegistryConfig, "health">): boolean {
  recordReleaseOutcome(state, instance, outcome);
  // A client that went away tells us nothing about the instance's health.
  if (outcome.failure === "aborted") return false;
  const failed = outcome.failure !== null || (outcome.status !== null && outcome.status >= 500);
  instance.errorEwma = updateErrorEwma(instance.errorEwma, failed);
  if (outcome.failure === null) instance.latencyEwmaMs = updateLatencyEwma(instance.latencyEwmaMs, outcome.durationMs);
  return recordPassiveOutcome(state, instance, failed, now, config);
}
