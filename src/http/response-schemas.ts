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
import type { AffinitySetting, AuditEntry, AutoscaleView, InstanceHealthEvent, InstanceView, RegistrySnapshot, ReleaseSpec, ReleaseSummary, ReleaseView, ServiceView, Target } from "../contracts/registry";
import { RELEASE_STATES, TRANSITION_KINDS } from "../core/release/release";
import type { AutoscalePolicy, Decision } from "../core/autoscale";
import type { LiveDelta, LiveSnapshot } from "../core/dashboard/delta";
import type { LiveAlert, LiveError, LiveInstance, LiveRelease, LiveService, LiveView } from "../core/dashboard/live-view";
import { METRIC_NAMES } from "../core/autoscale";
import { STRATEGIES } from "../core/balancer/types";
import { ROLES } from "../core/credentials";
import type { MetricsView } from "../core/metrics/view";
import { UPSTREAM_ERROR_CLASSES } from "../core/upstream-errors";

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
const UpstreamErrorClassSchema = v.pipe(
  v.picklist(UPSTREAM_ERROR_CLASSES),
  v.description("Why an upstream gave no usable answer: dns (the host name did not resolve), refused (nothing accepted the connection), reset (closed before a complete response), tls (handshake or certificate), timeout, http (a failing status), other."),
);
const LastError = v.pipe(
  v.nullable(v.string()),
  v.description('The last failed check, one line starting with its class: "dns: lookup failed for api.internal", "refused: connection to 10.0.0.7:8080 refused", "timeout: no answer within 5000 ms", "http: HTTP 503". Null after a pass.'),
);
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
    cause: v.optional(
      v.pipe(
        v.picklist(["dns", "refused", "reset", "tls", "timeout", "other"]),
        v.description("502 upstream-unreachable and 504 upstream-timeout: why the instance gave no answer (dns, refused, reset, tls, other; timeout on 504)."),
      ),
    ),
    policy: v.optional(v.pipe(v.string(), v.description('429: the rate-limit policy used up: a class name, "<class>-<service>", or "auth-failures".'))),
    retryAfterSeconds: v.optional(v.pipe(Count, v.description("503: seconds to wait (also in Retry-After)."))),
    requestId: v.optional(v.pipe(v.string(), v.description("500: the request id the error was logged under."))),
    traceId: v.pipe(
      v.string(),
      v.regex(/^[0-9a-f]{32}$/),
      v.description("The request's W3C trace id (the client's traceparent continued, or a new trace), as in the access log and in the traceparent sent to instances."),
    ),
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
    version: v.pipe(v.nullable(v.string()), v.description("The version it declared at registration (or in configuration), or null.")),
    activeCheck: v.object({
      status: HealthStatus,
      lastCheckAt: v.nullable(Time),
      lastResult: v.nullable(ProbeResult),
      lastLatencyMs: v.nullable(v.number()),
      lastError: LastError,
      lastErrorClass: v.pipe(v.nullable(UpstreamErrorClassSchema), v.description("The class lastError starts with; null when the last check passed.")),
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
  versions: v.pipe(
    v.record(v.string(), v.object({ totalInstances: Count, healthyInstances: Count })),
    v.description("Per declared version: its instances, and how many of them are in rotation and healthy."),
  ),
  instances: v.array(
    v.object({
      id: v.string(),
      status: v.picklist(["healthy", "degraded", "unhealthy", "stopped"]),
      responseTime: v.nullable(v.number()),
      lastCheckAt: v.nullable(Time),
      lastResult: v.nullable(ProbeResult),
      lastError: LastError,
      lastErrorClass: v.pipe(v.nullable(UpstreamErrorClassSchema), v.description("The class lastError starts with; null when the last check passed.")),
      consecutiveFailures: Count,
      ejectedUntil: v.nullable(Time),
      heartbeat: v.nullable(CheckStatus),
      inflight: Count,
      effectiveWeight: v.number(),
      version: v.nullable(v.string()),
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
  errors: v.object({
    "4xx": Count,
    "5xx": Count,
    gateway: v.pipe(Count, v.description("timeout + connect.")),
    timeout: Count,
    connect: v.pipe(Count, v.description("Connect failures of every cause: byCause's dns + refused + reset + tls + other.")),
    byCause: v.pipe(
      v.object({ timeout: Count, dns: Count, refused: Count, reset: Count, tls: Count, other: Count }),
      v.description("gateway by why there was no answer: timeout, dns (the host name did not resolve), refused (nothing accepted the connection), reset (closed before a complete response), tls, other (a connect failure of unknown cause)."),
    ),
  }),
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
  version: v.pipe(v.nullable(v.string()), v.description("The version the instance declared, or null.")),
});
const VersionMetricsSchema = v.pipe(
  v.object({
    instances: Count,
    totalRequests: Count,
    errorRate: v.number(),
    p50: v.nullable(v.number()),
    p95: v.nullable(v.number()),
    p99: v.nullable(v.number()),
    recent: v.object({ minutes: Count, requests: v.number(), errorRate: v.number(), p95: v.nullable(v.number()) }),
  }),
  v.description("One version's instances together (a release's canary beside its stable side); deregistered instances count in the service's totals only."),
);
export const ServiceMetricsSchema = v.object({
  ...statsEntries,
  status: v.nullable(ServiceStatus),
  inflight: Count,
  websockets: WebSocketsSchema,
  instances: v.record(v.string(), InstanceMetricsSchema),
  versions: v.pipe(v.record(v.string(), VersionMetricsSchema), v.description("Per declared version, over the instances that have one.")),
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

// ------------------------------------------------------------------ releases (issue #20)

const ReleaseState = v.picklist(RELEASE_STATES);

export const ReleaseSpecSchema = documents<ReleaseSpec>()(
  v.object({
    version: v.string(),
    steps: v.array(Count),
    stepIntervalSeconds: Count,
    analysis: v.object({
      minRequests: Count,
      maxErrorRatePercent: v.optional(v.number()),
      maxP95Ms: v.optional(v.number()),
      maxErrorRateVsStable: v.optional(v.number()),
      maxP95VsStable: v.optional(v.number()),
      errorRateAllowancePercent: v.number(),
      p95AllowanceMs: v.number(),
    }),
    stickiness: v.nullable(AffinitySchema),
    pinHeader: v.nullable(v.string()),
    mirrorPercent: v.number(),
    dryRun: v.boolean(),
  }),
);

const ReleaseSideSchema = v.object({
  requests: Count,
  failures: v.pipe(Count, v.description("5xx answers and gateway errors (timeouts, connect failures).")),
  errorRatePercent: v.nullable(v.number()),
  p95Ms: v.pipe(v.nullable(v.number()), v.description("Of the requests that got an answer.")),
});

const ReleaseAnalysisSchema = v.pipe(
  v.object({
    verdict: v.picklist(["pass", "fail", "inconclusive", "pending"]),
    at: Time,
    windowStartedAt: Time,
    canary: ReleaseSideSchema,
    stable: ReleaseSideSchema,
    checks: v.array(
      v.object({
        threshold: v.picklist(["maxErrorRatePercent", "maxP95Ms", "maxErrorRateVsStable", "maxP95VsStable"]),
        limit: v.pipe(v.nullable(v.number()), v.description("The effective limit: the threshold, or for a relative one ratio × stable + allowance.")),
        observed: v.nullable(v.number()),
        result: v.picklist(["pass", "fail", "unjudged"]),
      }),
    ),
    reason: v.string(),
  }),
  v.description("The canary against the stable side over the step's window."),
);

export const ReleaseSchema = documents<ReleaseView>()(
  v.object({
    id: v.string(),
    service: v.string(),
    version: v.string(),
    state: ReleaseState,
    dryRun: v.boolean(),
    stepIndex: Count,
    weightPercent: v.pipe(v.number(), v.description("The canary's weight in this state (a dry run: the weight it would have).")),
    routedWeightPercent: v.pipe(v.nullable(v.number()), v.description("What the edge routes now; null for a dry run, or a final release that no longer splits anything.")),
    spec: ReleaseSpecSchema,
    stepStartedAt: Time,
    judgeAt: v.pipe(v.nullable(Time), v.description("Running: when the step is next judged.")),
    inconclusiveIntervals: Count,
    pausedBy: v.nullable(v.picklist(["operator", "controller"])),
    createdAt: Time,
    updatedAt: Time,
    endedAt: v.nullable(Time),
    createdBy: v.string(),
    analysis: v.nullable(ReleaseAnalysisSchema),
    history: v.array(
      v.object({
        at: Time,
        kind: v.picklist(TRANSITION_KINDS),
        from: v.nullable(ReleaseState),
        to: ReleaseState,
        stepIndex: Count,
        weightPercent: v.number(),
        actor: v.pipe(v.string(), v.description('An admin key\'s fingerprint, or "release-controller".')),
        detail: v.string(),
      }),
    ),
  }),
);

export const ReleaseSummarySchema = documents<ReleaseSummary>()(
  v.pipe(
    v.object({
      ...ReleaseSchema.entries,
      history: v.pipe(ReleaseSchema.entries.history, v.description("The newest few transitions, oldest first (GET the release for all of them).")),
      transitions: v.pipe(Count, v.description("How many transitions it has in all.")),
    }),
    v.description("A release as the dashboard shows it: each service's newest, while running or paused and for an hour after it ended."),
  ),
);

export const ReleaseListSchema = v.object({ service: v.string(), releases: v.pipe(v.array(ReleaseSchema), v.description("Newest first.")) });

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
    v.object({ ...eventBase, type: v.literal("status-changed"), from: HealthStatus, to: HealthStatus, error: v.optional(v.string()), errorClass: v.optional(UpstreamErrorClassSchema) }),
    v.object({ ...eventBase, type: v.literal("failure-threshold"), consecutiveFailures: Count, error: v.string(), errorClass: UpstreamErrorClassSchema }),
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
      releases: v.pipe(v.array(ReleaseSummarySchema), v.description("By service name.")),
      loop: LoopStatusSchema,
    }),
    v.description("The full dashboard state (GET /admin/dashboard/state). The live WebSocket sends the smaller live view instead: DashboardLiveSnapshot, then DashboardLiveDelta."),
  ),
);

// ------------------------------------------------------------------ the dashboard's live WebSocket (src/core/dashboard)

const LiveStatsEntries = {
  requests: Count,
  rps: v.pipe(v.number(), v.description("Requests per second over the last minute.")),
  errorRate: v.pipe(v.number(), v.description("Lifetime error rate, percent.")),
  recent: v.pipe(
    v.object({ errorRate: v.number(), p50: v.nullable(v.number()), p95: v.nullable(v.number()), p99: v.nullable(v.number()) }),
    v.description("The last 5 minutes: error rate (percent) and latency percentiles (ms)."),
  ),
};

const LiveErrorSchema = documents<LiveError>()(
  v.pipe(
    v.union([v.string(), v.object({ class: v.optional(v.string()), message: v.string(), traceId: v.optional(v.string()) })]),
    v.description("An instance's last probe error: a string, or a classified error with an optional trace id."),
  ),
);

const LiveServiceSchema = documents<LiveService>()(
  v.pipe(
    v.object({
      ...LiveStatsEntries,
      status: ServiceStatus,
      admin: v.picklist(["active", "stopped"]),
      strategy: v.string(),
      inflight: v.pipe(Count, v.description("In flight, open WebSocket connections included.")),
      websockets: v.optional(v.pipe(Count, v.description("Open WebSocket connections; left out when none."))),
      panic: v.optional(v.pipe(v.literal(true), v.description("Present while the service is in panic mode."))),
    }),
    v.description("A service, keyed by its name."),
  ),
);

const LiveInstanceSchema = documents<LiveInstance>()(
  v.pipe(
    v.object({
      service: v.string(),
      target: v.pipe(v.string(), v.description('The URL, or "binding:NAME" for a service binding.')),
      health: HealthStatus,
      admin: v.optional(v.pipe(v.picklist(["stopped", "standby"]), v.description('Left out when "active".'))),
      inflight: v.optional(v.pipe(Count, v.description("In flight, open WebSocket connections included; left out when 0."))),
      websockets: v.optional(v.pipe(Count, v.description("Open WebSocket connections; left out when none."))),
      check: v.optional(v.pipe(ProbeResult, v.description("The last active probe's result; left out before the first."))),
      error: v.optional(LiveErrorSchema),
      ejectedUntil: v.optional(v.pipe(EpochMs, v.description("Present only while outlier detection keeps it out of rotation."))),
      heartbeat: v.optional(v.pipe(v.literal("critical"), v.description("Present when its TTL heartbeat has lapsed."))),
      name: v.optional(v.pipe(v.string(), v.description("metadata.name."))),
      weight: v.optional(v.pipe(v.number(), v.description("Left out when 1."))),
      warming: v.optional(v.pipe(v.literal(true), v.description("Present while slow start ramps its weight up."))),
      pool: v.optional(v.pipe(v.literal(true), v.description("A standby (autoscaling pool) instance."))),
      version: v.optional(v.pipe(v.string(), v.description("The version it declared; left out when none."))),
    }),
    v.description("An instance, keyed by its id. Members at their usual value are left out."),
  ),
);

const LiveAlertSchema = documents<LiveAlert>()(
  v.pipe(
    v.object({
      state: v.picklist(["active", "suppressed"]),
      why: v.optional(v.picklist(["silenced", "inhibited"])),
      name: v.pipe(v.string(), v.description("The alertname label.")),
      severity: v.optional(v.string()),
      service: v.optional(v.string()),
      instance: v.optional(v.string()),
      summary: v.string(),
      startsAt: EpochMs,
    }),
    v.description("An active or suppressed alert, keyed by its fingerprint."),
  ),
);

const LiveSideSchema = v.object({ requests: Count, failures: Count, errorRatePercent: v.nullable(v.number()), p95Ms: v.nullable(v.number()) });

const LiveReleaseSchema = documents<LiveRelease>()(
  v.pipe(
    v.object({
      id: v.string(),
      version: v.pipe(v.string(), v.description("The canary's version.")),
      state: ReleaseState,
      dryRun: v.optional(v.literal(true)),
      pausedBy: v.optional(v.picklist(["operator", "controller"])),
      stepIndex: Count,
      steps: v.array(Count),
      stepSeconds: Count,
      weight: v.pipe(v.number(), v.description("The canary's weight now, %.")),
      stepStartedAt: EpochMs,
      judgeAt: v.optional(v.pipe(EpochMs, v.description("Running: when the step is next judged."))),
      endedAt: v.optional(EpochMs),
      thresholds: ReleaseSpecSchema.entries.analysis,
      analysis: v.optional(
        v.object({
          verdict: ReleaseAnalysisSchema.entries.verdict,
          windowStartedAt: EpochMs,
          canary: LiveSideSchema,
          stable: LiveSideSchema,
          checks: ReleaseAnalysisSchema.entries.checks,
          reason: v.optional(v.pipe(v.string(), v.description("Left out while a step is in progress."))),
        }),
      ),
      history: v.pipe(
        v.array(v.object({ at: EpochMs, kind: v.picklist(TRANSITION_KINDS), to: ReleaseState, stepIndex: Count, weight: v.number(), actor: v.string(), detail: v.string() })),
        v.description("The newest transitions, newest first."),
      ),
      transitions: Count,
    }),
    v.description("A service's release (running, paused, or ended in the last hour), keyed by the service's name."),
  ),
);

const LiveGlobalSchema = v.object({ ...LiveStatsEntries, inflight: Count, websockets: Count });

const LiveLoopSchema = v.object({
  lastSweepAt: v.nullable(EpochMs),
  probed: Count,
  shards: Count,
  vantagePoints: v.array(v.string()),
  discounted: v.pipe(v.array(v.string()), v.description("Vantage points whose votes did not count in the last completed sweep.")),
  sweepFailures: Count,
  alertFailures: Count,
});

const LiveHistorySchema = v.object({
  entries: v.pipe(
    v.array(
      v.object({
        at: EpochMs,
        status: AlertState,
        groupKey: v.string(),
        alerts: v.array(v.object({ name: v.string(), status: AlertState, service: v.optional(v.string()), instance: v.optional(v.string()) })),
        more: v.optional(v.pipe(Count, v.description("Alerts of the notification not listed."))),
        summary: v.optional(v.string()),
      }),
    ),
    v.description("The newest notifications, at most 50, newest first."),
  ),
  total: v.pipe(Count, v.description("Notifications in the stored history.")),
  dropped: Count,
});

const LiveAutoscalingSchema = v.array(
  v.object({
    service: v.string(),
    current: Count,
    standby: Count,
    policy: v.nullable(v.object({ mode: v.string(), min: Count, max: Count })),
    decisions: v.array(
      v.object({
        at: EpochMs,
        action: v.string(),
        current: Count,
        desired: Count,
        metrics: v.array(v.object({ metric: v.string(), observed: v.nullable(v.number()), target: v.number() })),
        limitedBy: v.array(v.string()),
      }),
    ),
  }),
);

const LiveServicesSchema = v.record(v.string(), LiveServiceSchema);
const LiveInstancesSchema = v.record(v.string(), LiveInstanceSchema);
const LiveAlertsSchema = v.record(v.string(), LiveAlertSchema);
const LiveReleasesSchema = v.record(v.string(), LiveReleaseSchema);

export const DashboardLiveViewSchema = documents<LiveView>()(
  v.pipe(
    v.object({
      environment: v.string(),
      global: LiveGlobalSchema,
      loop: LiveLoopSchema,
      services: LiveServicesSchema,
      instances: LiveInstancesSchema,
      alerts: LiveAlertsSchema,
      releases: LiveReleasesSchema,
      history: LiveHistorySchema,
      autoscaling: LiveAutoscalingSchema,
    }),
    v.description("What the dashboard page shows: the dashboard state without what the page does not use, keyed for deltas."),
  ),
);

export const DashboardLiveSnapshotSchema = documents<LiveSnapshot>()(
  v.pipe(
    v.object({ type: v.literal("snapshot"), version: Integer, at: EpochMs, view: DashboardLiveViewSchema }),
    v.description("The live WebSocket's first message, and its answer to `refresh`."),
  ),
);

export const DashboardLiveDeltaSchema = documents<LiveDelta>()(
  v.pipe(
    v.object({
      type: v.literal("delta"),
      from: Integer,
      to: v.pipe(Integer, v.description("Always from + 1. Apply only on top of version `from`; on a gap, send `refresh`.")),
      at: EpochMs,
      set: v.optional(
        v.pipe(
          v.object({
            environment: v.optional(v.string()),
            global: v.optional(LiveGlobalSchema),
            loop: v.optional(LiveLoopSchema),
            history: v.optional(LiveHistorySchema),
            autoscaling: v.optional(LiveAutoscalingSchema),
          }),
          v.description("Whole sections that changed, replaced."),
        ),
      ),
      put: v.optional(
        v.pipe(
          v.object({ services: v.optional(LiveServicesSchema), instances: v.optional(LiveInstancesSchema), alerts: v.optional(LiveAlertsSchema), releases: v.optional(LiveReleasesSchema) }),
          v.description("Entries that are new or changed, replaced whole by key."),
        ),
      ),
      del: v.optional(
        v.pipe(
          v.object({
            services: v.optional(v.array(v.string())),
            instances: v.optional(v.array(v.string())),
            alerts: v.optional(v.array(v.string())),
            releases: v.optional(v.array(v.string())),
          }),
          v.description("Keys that went away."),
        ),
      ),
    }),
    v.description("Every later message on the live WebSocket: what changed since version `from`."),
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
