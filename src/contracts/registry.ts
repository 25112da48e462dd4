/**
 * The typed RPC contract between the edge Worker and RegistryDO: what goes in,
 * what comes out. Failures come back as values (see problem.ts `Failure`).
 */
import type { AffinitySetting } from "../core/balancer/affinity";
import type { Strategy, HealthStatus } from "../core/balancer/types";
import type { UpstreamErrorClass } from "../core/upstream-errors";
import type { Role } from "../core/credentials";
import type { CheckStatus, ServiceStatus } from "../core/instance-health";
import type { Failure } from "./problem";
import type { AutoscalePolicy, Decision, DecisionLog } from "../core/autoscale";
import type { InstanceAdminState, ServiceHealthSettings, Target } from "../core/registry/records";
import type { SideNumbers, ThresholdCheck, Verdict } from "../core/release/analysis";
import type { ReleaseState, Transition } from "../core/release/release";
import type { ReleaseSpec } from "../core/release/spec";

// The registry's decisions (src/core/registry) read these inputs and records, and core may not
// import this file: they are defined there and belong to this contract all the same.
export type { InstanceAdminState, ServiceHealthSettings, Target } from "../core/registry/records";
export type {
  AcquireOptions,
  EdgeOutcome,
  EdgeReport,
  HeartbeatInput,
  ProbeReport,
  RegisterInput,
  ReleaseOutcome,
  ServiceSettingsInput,
} from "../core/registry/inputs";
export type { InstanceHealthEvent } from "../core/registry/active-checks";
export type { AnalysisSpec, ReleaseSpec, ReleaseSpecInput } from "../core/release/spec";
export type { OperatorAction as ReleaseAction } from "../core/release/controller";
export type { ReleaseFact } from "../core/alerts/release-rules";

export interface Registered {
  readonly ok: true;
  readonly id: string;
  readonly ttlSeconds: number;
  readonly service: string;
}

export interface HeartbeatAck {
  readonly ok: true;
  readonly id: string;
  readonly checkStatus: CheckStatus;
  readonly ttlSeconds: number;
}

export interface HealthTarget {
  readonly id: string;
  readonly service: string;
  readonly target: Target;
  readonly lastCheckAt: number | null;
  readonly path: string;
  readonly timeoutMs: number;
  /** Until its next check, chosen by its state (the unhealthy and edge intervals; core/health/check-interval.ts). */
  readonly intervalMs: number;
  /** It asked for a probe before its interval is up (re-registered, or heartbeating while unhealthy). */
  readonly probeNow: boolean;
}

export interface InstanceView {
  readonly id: string;
  readonly service: string;
  readonly target: Target;
  readonly weight: number;
  readonly static: boolean;
  readonly adminState: InstanceAdminState;
  /** Registered as standby: a member of the pool the autoscaler moves in and out of rotation. */
  readonly pool: boolean;
  readonly checkStatus: CheckStatus;
  readonly health: HealthStatus;
  readonly registeredAt: string;
  readonly lastHeartbeatAt: string | null;
  readonly ttlSeconds: number | null;
  readonly criticalSince: string | null;
  readonly inflight: number;
  /** Of those, open WebSocket connections. */
  readonly websockets: number;
  readonly reportedInflight: number | null;
  readonly cpu: number | null;
  readonly responseTimeMs: number | null;
  readonly errorRate: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** The version it declared at registration (or in configuration), or null. */
  readonly version: string | null;
  readonly activeCheck: {
    readonly status: HealthStatus;
    readonly lastCheckAt: string | null;
    readonly lastResult: "pass" | "fail" | "timeout" | null;
    readonly lastLatencyMs: number | null;
    /** Starts with its class ("dns: …", "refused: …"), lastErrorClass. */
    readonly lastError: string | null;
    readonly lastErrorClass: UpstreamErrorClass | null;
    readonly consecutiveFailures: number;
    readonly consecutiveSuccesses: number;
  };
  /** Set while passive outlier detection keeps it out of rotation. */
  readonly ejectedUntil: string | null;
  readonly ejectionCount: number;
  /** Weight after slow start; equals weight once warmed up. */
  readonly effectiveWeight: number;
}

