/**
 * The response bodies of the orchestrator's own endpoints, as valibot
 * schemas: what the OpenAPI document (http/openapi.ts) publishes, converted
 * to JSON Schema. Nothing parses responses with them at run time. Where a
 * body has a TypeScript type (the objects' contracts, the metrics view),
 * `documents<T>()` binds the schema to it, so the two cannot drift apart
 * without a compile error. Objects are open (a client must ignore members it
 * does not know); the workers-pool test closes them to catch undocumented
 * members in real responses.
 */
import * as v from "valibot";
import { ENVIRONMENTS } from "../config";
import type { AlertsView, DashboardState, LoopStatus } from "../contracts/metrics";
import { ProblemType } from "../contracts/problem";
import type { AffinitySetting, AuditEntry, AutoscaleView, InstanceHealthEvent, InstanceView, RegistrySnapshot, ServiceView, Target } from "../contracts/registry";
import type { AutoscalePolicy, Decision } from "../core/autoscale";
import { METRIC_NAMES } from "../core/autoscale";
import { STRATEGIES } from "../core/balancer/types";
import { ROLES } from "../core/credentials";
import type { MetricsView } from "../core/metrics/view";

// ------------------------------------------------------------------ binding a schema to its type

type DeepWritable<T> = T extends readonly (infer U)[] ? DeepWritable<U>[] : T extends object ? { -readonly [K in keyof T]: DeepWritable<T[K]> } : T;

/** True when the schema accepts every value of T and everything it accepts is a T (readonly aside). */
type Agrees<S extends v.GenericSchema, T> = [DeepWritable<T>] extends [v.InferOutput<S>] ? ([v.InferOutput<S>] extends [T] ? true : false) : false;

/** Binds a schema to the TypeScript type it documents: a compile error when either has a member the other lacks or types differently. */
const documents =
  <T>() =>
  <S extends v.GenericSchema>(schema: S, ..._agrees: Agrees<S, T> extends true ? [] : ["the schema does not match the type it documents"]): S =>
    schema;

// ------------------------------------------------------------------ building blocks

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Integer = v.pipe(v.number(), v.integer());
const Time = v.pipe(v.string(), v.isoTimestamp(), v.description("ISO 8601 time (UTC)"));
const EpochMs = v.pipe(v.number(), v.description("milliseconds since the Unix epoch"));
const Role = v.picklist(ROLES);
const Strategy = v.picklist(STRATEGIES);
const HealthStatus = v.picklist(["healthy", "degraded", "unhealthy"]);
const ServiceStatus = v.picklist(["healthy", "degraded", "unhealthy", "stopped", "no-instances"]);
const CheckStatus = v.picklist(["passing", "critical"]);
const ProbeResult = v.picklist(["pass", "fail", "timeout"]);
const StringMap = v.record(v.string(), v.string());
const NumberMap = v.record(v.string(), v.number());

// ------------------------------------------------------------------ problems (RFC 9457)

export const FieldErrorSchema = v.object({
  field: v.pipe(v.string(), v.description('Dot path of the offending field in the body or query, e.g. "metadata.region"; "(body)" for the body as a whole.')),
  message: v.string(),
});

export const ProblemSchema = v.pipe(
  v.object({
    type: v.pipe(v.picklist(Object.values(ProblemType)), v.description("Stable URN of the problem type; never changes once published.")),
    title: v.string(),
    status: v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599)),
    detail: v.optional(v.string()),
    instance: v.optional(v.pipe(v.string(), v.description("On 502/504: the id of the instance that failed."))),
    field: v.optional(v.pipe(v.string(), v.description("The first offending field, header or setting."))),
    errors: v.optional(v.pipe(v.array(FieldErrorSchema), v.description("Every invalid field (validation problems)."))),
    existingId: v.optional(v.pipe(v.string(), v.description("409 on registration: the id already registered with this URL or binding."))),
    maxBytes: v.optional(v.pipe(Count, v.description("413: the body limit."))),
    allowed: v.optional(v.pipe(v.array(v.string()), v.description("405: the methods the path allows (also in Allow)."))),
    service: v.optional(v.pipe(v.string(), v.description("The service a proxy or scope problem is about."))),
    timeoutMs: v.optional(v.pipe(Count, v.description("504: the time allowed for response headers."))),
    policy: v.optional(v.pipe(v.string(), v.description('429: the rate-limit policy used up: a class name, "<class>-<service>", or "auth-failures".'))),
    retryAfterSeconds: v.optional(v.pipe(Count, v.description("503: seconds to wait (also in Retry-After)."))),
    requestId: v.optional(v.pipe(v.string(), v.description("500: the request id the error was logged under."))),
    requiredRole: v.optional(v.pipe(Role, v.description("403: the role the endpoint needs."))),
    role: v.optional(v.pipe(v.nullable(Role), v.description("403: the role of the credential used (null: a registration token)."))),
  }),
  v.description("RFC 9457 problem details, with the orchestrator's extension members."),
);

