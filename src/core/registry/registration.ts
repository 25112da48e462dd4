/**
 * Instances joining and leaving: registration, heartbeats, deregistration, and
 * the services that come and go with them. A dynamic service exists while it
 * has instances; seed services, ones an operator configured and ones with
 * releases stay.
 */
import { type ServiceScope, serviceInScope } from "../credentials";
import { isValidVersion, VERSION_RULE } from "../release/version";
import { isValidServiceName } from "../services";
import type { RegistryConfig } from "./config";
import type { HeartbeatInput, RegisterInput } from "./inputs";
import { type InstanceRecord, type NewInstance, newInstanceRecord, newServiceRecord, sameTarget, type ServiceRecord } from "./records";
import { invalidField, type Refusal, unknownInstance } from "./refusals";
import { indexInstance, instancesOf, type RegistryState, unindexInstance } from "./state";
import { type TargetPolicy, targetRefusal } from "./target-policy";
import type { RegistryWrite } from "./writes";
import { instanceRemoved } from "./inflight";

export const MAX_SERVICES = 200;
export const MAX_INSTANCES_PER_SERVICE = 500;

export interface Registered {
  readonly ok: true;
  readonly instance: InstanceRecord;
  readonly ttlSeconds: number;
  readonly writes: readonly RegistryWrite[];
}

/** `id` is the new instance's (random) id, drawn by the caller. */
export function registerInstance(
  state: RegistryState,
  input: RegisterInput,
  id: string,
  now: number,
  config: Pick<RegistryConfig, "instanceTtlSeconds">,
  targets: TargetPolicy,
): Registered | Refusal {
  if (!isValidServiceName(input.service)) return invalidField("service", "service: not a valid service name");
  const refused = targetRefusal(input.target, targets);
  if (refused) return refused;
  const version = declaredVersion(input);
  if (!version.ok) return version;
  const existing = instancesOf(state, input.service).find((i) => sameTarget(i.target, input.target));
  if (existing) return { ok: false, reason: "already-registered", kind: input.target.kind, service: input.service, existingId: existing.id };
  if (!state.services.has(input.service) && state.services.size >= MAX_SERVICES) return { ok: false, reason: "too-many-services", field: "service" };
  if (instancesOf(state, input.service).length >= MAX_INSTANCES_PER_SERVICE) return { ok: false, reason: "too-many-instances" };
  const writes: RegistryWrite[] = [];
  ensureService(state, input.service, false, now, writes);
  const instance = addInstance(
    state,
    {
      id,
      service: input.service,
      target: input.target,
      weight: input.weight,
      isStatic: false,
      ttlSeconds: input.ttlSeconds ?? config.instanceTtlSeconds,
      lastHeartbeat: now,
      // Spread defines own properties, so a "__proto__" key stays a key (Object.assign would drop it).
      metadata: { ...input.metadata },
      version: version.version,
      ...(input.standby ? { standby: true } : {}),
    },
    now,
    writes,
  );
  return { ok: true, instance, ttlSeconds: ttlSecondsOf(instance, config), writes };
}

/**
 * The version an instance declares: its own `version` field, else its metadata's `version`
 * (kept in the metadata as well), else none. Either must be a valid version: a canary that
 * registered with a version nothing can name would never be found.
 */
function declaredVersion(input: RegisterInput): { readonly ok: true; readonly version: string | null } | Refusal {
  if (input.version !== undefined) return isValidVersion(input.version) ? { ok: true, version: input.version } : invalidField("version", `version: ${VERSION_RULE}`);
  if (!Object.hasOwn(input.metadata, "version")) return { ok: true, version: null };
  const fromMetadata = input.metadata.version;
  return isValidVersion(fromMetadata) ? { ok: true, version: fromMetadata } : invalidField("metadata.version", `metadata.version: ${VERSION_RULE} (it is the instance's version when \`version\` is not given)`);
}