export interface ServiceView {
  readonly name: string;
  readonly seed: boolean;
  readonly strategy: Strategy;
  readonly strategyIsDefault: boolean;
  readonly timeoutMs: number;
  /** Whether WebSocket upgrades are proxied to it (otherwise the edge answers 403). */
  readonly websockets: boolean;
  /** Where the consistent-hash affinity key comes from, or null: the strategy alone picks. */
  readonly affinity: AffinitySetting | null;
  readonly adminState: "active" | "stopped";
  readonly status: ServiceStatus;
  /** True when no instance is available and traffic is spread over all of them (Envoy's panic mode). */
  readonly panic: boolean;
  readonly healthCheck: Required<ServiceHealthSettings>;
  readonly lifecycleHook: Target | null;
  readonly autoscale: AutoscalePolicy | null;
  readonly inflight: number;
  readonly instances: readonly InstanceView[];
}

export interface RegistrySnapshot {
  readonly generatedAt: string;
  readonly services: readonly ServiceView[];
}

export interface Lease {
  readonly ok: true;
  readonly leaseId: number;
  readonly instanceId: string;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly panic: boolean;
}

export type RegisterResult = Registered | Failure;
export type HeartbeatResult = HeartbeatAck | Failure;
export type AcquireResult = Lease | Failure;
export type ServiceResult = ({ readonly ok: true; readonly created: boolean } & { readonly service: ServiceView }) | Failure;
export type DeregisterResult = { readonly ok: true; readonly id: string } | Failure;

export type LifecycleAction = "stop" | "start" | "restart";

/** Where a service's lifecycle hook lives: it receives POST /__lifecycle/restart. */
export type LifecycleHook = Target;

export interface LifecycleState {
  readonly ok: true;
  readonly service: string;
  readonly instance: string | null;
  readonly adminState: InstanceAdminState;
  /** Requests still in flight to what was stopped (open WebSocket connections included). */
  readonly inflight: number;
  /** Of those, open WebSocket connections. */
  readonly websockets: number;
  /** False when the action changed nothing (e.g. stopping a stopped service). */
  readonly changed: boolean;
}

export type LifecycleResult = LifecycleState | Failure;

export interface AuditEntry {
  readonly seq: number;
  readonly at: string;
  readonly action: string;
  readonly target: string;
  readonly result: "ok" | "error";
  readonly status: number;
  /** A fingerprint of the key that acted (never the key): `key:<12 hex>`, or `dashboard:key:<12 hex>` for a dashboard session signed in with it. */
  readonly actor: string;
  /** That key's role; null for entries written before roles existed. */
  readonly role: Role | null;
  readonly requestId: string | null;
  readonly detail: string | null;
}

export interface AuditInput {
  readonly action: string;
  readonly target: string;
  readonly status: number;
  readonly actor: string;
  readonly role: Role | null;
  /** Null for what no request caused (the release controller's transitions). */
  readonly requestId: string | null;
  readonly detail?: string;
}

export interface RoutingInstance {
  readonly id: string;
  readonly target: Target;
  /** Weight after slow start, scaled to an integer. */
  readonly weight: number;
  readonly health: HealthStatus;
  readonly score: number;
  /** In flight to it as the registry knows it: exact leases plus every isolate's last report. */
  readonly inflight: number;
  /** The version it declared at registration (or in configuration), or null. */
  readonly version: string | null;
}

/**
 * A release in progress as the edge routes it (issue #20): `weightPercent` of
 * the service's requests go to the instances of `version` (the canary), the
 * rest to the others (the stable side). A client keeps its side through
 * `stickiness` (a hash of its key decides), a request may pin a version with
 * the `pinHeader` header, and `mirrorPercent` of idempotent requests served by
 * the stable side are also copied to the canary, its answers thrown away.
 * Promoted: weight 100; rolled back or aborted: weight 0 (until a new release
 * or an operator clears it). A dry-run release is not routed (null).
 */
export interface RouteRelease {
  readonly id: string;
  readonly version: string;
  readonly weightPercent: number;
  readonly stickiness: AffinitySetting | null;
  readonly pinHeader: string | null;
  readonly mirrorPercent: number;
}

/**
 * Where a client's affinity key comes from: a request header, a cookie, or the
 * client's IP (CF-Connecting-IP). Requests with the same key go to the same
 * instance while it stays eligible. Declared in core/balancer/affinity.ts,
 * which reads it (core may not import this contract).
 */
