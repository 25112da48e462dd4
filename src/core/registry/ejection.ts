/**
 * Passive outlier detection for the registry's instances (the mechanics are
 * core/health/outlier.ts): a run of gateway failures ejects an instance, and
 * so does an edge isolate reporting that it refused connections, both within
 * the service's ejection cap.
 */
import { ejectOnRefusal, isEjected, mayEject, recordOutcome } from "../health";
import type { RegistryConfig } from "./config";
import type { InstanceRecord } from "./records";
import { instancesOf, type RegistryState } from "./state";

/**
 * Envoy's cap for one service: may one more of its active instances be ejected
 * now? Counted afresh on every call, since each ejection changes the answer.
 */
export function ejectionAllowed(state: RegistryState, serviceName: string, now: number, config: Pick<RegistryConfig, "health">): boolean {
  let active = 0;
  let ejected = 0;
  for (const instance of instancesOf(state, serviceName)) {
    if (instance.adminState !== "active") continue;
    active++;
    if (isEjected(instance.outlier, now)) ejected++;
  }
  return mayEject(active, ejected, config.health.outlier.maxEjectionPercent);
}

/**
 * One request's outcome (Envoy's consecutive_5xx). True when storage must
 * learn the outlier state: an ejection started, ended or changed its
 * multiplier. The running failure count is memory only.
 */
export function recordPassiveOutcome(state: RegistryState, instance: InstanceRecord, failed: boolean, now: number, config: Pick<RegistryConfig, "health">): boolean {
  const before = instance.outlier;
  // Only a failure can eject, so a success does not pay for counting the cap.
  const allowed = failed && ejectionAllowed(state, instance.service, now, config);
  const result = recordOutcome(before, { gatewayFailure: failed }, now, config.health.outlier, allowed);
  instance.outlier = result.state;
  return result.ejected || before.ejectedUntil !== result.state.ejectedUntil || before.ejectionCount !== result.state.ejectionCount;
}

/** An instance an edge isolate could not connect to (EdgeReport.refused): ejected now, within the cap. True when it was. */
export function ejectRefusing(state: RegistryState, instance: InstanceRecord, now: number, config: Pick<RegistryConfig, "health">): boolean {
  if (instance.adminState !== "active") return false;
  const result = ejectOnRefusal(instance.outlier, now, config.health.outlier, ejectionAllowed(state, instance.service, now, config));
  if (!result.ejected) return false;
  instance.outlier = result.state;
  return true;
}
