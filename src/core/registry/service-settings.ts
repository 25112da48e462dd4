/**
 * What an operator configures per service: strategy, timeout, instance
 * weights, health-check overrides, lifecycle hook, WebSocket permission,
 * client affinity, autoscaling policy.
 * Configuring a service that does not exist yet creates it.
 */
import type { AutoscalePolicy } from "../autoscale";
import { INITIAL_AUTOSCALE_STATE } from "../autoscale";
import { initialBalancerState } from "../balancer/types";
import { isValidServiceName } from "../services";
import type { ServiceSettingsInput } from "./inputs";
import type { InstanceRecord, ServiceRecord } from "./records";
import { invalidField, type Refusal } from "./refusals";
import { ensureService, MAX_SERVICES } from "./registration";
import { instancesOf, type RegistryState } from "./state";
import { type TargetPolicy, targetRefusal } from "./target-policy";
import type { RegistryWrite } from "./writes";

export interface ServiceConfigured {
  readonly ok: true;
  readonly created: boolean;
  readonly service: ServiceRecord;
  readonly writes: readonly RegistryWrite[];
}

/** All or nothing: every setting is checked before any is applied. */
export function applyServiceSettings(state: RegistryState, name: string, settings: ServiceSettingsInput, now: number, targets: TargetPolicy): ServiceConfigured | Refusal {
  if (!isValidServiceName(name)) return invalidField("name", "name: not a valid service name");
  const instances = instancesOf(state, name);
  for (const id of Object.keys(settings.weights ?? {})) {
    if (!instances.some((i) => i.id === id)) return invalidField(`weights.${id}`, `weights.${id}: no such instance in ${name}`);
  }
  if (!state.services.has(name) && state.services.size >= MAX_SERVICES) return { ok: false, reason: "too-many-services", field: "name" };
  if (settings.lifecycleHook) {
    const refused = targetRefusal(settings.lifecycleHook, targets);
    if (refused) return { ...refused, field: `lifecycleHook.${refused.field}` };
  }
  const writes: RegistryWrite[] = [];
  const created = ensureService(state, name, false, now, writes);
  const service = state.services.get(name) as ServiceRecord;
  if (settings.strategy !== undefined && settings.strategy !== service.strategy) {
    service.strategy = settings.strategy;
    // Another strategy's cursor and counters mean nothing to this one.
    service.balancer = initialBalancerState;
  }
  if (settings.timeoutMs !== undefined) service.timeoutMs = settings.timeoutMs;
  if (settings.healthCheck !== undefined) service.healthSettings = { ...service.healthSettings, ...settings.healthCheck };
  if (settings.lifecycleHook !== undefined) service.lifecycleHook = settings.lifecycleHook;
  if (settings.websockets !== undefined) service.websockets = settings.websockets;
  if (settings.affinity !== undefined) service.affinity = settings.affinity;
  for (const [id, weight] of Object.entries(settings.weights ?? {})) {
    const instance = state.instances.get(id) as InstanceRecord;
    instance.weight = weight;
    writes.push({ kind: "weight", instance });
  }
  writes.push({ kind: "service", service });
  return { ok: true, created, service, writes };
}

/** A new policy (or none) starts the engine afresh; the decision log stays. */
export function changeAutoscalePolicy(state: RegistryState, name: string, policy: AutoscalePolicy | null): { readonly ok: true; readonly writes: readonly RegistryWrite[] } | Refusal {
  const service = state.services.get(name);
  if (!service) return { ok: false, reason: "unknown-service", service: name, field: "name" };
  service.autoscalePolicy = policy;
  service.autoscaleState = INITIAL_AUTOSCALE_STATE;
  return { ok: true, writes: [{ kind: "service", service }] };
}
