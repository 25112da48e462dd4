/**
 * What the registry remembers about each service and each instance. RegistryDO
 * holds every record in memory and writes each change through to SQLite
 * (durable-objects/registry/store.ts maps rows to these records); fields marked
 * "memory only" start afresh when the object restarts.
 *
 * Target, InstanceAdminState and ServiceHealthSettings are part of the RPC
 * contract too (src/contracts/registry.ts re-exports them): they are defined
 * here because core, which decides, may not import the contract.
 */
import { type AutoscalePolicy, type AutoscaleState, type DecisionLog, EMPTY_DECISION_LOG, INITIAL_AUTOSCALE_STATE } from "../autoscale";
import type { AffinitySetting } from "../balancer/affinity";
import { type BalancerState, initialBalancerState, type Strategy } from "../balancer/types";
import { type ActiveCheckState, initialActiveState, initialOutlierState, type OutlierState } from "../health";
import type { CheckStatus } from "../instance-health";

export type Target = { readonly kind: "url"; readonly url: string } | { readonly kind: "binding"; readonly binding: string };

/** An instance's place in rotation: taking traffic, stopped by an operator, or waiting in the standby pool. */
export type InstanceAdminState = "active" | "stopped" | "standby";

/** Per-service overrides of the active health check (env settings are the defaults). */
export interface ServiceHealthSettings {
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly retries?: number;
  readonly path?: string;
}

export interface ServiceRecord {
  name: string;
  strategy: Strategy | null;
  timeoutMs: number | null;
  /** Whether WebSocket upgrades are proxied to it (default true). */
  websockets: boolean;
  /** Consistent-hash affinity for requests that carry the key, or null (default). */
  affinity: AffinitySetting | null;
  adminState: "active" | "stopped";
  balancer: BalancerState;
  seed: boolean;
  createdAt: number;
  healthSettings: ServiceHealthSettings;
  lifecycleHook: Target | null;
  autoscalePolicy: AutoscalePolicy | null;
  autoscaleState: AutoscaleState;
  autoscaleLog: DecisionLog;
  /** Leases handed out as retries and not yet released, for the retry budget (rebuilt from the leases on restart). */
  activeRetries: number;
}

export interface InstanceRecord {
  id: string;
  seq: number;
  service: string;
  target: Target;
  weight: number;
  adminState: InstanceAdminState;
  /** Registered as standby: the autoscaler's pool. */
  pool: boolean;
  checkStatus: CheckStatus;
  isStatic: boolean;
  ttlSeconds: number | null;
  registeredAt: number;
  lastHeartbeat: number | null;
  criticalSince: number | null;
  metadata: Record<string, string>;
  /** The version it declared at registration (or in configuration), or null: it changes only by registering again. */
  version: string | null;
  reportedInflight: number | null;
  reportedCpu: number | null;
  // Traffic-derived, memory only: a restart starts from a clean slate, which
  // only affects health-aware ranking until a few requests have gone through.
  latencyEwmaMs: number | null;
  errorEwma: number;
  /** Requests in flight through leases (the exact path); rebuilt from the leases on restart. */
  inflight: number;
  /** How many of those leases were handed out as retries: removing the instance gives them back to the service's retry budget. */
  retryInflight: number;
  /** Requests in flight as reported by edge isolates routing from a snapshot (sum over isolates). Memory only. */
  edgeInflight: number;
  /** Of edgeInflight, how many are open WebSocket connections (sum over isolates). Memory only. */
  edgeSockets: number;
  active: ActiveCheckState;
  outlier: OutlierState;
  /** When it (re-)entered rotation, for slow start; null once fully warmed up or never ramped. */
  inRotationSince: number | null;
}

export function newServiceRecord(name: string, seed: boolean, now: number): ServiceRecord {
  return {
    name,
    strategy: null,
    timeoutMs: null,
    websockets: true,
    affinity: null,
    adminState: "active",
    balancer: initialBalancerState,
    seed,
    createdAt: now,
    healthSettings: {},
    lifecycleHook: null,
    autoscalePolicy: null,
    autoscaleState: INITIAL_AUTOSCALE_STATE,
    autoscaleLog: EMPTY_DECISION_LOG,
    activeRetries: 0,
  };
}

export interface NewInstance {
  readonly id: string;
  readonly service: string;
  readonly target: Target;
  readonly weight: number;
  readonly isStatic: boolean;
  readonly ttlSeconds: number | null;
  readonly lastHeartbeat: number | null;
  readonly metadata: Record<string, string>;
  readonly version?: string | null;
  /** Joins the standby pool instead of rotation. */
  readonly standby?: boolean;
}

/**
 * What an instance record holds in memory only, as a new or reloaded record
 * starts it: traffic-derived scores and in-flight counts. A restart starts
 * them afresh (leases then rebuild `inflight`; isolates report again).
 */
export function memoryOnlyTrafficState(): Pick<InstanceRecord, "latencyEwmaMs" | "errorEwma" | "inflight" | "retryInflight" | "edgeInflight" | "edgeSockets"> {
  return { latencyEwmaMs: null, errorEwma: 0, inflight: 0, retryInflight: 0, edgeInflight: 0, edgeSockets: 0 };
}

/** A new instance enters rotation at once (slow start from now), unless it joins the standby pool. */
export function newInstanceRecord(fields: NewInstance, seq: number, now: number): InstanceRecord {
  return {
    id: fields.id,
    seq,
    service: fields.service,
    target: fields.target,
    weight: fields.weight,
    adminState: fields.standby ? "standby" : "active",
    pool: fields.standby ?? false,
    checkStatus: "passing",
    isStatic: fields.isStatic,
    ttlSeconds: fields.ttlSeconds,
    registeredAt: now,
    lastHeartbeat: fields.lastHeartbeat,
    criticalSince: null,
    metadata: fields.metadata,
    version: fields.version ?? null,
    reportedInflight: null,
    reportedCpu: null,
    ...memoryOnlyTrafficState(),
    active: initialActiveState(),
    outlier: initialOutlierState,
    inRotationSince: now,
  };
}

/** The URL or binding name: with the kind, what makes two registrations the same instance. */
export function targetValue(target: Target): string {
  return target.kind === "url" ? target.url : target.binding;
}

export function sameTarget(a: Target, b: Target): boolean {
  return a.kind === b.kind && targetValue(a) === targetValue(b);
}