// ------------------------------------------------------------------ registry and services

export const TargetSchema = documents<Target>()(
  v.variant("kind", [v.object({ kind: v.literal("url"), url: v.pipe(v.string(), v.url()) }), v.object({ kind: v.literal("binding"), binding: v.string() })]),
);

export const AffinitySchema = documents<AffinitySetting>()(
  v.pipe(
    v.variant("source", [v.object({ source: v.picklist(["header", "cookie"]), name: v.string() }), v.object({ source: v.literal("ip") })]),
    v.description("Where the consistent-hash affinity key comes from: a header (name lower-cased), a cookie (name as set), or the client's IP."),
  ),
);

export const AutoscalePolicySchema = documents<AutoscalePolicy>()(
  v.object({
    minInstances: Count,
    maxInstances: Count,
    targets: v.object({
      cpuPercent: v.optional(v.number()),
      inflightPerInstance: v.optional(v.number()),
      p95Ms: v.optional(v.number()),
      errorRatePercent: v.optional(v.number()),
    }),
    evaluationPeriodMs: v.optional(v.number()),
    mode: v.picklist(["enforce", "dry-run"]),
    tolerance: v.optional(v.number()),
    scaleUp: v.optional(v.object({ stabilizationMs: v.optional(v.number()), maxPercentPer15s: v.optional(v.number()), maxInstancesPer15s: v.optional(v.number()) })),
    scaleDown: v.optional(v.object({ stabilizationMs: v.optional(v.number()), maxPercentPer15s: v.optional(v.number()) })),
  }),
);

export const InstanceSchema = documents<InstanceView>()(
  v.object({
    id: v.string(),
    service: v.string(),
    target: TargetSchema,
    weight: v.number(),
    static: v.boolean(),
    adminState: v.picklist(["active", "stopped", "standby"]),
    pool: v.boolean(),
    checkStatus: CheckStatus,
    health: HealthStatus,
    registeredAt: Time,
    lastHeartbeatAt: v.nullable(Time),
    ttlSeconds: v.nullable(Count),
    criticalSince: v.nullable(Time),
    inflight: v.pipe(Count, v.description("In flight to it, open WebSocket connections included.")),
    websockets: v.pipe(Count, v.description("Open WebSocket connections to it.")),
    reportedInflight: v.nullable(Count),
    cpu: v.nullable(v.number()),
    responseTimeMs: v.nullable(v.number()),
    errorRate: v.number(),
    metadata: StringMap,
    activeCheck: v.object({
      status: HealthStatus,
      lastCheckAt: v.nullable(Time),
      lastResult: v.nullable(ProbeResult),
      lastLatencyMs: v.nullable(v.number()),
      lastError: v.nullable(v.string()),
      consecutiveFailures: Count,
      consecutiveSuccesses: Count,
    }),
    ejectedUntil: v.nullable(Time),
    ejectionCount: Count,
    effectiveWeight: v.number(),
  }),
);

export const ServiceViewSchema = documents<ServiceView>()(
  v.object({
    name: v.string(),
    seed: v.boolean(),
    strategy: Strategy,
    strategyIsDefault: v.boolean(),
    timeoutMs: Count,
    websockets: v.pipe(v.boolean(), v.description("Whether WebSocket upgrades are proxied to the service (otherwise 403).")),
    affinity: v.nullable(AffinitySchema),
    adminState: v.picklist(["active", "stopped"]),
    status: ServiceStatus,
    panic: v.boolean(),
    healthCheck: v.object({ intervalMs: Count, timeoutMs: Count, retries: Count, path: v.string() }),
    lifecycleHook: v.nullable(TargetSchema),
    autoscale: v.nullable(AutoscalePolicySchema),
    inflight: Count,
    instances: v.array(InstanceSchema),
  }),
);

export const RegistrySnapshotSchema = documents<RegistrySnapshot>()(v.object({ generatedAt: Time, services: v.array(ServiceViewSchema) }));