export type { AffinitySetting };

/** One service as the edge routes it. A stopped service has no instances: its requests get 503 service-stopped. */
export interface ServiceRoute {
  readonly service: string;
  readonly stopped: boolean;
  readonly strategy: Strategy;
  readonly timeoutMs: number;
  /** Whether WebSocket upgrades are proxied to it (otherwise they get 403 websocket-not-allowed). */
  readonly websockets: boolean;
  /** Consistent-hash affinity, or null: the strategy alone picks. */
  readonly affinity: AffinitySetting | null;
  /** The service's release, or null: no version split. */
  readonly release: RouteRelease | null;
  /** Instances in rotation (admin state active). */
  readonly instances: readonly RoutingInstance[];
  /**
   * Instances an operator stopped one by one, so a service with none in rotation can say
   * why. Optional: a table cached by an older version has no count (read it as 0).
   */
  readonly stoppedInstances?: number;
}

/**
 * Every service's routing at one moment: what an edge isolate routes from
 * (src/edge/edge-router.ts), shared between the isolates of a location
 * through the Cache API. `version` grows with every table the registry makes,
 * so an isolate never swaps a table for an older one.
 */
export interface FleetTable {
  readonly version: number;
  /** The registry's clock when it made the table. */
  readonly generatedAt: number;
  readonly panicThresholdPercent: number;
  readonly retryBudget: { readonly budgetPercent: number; readonly minRetryConcurrency: number };
  /** Sorted by name; a name not here is not a service. */
  readonly services: readonly ServiceRoute[];
}

/** One transition of a release (core/release/release.ts Transition), its time as an ISO string. */
export type ReleaseTransitionView = Omit<Transition, "at"> & { readonly at: string };

/** The canary analysis (core/release/analysis.ts), times as ISO strings. */
export interface ReleaseAnalysisView {
  readonly verdict: Verdict;
  readonly at: string;
  readonly windowStartedAt: string;
  readonly canary: SideNumbers;
  readonly stable: SideNumbers;
  readonly checks: readonly ThresholdCheck[];
  readonly reason: string;
}

/** A release as the admin API shows it (issue #20). */
export interface ReleaseView {
  readonly id: string;
  readonly service: string;
  /** The canary's version (also `spec.version`). */
  readonly version: string;
  readonly state: ReleaseState;
  readonly dryRun: boolean;
  readonly stepIndex: number;
  /** The canary's weight in this state (a dry run: the weight it would have). */
  readonly weightPercent: number;
  /** What the edge routes now, or null: a dry run, or a final release that no longer splits anything. */
  readonly routedWeightPercent: number | null;
  readonly spec: ReleaseSpec;
  /** When the current step's window began. */
  readonly stepStartedAt: string;
  /** Running: when the step is next judged. */
  readonly judgeAt: string | null;
  readonly inconclusiveIntervals: number;
  readonly pausedBy: "operator" | "controller" | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly endedAt: string | null;
  readonly createdBy: string;
  /** Running or paused: the current window judged now. Otherwise: the analysis behind its last automatic transition, if any. */
  readonly analysis: ReleaseAnalysisView | null;
  /** Oldest first. */
  readonly history: readonly ReleaseTransitionView[];
}

/**
 * A release as the dashboard shows it (RegistryDO.releaseSummaries): a
 * ReleaseView with only its newest transitions. Each service's newest release,
 * while it is running or paused and for an hour after it ended.
 */
export interface ReleaseSummary extends Omit<ReleaseView, "history"> {
  /** The newest few transitions, oldest first (GET the release for all of them). */
  readonly history: readonly ReleaseTransitionView[];
  /** How many transitions it has in all. */
  readonly transitions: number;
}

export type ReleaseResult = { readonly ok: true; readonly release: ReleaseView } | Failure;
export type ReleaseListResult = { readonly ok: true; readonly service: string; readonly releases: readonly ReleaseView[] } | Failure;

export interface AutoscaleView {
  readonly service: string;
  readonly policy: AutoscalePolicy | null;
  readonly current: number;
  readonly standby: number;
  readonly log: DecisionLog;
}

export type AutoscaleResult =
  | { readonly ok: true; readonly decision: Decision; readonly moved: readonly string[]; readonly shortBy: number }
  | { readonly ok: true; readonly decision: null }
  | Failure;