export interface HeartbeatRecorded {
  readonly ok: true;
  readonly instance: InstanceRecord;
  readonly ttlSeconds: number;
  readonly writes: readonly RegistryWrite[];
}

/** `scope`: the services the caller's registration token covers (null: all); another service's instance is refused. */
export function recordHeartbeat(
  state: RegistryState,
  id: string,
  report: HeartbeatInput,
  scope: ServiceScope,
  now: number,
  config: Pick<RegistryConfig, "instanceTtlSeconds">,
): HeartbeatRecorded | Refusal {
  const instance = state.instances.get(id);
  if (!instance) return unknownInstance(id);
  if (!serviceInScope(scope, instance.service)) return { ok: false, reason: "out-of-token-scope" };
  instance.lastHeartbeat = now;
  instance.checkStatus = "passing";
  instance.criticalSince = null;
  if (report.inflight !== undefined) instance.reportedInflight = report.inflight;
  if (report.cpu !== undefined) instance.reportedCpu = report.cpu;
  return { ok: true, instance, ttlSeconds: ttlSecondsOf(instance, config), writes: [{ kind: "heartbeat", instance }] };
}

export function deregisterInstance(state: RegistryState, id: string, scope: ServiceScope): { readonly ok: true; readonly writes: readonly RegistryWrite[] } | Refusal {
  const instance = state.instances.get(id);
  if (!instance) return unknownInstance(id);
  if (!serviceInScope(scope, instance.service)) return { ok: false, reason: "out-of-token-scope" };
  if (instance.isStatic) return { ok: false, reason: "static-instance" };
  const writes: RegistryWrite[] = [];
  removeInstance(state, id, writes);
  return { ok: true, writes };
}

/** The TTL a registered instance must heartbeat within (static instances have none; the setting stands in). */
export function ttlSecondsOf(instance: InstanceRecord, config: Pick<RegistryConfig, "instanceTtlSeconds">): number {
  return instance.ttlSeconds ?? config.instanceTtlSeconds;
}

/** Creates the service if it does not exist; `seed` marks it as one that always exists. True when it was created. */
export function ensureService(state: RegistryState, name: string, seed: boolean, now: number, writes: RegistryWrite[]): boolean {
  const existing = state.services.get(name);
  if (existing) {
    if (seed && !existing.seed) {
      existing.seed = true;
      writes.push({ kind: "service", service: existing });
    }
    return false;
  }
  const service = newServiceRecord(name, seed, now);
  state.services.set(name, service);
  writes.push({ kind: "service", service });
  return true;
}

/** Its service must exist already (ensureService). */
export function addInstance(state: RegistryState, fields: NewInstance, now: number, writes: RegistryWrite[]): InstanceRecord {
  const instance = newInstanceRecord(fields, state.nextSeq++, now);
  indexInstance(state, instance);
  writes.push({ kind: "instance", instance });
  return instance;
}

/** Removes an instance (and its leases, in storage); a dynamic service goes with its last instance. */
export function removeInstance(state: RegistryState, id: string, writes: RegistryWrite[]): void {
  const instance = state.instances.get(id);
  if (!instance) return;
  unindexInstance(state, instance);
  instanceRemoved(state, instance);
  writes.push({ kind: "instance-removed", id });
  const service = state.services.get(instance.service);
  // A service with releases stays too: its release history is an operator's record (and the API's to show).
  if (service && !hasOperatorSettings(service) && !state.releases.has(service.name) && instancesOf(state, service.name).length === 0) {
    state.services.delete(service.name);
    writes.push({ kind: "service-removed", name: service.name });
  }
}

/** Anything an operator set (or the seed list) keeps a service alive without instances. */
function hasOperatorSettings(service: ServiceRecord): boolean {
  return (
    service.seed ||
    service.strategy !== null ||
    service.timeoutMs !== null ||
    service.adminState === "stopped" ||
    Object.keys(service.healthSettings).length > 0 ||
    service.lifecycleHook !== null ||
    service.autoscalePolicy !== null ||
    !service.websockets ||
    service.affinity !== null
  );
}