export const RegisteredSchema = v.object({ id: v.string(), service: v.string(), ttlSeconds: Count });
export const HeartbeatAckSchema = v.object({ id: v.string(), checkStatus: CheckStatus, ttlSeconds: Count });
export const DeregisteredSchema = v.object({ id: v.string(), deregistered: v.literal(true) });

// ------------------------------------------------------------------ health

export const HealthSchema = v.object({
  status: v.literal("healthy"),
  version: v.string(),
  environment: v.picklist(ENVIRONMENTS),
  timestamp: Time,
  uptime: v.pipe(Count, v.description("ms since this isolate's first request")),
});

export const WorkerHealthSchema = v.object({
  status: ServiceStatus,
  responseTime: v.nullable(v.number()),
  healthyInstances: Count,
  totalInstances: Count,
  panic: v.boolean(),
  strategy: Strategy,
  instances: v.array(
    v.object({
      id: v.string(),
      status: v.picklist(["healthy", "degraded", "unhealthy", "stopped"]),
      responseTime: v.nullable(v.number()),
      lastCheckAt: v.nullable(Time),
      lastResult: v.nullable(ProbeResult),
      lastError: v.nullable(v.string()),
      consecutiveFailures: Count,
      ejectedUntil: v.nullable(Time),
      heartbeat: v.nullable(CheckStatus),
      inflight: Count,
      effectiveWeight: v.number(),
    }),
  ),
});

export const WorkersHealthSchema = v.object({ status: HealthStatus, timestamp: Time, workers: v.record(v.string(), WorkerHealthSchema) });

// ------------------------------------------------------------------ metrics

const statsEntries = {
  totalRequests: Count,
  errorRate: v.number(),
  avgResponseTime: v.nullable(v.number()),
  p50: v.nullable(v.number()),
  p90: v.nullable(v.number()),
  p95: v.nullable(v.number()),
  p99: v.nullable(v.number()),
  throughput: v.object({ m1: v.number(), m5: v.number(), m15: v.number() }),
  errors: v.object({ "4xx": Count, "5xx": Count, gateway: Count, timeout: Count, connect: Count }),
  bytes: Count,
  recent: v.object({
    minutes: Count,
    requests: v.number(),
    errorRate: v.number(),
    p50: v.nullable(v.number()),
    p95: v.nullable(v.number()),
    p99: v.nullable(v.number()),
  }),
};

const SocketDuration = v.pipe(v.nullable(v.number()), v.description("How long closed WebSocket connections lasted, in ms; null when none has closed."));
const websocketEntries = {
  opened: v.pipe(Count, v.description("WebSocket connections opened (lifetime).")),
  closed: v.pipe(Count, v.description("WebSocket connections closed (lifetime).")),
  closedBy: v.pipe(
    v.object({ normal: Count, error: Count, abnormal: Count, other: Count }),
    v.description("closed by how they ended: normal 1000/1001/1005, error 1011–1014, abnormal 1006/1015 or no close code, other any other code."),
  ),
  avgDurationMs: SocketDuration,
  p50DurationMs: SocketDuration,
  p95DurationMs: SocketDuration,
};
const OpenSockets = v.pipe(Count, v.description("Open now, as the registry counts them (bound to each isolate's lease)."));
const WebSocketsSchema = v.object({ open: OpenSockets, ...websocketEntries });

export const InstanceMetricsSchema = v.object({
  ...statsEntries,
  health: v.nullable(HealthStatus),
  inflight: v.nullable(Count),
  websockets: v.object({ open: v.nullable(OpenSockets), ...websocketEntries }),
  lastSeen: v.nullable(Time),
});
export const ServiceMetricsSchema = v.object({
  ...statsEntries,
  status: v.nullable(ServiceStatus),
  inflight: Count,
  websockets: WebSocketsSchema,
  instances: v.record(v.string(), InstanceMetricsSchema),
});

export const MetricsViewSchema = documents<MetricsView>()(
  v.object({
    timestamp: Time,
    global: v.object({ ...statsEntries, inflight: Count, websockets: WebSocketsSchema }),
    workers: v.record(v.string(), ServiceMetricsSchema),
  }),
);

// ------------------------------------------------------------------ admin

export const AutoscalePolicySetSchema = v.object({ service: v.string(), policy: AutoscalePolicySchema });
export const AutoscalePolicyRemovedSchema = v.object({ service: v.string(), policy: v.null() });

const MaybeNumber = v.optional(v.nullable(v.number()));

export const DecisionSchema = documents<Decision>()(
  v.object({
    at: EpochMs,
    current: Count,
    observed: v.object({ cpuPercent: MaybeNumber, inflightPerInstance: MaybeNumber, p95Ms: MaybeNumber, errorRatePercent: MaybeNumber }),
    targets: v.object({
      cpuPercent: v.optional(v.number()),
      inflightPerInstance: v.optional(v.number()),
      p95Ms: v.optional(v.number()),
      errorRatePercent: v.optional(v.number()),
    }),
    perMetric: v.array(
      v.object({
        metric: v.picklist(METRIC_NAMES),
        observed: v.nullable(v.number()),
        target: v.number(),
        desired: v.nullable(v.number()),
        withinTolerance: v.boolean(),
        skipped: v.optional(v.picklist(["missing", "invalid"])),
      }),
    ),
    rawDesired: Count,
    stabilized: Count,
    rateLimited: Count,
    desired: Count,
    limitedBy: v.array(v.picklist(["tolerance", "stabilization-up", "stabilization-down", "rate-up-percent", "rate-up-count", "rate-down-percent", "min", "max", "missing-metrics"])),
    action: v.picklist(["scale-up", "scale-down", "none"]),
    mode: v.picklist(["enforce", "dry-run"]),
    atMaxStillOverTarget: v.boolean(),
  }),
);

export const AutoscaleViewSchema = documents<AutoscaleView>()(
  v.object({
    service: v.string(),
    policy: v.nullable(AutoscalePolicySchema),
    current: Count,
    standby: Count,
    log: v.object({
      entries: v.array(v.object({ decision: DecisionSchema, reason: v.picklist(["scaled", "changed", "heartbeat"]), unloggedBefore: Count })),
      unlogged: Count,
      lastKey: v.nullable(v.string()),
    }),
  }),
);

export const AutoscalingListSchema = v.object({ services: v.array(AutoscaleViewSchema) });

export const LifecycleResultSchema = v.object({
  action: v.picklist(["stop", "start", "restart"]),
  service: v.string(),
  instance: v.nullable(v.string()),
  adminState: v.picklist(["active", "stopped", "standby"]),
  inflight: v.pipe(Count, v.description("In flight to what the action concerns, open WebSocket connections included.")),
  websockets: v.pipe(Count, v.description("Of those, open WebSocket connections.")),
  changed: v.boolean(),
  drained: v.optional(v.pipe(v.boolean(), v.description("stop and restart: false when DRAIN_TIMEOUT_MS passed with requests still in flight (or connections still open a few seconds after it)."))),
  websocketsClosed: v.optional(
    v.pipe(Count, v.description("stop and restart: WebSocket connections closed with 1001 by the drain (they were open to what was stopped; their clients reconnect elsewhere).")),
  ),
  hook: v.optional(
    v.pipe(
      v.nullable(v.object({ called: v.boolean(), ok: v.boolean(), status: v.optional(Integer), error: v.optional(v.string()) })),
      v.description("restart only: the lifecycle hook's call, or null when the service has none."),
    ),
  ),
});

export const AuditEntrySchema = documents<AuditEntry>()(
  v.object({
    seq: Count,
    at: Time,
    action: v.string(),
    target: v.string(),
    result: v.picklist(["ok", "error"]),
    status: Integer,
    actor: v.string(),
    role: v.nullable(Role),
    requestId: v.nullable(v.string()),
    detail: v.nullable(v.string()),
  }),
);

export const AuditPageSchema = v.object({
  entries: v.array(AuditEntrySchema),
  nextBefore: v.pipe(v.nullable(Count), v.description("Pass as `before` for the next (older) page; null on the last page.")),
});

// ------------------------------------------------------------------ alerts and silences

const AnnotationsSchema = v.object({ summary: v.string(), description: v.string() });
const AlertState = v.picklist(["firing", "resolved"]);

export const AlertsViewSchema = documents<AlertsView>()(
  v.object({
    active: v.array(
      v.object({
        alert: v.object({ fingerprint: v.string(), groupKey: v.string(), labels: StringMap, annotations: AnnotationsSchema, startsAt: EpochMs, endsAt: v.nullable(EpochMs) }),
        state: v.picklist(["active", "suppressed", "resolved"]),
        silencedBy: v.array(v.string()),
        inhibited: v.boolean(),
      }),
    ),
    history: v.object({
      entries: v.array(
        v.object({
          groupKey: v.string(),
          groupLabels: StringMap,
          status: AlertState,
          alerts: v.array(v.object({ fingerprint: v.string(), status: AlertState, labels: StringMap, annotations: AnnotationsSchema, startsAt: EpochMs, endsAt: v.nullable(EpochMs) })),
          counts: v.object({ firing: Count, resolved: Count }),
          truncated: v.optional(Count),
          at: EpochMs,
        }),
      ),
      dropped: Count,
    }),
    outbox: v.object({ pending: Count, delivered: Count, deadLettered: Count, dropped: Count }),
  }),
);

export const SilenceSchema = v.object({
  id: v.string(),
  matchers: v.array(v.object({ name: v.string(), value: v.string(), isRegex: v.optional(v.boolean()), isEqual: v.optional(v.boolean()) })),
  startsAt: Time,
  endsAt: Time,
  createdBy: v.pipe(v.string(), v.description("As sent (default admin), followed by the acting key's fingerprint.")),
  comment: v.string(),
  state: v.picklist(["pending", "active", "expired"]),
});

export const SilenceListSchema = v.object({ silences: v.array(SilenceSchema) });
export const SilenceExpiredSchema = v.object({ id: v.string(), expired: v.literal(true) });

// ------------------------------------------------------------------ dashboard

const eventBase = { instanceId: v.string(), service: v.string(), at: EpochMs };

export const InstanceHealthEventSchema = documents<InstanceHealthEvent>()(
  v.variant("type", [
    v.object({ ...eventBase, type: v.literal("status-changed"), from: HealthStatus, to: HealthStatus }),
    v.object({ ...eventBase, type: v.literal("failure-threshold"), consecutiveFailures: Count, error: v.string() }),
    v.object({ ...eventBase, type: v.literal("recovered") }),
    v.object({ ...eventBase, type: v.literal("readmitted") }),
  ]),
);

const VantagePointStatsSchema = v.object({
  name: v.string(),
  answered: Count,
  missing: Count,
  discounted: v.pipe(Count, v.description("Rounds where every probe it made failed while another vantage point got through: its votes did not count.")),
  probes: Count,
  failed: Count,
});

const CompletedSweepSchema = v.pipe(
  v.object({
    at: EpochMs,
    probed: Count,
    rounds: Count,
    decided: Count,
    registryCalls: v.pipe(Count, v.description("RegistryDO calls the sweep cost: one healthTargets, plus one applyProbeResults per round decided.")),
    durationMs: v.number(),
    vantagePoints: v.array(VantagePointStatsSchema),
  }),
  v.description("The last sweep whose rounds have all been decided, summed over its shards and vantage points."),
);

export const LoopStatusSchema = documents<LoopStatus>()(
  v.object({
    lastSweepAt: v.nullable(EpochMs),
    lastSweepProbed: Count,
    lastSweepDurationMs: v.nullable(v.number()),
    lastSweepShards: v.pipe(Count, v.description("Probers per vantage point the fleet was sized to at the last sweep.")),
    lastSweepRounds: Count,
    vantagePoints: v.array(v.string()),
    probesInFlight: Count,
    lastCompletedSweep: v.nullable(CompletedSweepSchema),
    consecutiveSweepFailures: Count,
    consecutiveAlertFailures: Count,
    recentEvents: v.array(InstanceHealthEventSchema),
  }),
);

export const DashboardStateSchema = documents<DashboardState>()(
  v.pipe(
    v.object({
      type: v.literal("snapshot"),
      generatedAt: Time,
      environment: v.string(),
      services: v.array(ServiceViewSchema),
      metrics: MetricsViewSchema,
      alerts: AlertsViewSchema,
      autoscaling: v.array(AutoscaleViewSchema),
      loop: LoopStatusSchema,
    }),
    v.description("Everything the dashboard shows; also each message on the live WebSocket."),
  ),
);

// ------------------------------------------------------------------ debug (DEV_MODE)

const Redacted = v.nullable(v.literal("[redacted]"));

export const DebugConfigSchema = v.pipe(
  v.objectWithRest(
    {
      environment: v.picklist(ENVIRONMENTS),
      devMode: v.literal(true),
      apiKey: Redacted,
      registrationToken: Redacted,
      lifecycleHookSecret: Redacted,
      scaleWebhookUrl: Redacted,
    },
    v.unknown(),
  ),
  v.description("The parsed configuration (its shape follows src/config.ts), with keys, secrets and webhook URLs redacted."),
);

export const DebugRegistrySchema = v.object({
  generatedAt: Time,
  services: v.array(ServiceViewSchema),
  inflight: v.pipe(NumberMap, v.description("In flight per instance id, as the registry counts them.")),
});

export const DebugDoCallsSchema = v.object({
  proxiedRequests: Count,
  calls: NumberMap,
  perProxiedRequest: NumberMap,
  note: v.string(),
});
