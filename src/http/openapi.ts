/**
 * The OpenAPI 3.1 document of the orchestrator's HTTP API, served at
 * GET /openapi.json. Request schemas come from http/schemas.ts and response
 * schemas from http/response-schemas.ts, both converted from valibot with
 * @valibot/to-json-schema; the operations below say which statuses each
 * route can answer with (checked against real responses by
 * test/workers/openapi.test.ts, linted by scripts/lint-openapi.mjs).
 *
 * Pure data and a builder: no runtime bindings, so Node tests import it too.
 */
import * as v from "valibot";
import { toJsonSchema, toJsonSchemaDefs, type JsonSchema } from "@valibot/to-json-schema";
import { ProblemType, type ProblemTypeUri } from "../contracts/problem";
import type { Role } from "../core/credentials";
import {
  AuditQuerySchema,
  AutoscalePolicyBodySchema,
  HeartbeatBodySchema,
  InstanceIdSchema,
  LoginFormSchema,
  MetricsFormatSchema,
  RegisterBodySchema,
  ReleaseBodySchema,
  ReleaseIdSchema,
  ServiceNameSchema,
  ServiceSettingsBodySchema,
  SilenceBodySchema,
} from "./schemas";
import * as responses from "./response-schemas";
import { VERSION } from "../routes/health";

export const OPENAPI_PATH = "/openapi.json";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Every schema the document names, by component name. */
const COMPONENT_SCHEMAS = {
  Problem: responses.ProblemSchema,
  FieldError: responses.FieldErrorSchema,
  ServiceName: ServiceNameSchema,
  InstanceId: InstanceIdSchema,
  RegisterBody: RegisterBodySchema,
  HeartbeatBody: HeartbeatBodySchema,
  ServiceSettingsBody: ServiceSettingsBodySchema,
  AutoscalePolicyBody: AutoscalePolicyBodySchema,
  ReleaseBody: ReleaseBodySchema,
  SilenceBody: SilenceBodySchema,
  LoginForm: LoginFormSchema,
  Health: responses.HealthSchema,
  WorkersHealth: responses.WorkersHealthSchema,
  WorkerHealth: responses.WorkerHealthSchema,
  Target: responses.TargetSchema,
  Affinity: responses.AffinitySchema,
  Instance: responses.InstanceSchema,
  ServiceView: responses.ServiceViewSchema,
  RegistrySnapshot: responses.RegistrySnapshotSchema,
  Registered: responses.RegisteredSchema,
  HeartbeatAck: responses.HeartbeatAckSchema,
  Deregistered: responses.DeregisteredSchema,
  MetricsView: responses.MetricsViewSchema,
  ServiceMetrics: responses.ServiceMetricsSchema,
  InstanceMetrics: responses.InstanceMetricsSchema,
  AutoscalePolicy: responses.AutoscalePolicySchema,
  AutoscalePolicySet: responses.AutoscalePolicySetSchema,
  AutoscalePolicyRemoved: responses.AutoscalePolicyRemovedSchema,
  AutoscaleDecision: responses.DecisionSchema,
  AutoscaleView: responses.AutoscaleViewSchema,
  AutoscalingList: responses.AutoscalingListSchema,
  ReleaseSpec: responses.ReleaseSpecSchema,
  Release: responses.ReleaseSchema,
  ReleaseList: responses.ReleaseListSchema,
  LifecycleResult: responses.LifecycleResultSchema,
  AuditEntry: responses.AuditEntrySchema,
  AuditPage: responses.AuditPageSchema,
  AlertsView: responses.AlertsViewSchema,
  Silence: responses.SilenceSchema,
  SilenceList: responses.SilenceListSchema,
  SilenceExpired: responses.SilenceExpiredSchema,
  InstanceHealthEvent: responses.InstanceHealthEventSchema,
  LoopStatus: responses.LoopStatusSchema,
  DashboardState: responses.DashboardStateSchema,
  DebugConfig: responses.DebugConfigSchema,
  DebugRegistry: responses.DebugRegistrySchema,
  DebugDoCalls: responses.DebugDoCallsSchema,
} satisfies Record<string, v.GenericSchema>;

type SchemaName = keyof typeof COMPONENT_SCHEMAS;

const CONVERSION = {
  target: "draft-2020-12",
  // Request schemas are documented as the client sends them (before transforms); responses have none.
  typeMode: "input",
  // Checks and transforms JSON Schema cannot express are left out; v.metadata in the schemas states them where it matters.
  errorMode: "ignore",
} as const;

function componentSchemas(): Record<string, JsonSchema> {
  return toJsonSchemaDefs(COMPONENT_SCHEMAS, { ...CONVERSION, overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}` });
}

/** One schema on its own (a query or path parameter), without the $schema member. */
function standalone(schema: v.GenericSchema): JsonObject {
  const { $schema: _dialect, ...rest } = toJsonSchema(schema, CONVERSION) as JsonObject;
  return rest;
}

const ref = (name: SchemaName): JsonObject => ({ $ref: `#/components/schemas/${name}` });

// ------------------------------------------------------------------ operations as data

export type RateClass = "health" | "metrics" | "admin" | "registry" | "general";

type Auth =
  | { readonly kind: "public" }
  /** An admin key with at least `role`, or a dashboard session signed in with one. */
  | { readonly kind: "admin"; readonly role: Role; readonly optional?: true }
  /** A registration token, or an admin key (any role to read, the admin role to write). */
  | { readonly kind: "registry"; readonly access: "read" | "write" }
  /** A session cookie, if any (sign-out). */
  | { readonly kind: "session" };

interface ResponseSpec {
  readonly description: string;
  /** Media type → schema (`null`: no schema, e.g. HTML). */
  readonly content?: Readonly<Record<string, JsonObject | null>>;
  readonly headers?: readonly HeaderName[];
}

/** An orchestrator problem answer: the problem types it can carry. */
interface ProblemSpec {
  readonly problems: readonly ProblemTypeUri[];
  readonly description: string;
  readonly headers?: readonly HeaderName[];
}

interface OperationSpec {
  readonly method: "get" | "post" | "put" | "delete";
  readonly path: string;
  readonly operationId: string;
  readonly tag: TagName;
  readonly summary: string;
  readonly description?: string;
  readonly auth: Auth;
  readonly rateClass: RateClass;
  readonly devOnly?: true;
  readonly parameters?: readonly JsonObject[];
  readonly requestBody?: JsonObject;
  readonly responses: Readonly<Record<number, ResponseSpec | ProblemSpec>>;
}

const TAGS = {
  Health: "The orchestrator's own health and its fleet's.",
  Metrics: "Traffic metrics as JSON or in the Prometheus text format.",
  Registry: "Service discovery: instances register, heartbeat and deregister.",
  Services: "Per-service settings (admin).",
  Autoscaling: "Autoscaling policies and the decision log (admin).",
  Releases: "Progressive delivery: a canary version against the rest of its service, stepped up, judged and rolled back automatically.",
  Lifecycle: "Stop, start and restart services and instances (operator).",
  Audit: "The audit log of state-changing admin requests.",
  Alerts: "Alert state and silences.",
  Dashboard: "The live dashboard: sign-in, page, state, WebSocket, static files.",
  Debug: "Diagnostics, only with DEV_MODE=true.",
  Proxy: "Everything else: proxied to an instance of the service named by the first path segment.",
  Meta: "This document.",
} as const;

type TagName = keyof typeof TAGS;

const P = ProblemType;
const json = (schema: JsonObject): Readonly<Record<string, JsonObject>> => ({ "application/json": schema });

const pathParameter = (name: string, schema: JsonObject, description: string): JsonObject => ({ name, in: "path", required: true, description, schema });
const serviceNameParameter = (description: string) => pathParameter("name", ref("ServiceName"), description);
const releaseIdParameter = pathParameter("id", standalone(ReleaseIdSchema), "The release's id. Anything else answers 404 not-found.");
const lifecycleActionParameter = pathParameter("action", { type: "string", enum: ["stop", "start", "restart"] }, "Any other action answers 404 not-found.");

const jsonBody = (name: SchemaName, description: string, required = true): JsonObject => ({ required, description, content: { "application/json": { schema: ref(name) } } });

const validation = (description: string): ProblemSpec => ({ problems: [P.validation, P.malformedJson], description });
const mediaType: ProblemSpec = { problems: [P.unsupportedMediaType], description: "The body is not application/json (or application/*+json)." };

const OPERATIONS: readonly OperationSpec[] = [
  // ---------------------------------------------------------------- health
  {
    method: "get",
    path: "/health",
    operationId: "getHealth",
    tag: "Health",
    summary: "The orchestrator's own health",
    auth: { kind: "public" },
    rateClass: "health",
    responses: { 200: { description: "Healthy (this isolate answered).", content: json(ref("Health")) } },
  },
  {
    method: "get",
    path: "/health/workers",
    operationId: "getWorkersHealth",
    tag: "Health",
    summary: "Every service and instance",
    description: "The top-level status is unhealthy if any service is unhealthy, degraded if any is anything but healthy; it answers 200 in all three cases.",
    auth: { kind: "public" },
    rateClass: "health",
    responses: { 200: { description: "The fleet's health.", content: json(ref("WorkersHealth")) } },
  },
  {
    method: "get",
    path: OPENAPI_PATH,
    operationId: "getOpenApi",
    tag: "Meta",
    summary: "This OpenAPI document",
    auth: { kind: "public" },
    rateClass: "general",
    responses: { 200: { description: "The OpenAPI 3.1 document of this API.", content: json({ type: "object", description: "An OpenAPI 3.1 document." }) } },
  },
  {
    method: "get",
    path: "/",
    operationId: "getRoot",
    tag: "Meta",
    summary: "Nothing here",
    description: "The root names no service: it always answers 404, pointing to /{service}/… and /health.",
    auth: { kind: "public" },
    rateClass: "general",
    responses: { 404: { problems: [P.notFound], description: "Nothing is at /." } },
  },

  // ---------------------------------------------------------------- metrics
  {
    method: "get",
    path: "/metrics",
    operationId: "getMetrics",
    tag: "Metrics",
    summary: "Metrics of the whole fleet",
    description:
      "JSON by default. The Prometheus text format 0.0.4 with `?format=prometheus`, or with `Accept: text/plain` or `application/openmetrics-text` when no `format` is given; `?format=json` forces JSON.",
    auth: { kind: "public" },
    rateClass: "metrics",
    parameters: [{ name: "format", in: "query", required: false, description: "Overrides Accept.", schema: standalone(MetricsFormatSchema) }],
    responses: {
      200: { description: "The metrics.", content: { "application/json": ref("MetricsView"), "text/plain": { type: "string", description: "Prometheus text format 0.0.4." } } },
      400: { problems: [P.validation], description: "`format` is neither json nor prometheus." },
    },
  },
  {
    method: "get",
    path: "/metrics/worker/{name}",
    operationId: "getWorkerMetrics",
    tag: "Metrics",
    summary: "Metrics of one service",
    description: "The same document as /metrics with `workers` narrowed to one service (`global` is still the whole fleet); its Prometheus text holds that service's series only.",
    auth: { kind: "public" },
    rateClass: "metrics",
    parameters: [serviceNameParameter("The service."), { name: "format", in: "query", required: false, description: "Overrides Accept.", schema: standalone(MetricsFormatSchema) }],
    responses: {
      200: { description: "The service's metrics.", content: { "application/json": ref("MetricsView"), "text/plain": { type: "string", description: "Prometheus text format 0.0.4." } } },
      400: { problems: [P.validation], description: "`format` is neither json nor prometheus, or the name is not a valid service name." },
      404: { problems: [P.unknownService], description: "No such service." },
    },
  },

  // ---------------------------------------------------------------- registry
  {
    method: "get",
    path: "/registry/services",
    operationId: "listRegistryServices",
    tag: "Registry",
    summary: "Every service with its instances",
    description: "A registration token scoped to some services sees only those.",
    auth: { kind: "registry", access: "read" },
    rateClass: "registry",
    responses: { 200: { description: "The registry's snapshot.", content: json(ref("RegistrySnapshot")) } },
  },
  {
    method: "post",
    path: "/registry/instances",
    operationId: "registerInstance",
    tag: "Registry",
    summary: "Register an instance",
    description: "Exactly one of `url` and `binding`. URLs pass the SSRF rules.",
    auth: { kind: "registry", access: "write" },
    rateClass: "registry",
    requestBody: jsonBody("RegisterBody", "The instance."),
    responses: {
      201: { description: "Registered.", content: json(ref("Registered")), headers: ["Location"] },
      400: validation("The body is not valid JSON, or a field is invalid (every one is listed)."),
      403: { problems: [P.forbidden], description: "An admin key without the admin role, or a registration token outside its services." },
      409: { problems: [P.conflict], description: "Already registered (`existingId`), or the registry is full." },
      415: mediaType,
    },
  },
  {
    method: "put",
    path: "/registry/instances/{id}/heartbeat",
    operationId: "heartbeatInstance",
    tag: "Registry",
    summary: "Heartbeat, with an optional load report",
    auth: { kind: "registry", access: "write" },
    rateClass: "registry",
    parameters: [pathParameter("id", ref("InstanceId"), "The instance id from registration.")],
    requestBody: jsonBody("HeartbeatBody", "A load report (optional).", false),
    responses: {
      200: { description: "Heartbeat recorded.", content: json(ref("HeartbeatAck")) },
      400: validation("The load report is not valid."),
      403: { problems: [P.forbidden], description: "An admin key without the admin role, or a registration token outside the instance's service." },
      404: { problems: [P.unknownInstance], description: "The registry does not know this id: register again." },
      415: mediaType,
    },
  },
  {
    method: "delete",
    path: "/registry/instances/{id}",
    operationId: "deregisterInstance",
    tag: "Registry",
    summary: "Deregister an instance",
    auth: { kind: "registry", access: "write" },
    rateClass: "registry",
    parameters: [pathParameter("id", ref("InstanceId"), "The instance id from registration.")],
    responses: {
      200: { description: "Deregistered.", content: json(ref("Deregistered")) },
      403: { problems: [P.forbidden], description: "An admin key without the admin role, or a registration token outside the instance's service." },
      404: { problems: [P.unknownInstance], description: "No such instance." },
      409: { problems: [P.conflict], description: "A static instance (from configuration) cannot be deregistered." },
    },
  },

  // ---------------------------------------------------------------- admin: services and autoscaling
  {
    method: "get",
    path: "/admin/services",
    operationId: "listServices",
    tag: "Services",
    summary: "Every service with its instances",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    responses: { 200: { description: "The registry's snapshot.", content: json(ref("RegistrySnapshot")) } },
  },
  {
    method: "put",
    path: "/admin/services/{name}",
    operationId: "configureService",
    tag: "Services",
    summary: "Change a service's settings (creating it if needed)",
    description:
      "Audited. At least one field is required; `healthCheck` is merged into the existing overrides; `lifecycleHook: null` removes the hook. " +
      "`websockets: false` makes the edge refuse WebSocket upgrades to the service (403). `affinity` sends requests that carry its key (a header, a cookie or the client's IP) " +
      "to an instance chosen by consistent hashing over the eligible instances, whatever the strategy; `affinity: null` removes it.",
    auth: { kind: "admin", role: "admin" },
    rateClass: "admin",
    parameters: [serviceNameParameter("The service.")],
    requestBody: jsonBody("ServiceSettingsBody", "The settings to change."),
    responses: {
      200: { description: "Changed.", content: json(ref("ServiceView")) },
      201: { description: "Created.", content: json(ref("ServiceView")) },
      400: validation("Invalid name or field, a weight for an id that is not an instance of the service, or a lifecycle hook without LIFECYCLE_HOOK_SECRET."),
      409: { problems: [P.conflict], description: "The registry is full." },
      415: mediaType,
    },
  },
  {
    method: "put",
    path: "/admin/services/{name}/autoscaling",
    operationId: "setAutoscalePolicy",
    tag: "Autoscaling",
    summary: "Set a service's autoscaling policy",
    description: "Audited. Setting a policy resets the engine's history.",
    auth: { kind: "admin", role: "admin" },
    rateClass: "admin",
    parameters: [serviceNameParameter("The service.")],
    requestBody: jsonBody("AutoscalePolicyBody", "The policy."),
    responses: {
      200: { description: "Set.", content: json(ref("AutoscalePolicySet")) },
      400: validation("Invalid name or policy (every invalid field is listed)."),
      404: { problems: [P.unknownService], description: "No such service." },
      415: mediaType,
    },
  },
  {
    method: "delete",
    path: "/admin/services/{name}/autoscaling",
    operationId: "removeAutoscalePolicy",
    tag: "Autoscaling",
    summary: "Remove a service's autoscaling policy",
    description: "Audited.",
    auth: { kind: "admin", role: "admin" },
    rateClass: "admin",
    parameters: [serviceNameParameter("The service.")],
    responses: {
      200: { description: "Removed.", content: json(ref("AutoscalePolicyRemoved")) },
      400: { problems: [P.validation], description: "Not a valid service name." },
      404: { problems: [P.unknownService], description: "No such service." },
    },
  },
  {
    method: "get",
    path: "/admin/autoscaling",
    operationId: "listAutoscaling",
    tag: "Autoscaling",
    summary: "Policies, instance counts and decision logs",
    description: "Services that have a policy or a decision log.",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    responses: { 200: { description: "Every service's autoscaling.", content: json(ref("AutoscalingList")) } },
  },

  // ---------------------------------------------------------------- admin: releases
  {
    method: "post",
    path: "/admin/services/{name}/releases",
    operationId: "startRelease",
    tag: "Releases",
    summary: "Start a release of a version",
    description:
      "Audited, as is every transition after it (the controller's as `release-controller`). The canary is the service's instances with `version`; the stable side is every other instance. " +
      "The canary's weight walks through `steps`, one every `stepIntervalSeconds`, while the analysis holds; a crossed threshold rolls it back at once (weight 0); reaching 100 promotes it. `dryRun` judges and reports without routing.",
    auth: { kind: "admin", role: "admin" },
    rateClass: "admin",
    parameters: [serviceNameParameter("The service.")],
    requestBody: jsonBody("ReleaseBody", "The release."),
    responses: {
      201: { description: "Started.", content: json(ref("Release")), headers: ["Location"] },
      400: validation("Invalid name or field (every invalid field is listed): steps not strictly increasing to 100, no threshold, a bad version…"),
      404: { problems: [P.unknownService], description: "No such service." },
      409: { problems: [P.conflict], description: "The service has an active release already, no instance in rotation has the version, or none has another (no stable side)." },
      415: mediaType,
    },
  },
  {
    method: "get",
    path: "/admin/services/{name}/releases",
    operationId: "listReleases",
    tag: "Releases",
    summary: "A service's releases, newest first",
    description: "The newest 20 per service, each with its history and, while active, its current window judged now.",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    parameters: [serviceNameParameter("The service.")],
    responses: {
      200: { description: "The releases.", content: json(ref("ReleaseList")) },
      400: { problems: [P.validation], description: "Not a valid service name." },
      404: { problems: [P.unknownService], description: "No such service." },
    },
  },
  {
    method: "get",
    path: "/admin/services/{name}/releases/{id}",
    operationId: "getRelease",
    tag: "Releases",
    summary: "One release",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    parameters: [serviceNameParameter("The service."), releaseIdParameter],
    responses: {
      200: { description: "The release.", content: json(ref("Release")) },
      400: { problems: [P.validation], description: "Not a valid service name." },
      404: { problems: [P.unknownService, P.notFound], description: "No such service, or no such release of it." },
    },
  },
  ...(
    [
      ["promote", "promoteRelease", "Promote a release now", "Jumps to 100 %: the other versions' instances get no traffic (stop them when satisfied)."],
      ["abort", "abortRelease", "Abort a release now", "Weight 0 at once: the canary's instances get no traffic while they remain."],
      ["pause", "pauseRelease", "Pause a release", "Holds the current step's weight. The analysis goes on: a crossed threshold still rolls the canary back."],
      ["resume", "resumeRelease", "Resume a paused release", "The current step starts over with a fresh window and a full interval."],
    ] as const
  ).map(
    ([action, operationId, summary, description]): OperationSpec => ({
      method: "post",
      path: `/admin/services/{name}/releases/{id}/${action}`,
      operationId,
      tag: "Releases",
      summary,
      description: `Audited. No body. ${description}`,
      auth: { kind: "admin", role: "operator" },
      rateClass: "admin",
      parameters: [serviceNameParameter("The service."), releaseIdParameter],
      responses: {
        200: { description: "The release after the action.", content: json(ref("Release")) },
        400: { problems: [P.validation], description: "Not a valid service name." },
        404: { problems: [P.unknownService, P.notFound], description: "No such service, or no such release of it." },
        409: { problems: [P.conflict], description: `The release's state does not allow it (${action === "resume" ? "only a paused release resumes" : action === "pause" ? "only a running release pauses" : "it has ended already"}).` },
      },
    }),
  ),

  // ---------------------------------------------------------------- admin: lifecycle, audit
  {
    method: "post",
    path: "/admin/workers/{name}/{action}",
    operationId: "serviceLifecycle",
    tag: "Lifecycle",
    summary: "Stop, start or restart a service",
    description: "Audited. No body. stop drains in-flight requests (up to DRAIN_TIMEOUT_MS); restart drains, resets health state, calls the lifecycle hook, starts. Idempotent (`changed: false`).",
    auth: { kind: "admin", role: "operator" },
    rateClass: "admin",
    parameters: [pathParameter("name", { type: "string" }, "The service."), lifecycleActionParameter],
    responses: {
      200: { description: "The resulting state.", content: json(ref("LifecycleResult")) },
      404: { problems: [P.notFound, P.unknownService], description: "Unknown action or service." },
    },
  },
  {
    method: "post",
    path: "/admin/workers/{name}/instances/{id}/{action}",
    operationId: "instanceLifecycle",
    tag: "Lifecycle",
    summary: "Stop, start or restart one instance",
    description: "Audited. No body. Like the service-wide actions, for one instance.",
    auth: { kind: "admin", role: "operator" },
    rateClass: "admin",
    parameters: [pathParameter("name", { type: "string" }, "The service."), pathParameter("id", { type: "string" }, "The instance id."), lifecycleActionParameter],
    responses: {
      200: { description: "The resulting state.", content: json(ref("LifecycleResult")) },
      404: { problems: [P.notFound, P.unknownService, P.unknownInstance], description: "Unknown action, service or instance." },
    },
  },
  {
    method: "get",
    path: "/admin/audit",
    operationId: "getAudit",
    tag: "Audit",
    summary: "The audit log, newest first",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    parameters: [
      { name: "limit", in: "query", required: false, description: "Entries per page, 1–1000.", schema: standalone(AuditQuerySchema.entries.limit) },
      { name: "before", in: "query", required: false, description: "Only entries with a smaller `seq` (the previous page's `nextBefore`).", schema: standalone(AuditQuerySchema.entries.before) },
    ],
    responses: {
      200: { description: "A page of entries.", content: json(ref("AuditPage")) },
      400: { problems: [P.validation], description: "`limit` or `before` is not valid." },
    },
  },

  // ---------------------------------------------------------------- admin: alerts and silences
  {
    method: "get",
    path: "/admin/alerts",
    operationId: "getAlerts",
    tag: "Alerts",
    summary: "Alert state, notification history and delivery counters",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    responses: { 200: { description: "The alerts.", content: json(ref("AlertsView")) } },
  },
  {
    method: "get",
    path: "/admin/silences",
    operationId: "listSilences",
    tag: "Alerts",
    summary: "Pending and active silences",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    responses: { 200: { description: "The silences.", content: json(ref("SilenceList")) } },
  },
  {
    method: "post",
    path: "/admin/silences",
    operationId: "createSilence",
    tag: "Alerts",
    summary: "Create a silence",
    description: "Audited. Exactly one of `endsAt` and `durationSeconds`; at most 30 days; regexes are RE2, anchored.",
    auth: { kind: "admin", role: "operator" },
    rateClass: "admin",
    requestBody: jsonBody("SilenceBody", "The silence."),
    responses: {
      201: { description: "Created.", content: json(ref("Silence")), headers: ["Location"] },
      400: validation("Invalid field or regex, a time in the past, too long, or too many silences."),
      415: mediaType,
    },
  },
  {
    method: "delete",
    path: "/admin/silences/{id}",
    operationId: "expireSilence",
    tag: "Alerts",
    summary: "Expire a silence",
    description: "Audited.",
    auth: { kind: "admin", role: "operator" },
    rateClass: "admin",
    parameters: [pathParameter("id", { type: "string" }, "The silence id.")],
    responses: {
      200: { description: "Expired.", content: json(ref("SilenceExpired")) },
      404: { problems: [P.notFound], description: "No such silence." },
    },
  },

  // ---------------------------------------------------------------- dashboard
  {
    method: "get",
    path: "/admin/dashboard",
    operationId: "getDashboard",
    tag: "Dashboard",
    summary: "The dashboard, or the sign-in page",
    description: "The dashboard when signed in (session cookie or bearer key with any role), otherwise the sign-in page. HTML with a strict Content-Security-Policy.",
    auth: { kind: "admin", role: "viewer", optional: true },
    rateClass: "admin",
    responses: { 200: { description: "An HTML page.", content: { "text/html": null } } },
  },
  {
    method: "post",
    path: "/admin/login",
    operationId: "signIn",
    tag: "Dashboard",
    summary: "Sign in to the dashboard",
    description: "Exchanges an admin key (any role; the session keeps it) for a session cookie. A wrong key also answers 303, to `/admin/dashboard?login=failed`, and counts as a failed authentication.",
    auth: { kind: "public" },
    rateClass: "admin",
    requestBody: { required: true, content: { "application/x-www-form-urlencoded": { schema: ref("LoginForm") } } },
    responses: {
      303: { description: "To /admin/dashboard with Set-Cookie (signed in), or to /admin/dashboard?login=failed.", headers: ["Location", "Set-Cookie"] },
      413: { problems: [P.payloadTooLarge], description: "The form is larger than 4096 bytes." },
      415: { problems: [P.unsupportedMediaType], description: "Not a form (application/x-www-form-urlencoded)." },
      503: { problems: [P.notConfigured], description: "ORCHESTRATOR_API_KEY is not set." },
    },
  },
  {
    method: "post",
    path: "/admin/logout",
    operationId: "signOut",
    tag: "Dashboard",
    summary: "Sign out",
    description: "Revokes the session, closes its WebSockets and clears the cookie.",
    auth: { kind: "session" },
    rateClass: "admin",
    responses: {
      303: { description: "To /admin/dashboard, with the cookie cleared.", headers: ["Location", "Set-Cookie"] },
      403: { problems: [P.forbidden], description: "A session cookie sent from another origin." },
    },
  },
  {
    method: "get",
    path: "/admin/dashboard/state",
    operationId: "getDashboardState",
    tag: "Dashboard",
    summary: "Everything the dashboard shows",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    responses: { 200: { description: "A snapshot.", content: json(ref("DashboardState")) } },
  },
  {
    method: "get",
    path: "/admin/dashboard/live",
    operationId: "getDashboardLive",
    tag: "Dashboard",
    summary: "The dashboard's WebSocket",
    description: "A WebSocket upgrade (`Upgrade: websocket`). The server sends a snapshot of the live view on connect (`{type: \"snapshot\", version, at, view}`: the DashboardState without what changes on every push) and then deltas, at most one a second (`{type: \"delta\", from, to, at, set?, put?, del?}`: sections replaced; services, instances, alerts and releases replaced or removed by key); a client that sees a gap in the versions sends `refresh` and gets a snapshot. See docs/architecture.md#dashboard. A cookie-authenticated upgrade must carry the orchestrator's own Origin.",
    auth: { kind: "admin", role: "viewer" },
    rateClass: "admin",
    parameters: [{ name: "Upgrade", in: "header", required: true, description: "Must be websocket.", schema: { type: "string", const: "websocket" } }],
    responses: {
      101: { description: "Switching protocols: the WebSocket is open." },
      403: { problems: [P.forbidden], description: "A cookie-authenticated upgrade from another origin." },
      426: { problems: [P.validation], description: "Not a WebSocket upgrade.", headers: ["Upgrade"] },
    },
  },
  {
    method: "get",
    path: "/admin/dashboard/assets/{file}",
    operationId: "getDashboardAsset",
    tag: "Dashboard",
    summary: "One of the page's static files",
    description: "Public, `Cache-Control: public, max-age=300`.",
    auth: { kind: "public" },
    rateClass: "general",
    parameters: [pathParameter("file", { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$" }, "A file name, e.g. app.js.")],
    responses: {
      200: { description: "The file.", content: { "text/javascript": null, "text/css": null, "text/html": null } },
      404: { problems: [P.notFound], description: "No such file." },
    },
  },
  {
    method: "get",
    path: "/admin/dashboard/assets/vendor/{file}",
    operationId: "getDashboardVendorAsset",
    tag: "Dashboard",
    summary: "One of the page's third-party files (uPlot)",
    description: "Public, `Cache-Control: public, max-age=300`.",
    auth: { kind: "public" },
    rateClass: "general",
    parameters: [pathParameter("file", { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$" }, "A file name, e.g. uPlot.min.css.")],
    responses: {
      200: { description: "The file.", content: { "text/javascript": null, "text/css": null } },
      404: { problems: [P.notFound], description: "No such file." },
    },
  },

  // ---------------------------------------------------------------- debug
  ...(
    [
      ["/debug/config", "getDebugConfig", "The parsed configuration, secrets redacted", "DebugConfig"],
      ["/debug/registry", "getDebugRegistry", "The registry's snapshot with in-flight counts", "DebugRegistry"],
      ["/debug/do-calls", "getDebugDoCalls", "This isolate's Durable Object calls per proxied request", "DebugDoCalls"],
    ] as const
  ).map(
    ([path, operationId, summary, schema]): OperationSpec => ({
      method: "get",
      path,
      operationId,
      tag: "Debug",
      summary,
      description: "Exists only with DEV_MODE=true; without it, 404 before any authentication.",
      auth: { kind: "admin", role: "admin" },
      rateClass: "admin",
      devOnly: true,
      responses: {
        200: { description: summary, content: json(ref(schema)) },
        404: { problems: [P.notFound], description: "DEV_MODE is not true." },
      },
    }),
  ),
];

// ------------------------------------------------------------------ the proxy

const PROXY_METHODS = ["get", "put", "post", "delete", "patch", "head", "options"] as const;

/** The proxy's own answers, besides the common ones (commonProblems). */
const PROXY_PROBLEMS: Readonly<Record<number, ProblemSpec>> = {
  400: { problems: [P.badBody], description: "A body that broke off (malformed chunked framing, a lost connection): the upstream request was aborted, never completed short." },
  404: { problems: [P.unknownService, P.notFound], description: "No such service, or a path reserved for the orchestrator's calls to instances (`/{service}/__lifecycle/…`)." },
  413: { problems: [P.payloadTooLarge], description: "A body without Content-Length that passed MAX_REQUEST_BODY_BYTES (`maxBytes`)." },
  502: { problems: [P.upstreamUnreachable], description: "The chosen instance could not be reached (`service`, `instance`)." },
  503: { problems: [P.noAvailableInstance, P.serviceStopped], description: "No instance in rotation (Retry-After: 5), or the service is stopped (Retry-After: 30).", headers: ["Retry-After"] },
  504: { problems: [P.upstreamTimeout], description: "No response headers within the service's timeoutMs (`timeoutMs`)." },
};

/** What GET adds: a WebSocket upgrade (`Upgrade: websocket`) and its answers. They replace PROXY_PROBLEMS' entries for the same status. */
const PROXY_UPGRADE_ANSWERS: Readonly<Record<number, ResponseSpec | ProblemSpec>> = {
  101: {
    description:
      "A WebSocket upgrade the instance accepted: the orchestrator relays the connection until either end closes it. The response carries the instance's chosen Sec-WebSocket-Protocol and its Set-Cookie headers.",
  },
  403: { problems: [P.websocketNotAllowed], description: "A WebSocket upgrade to a service whose `websockets` setting is false (`field`: upgrade). Plain requests are not affected." },
  502: {
    problems: [P.upstreamUnreachable, P.upstreamRefusedUpgrade],
    description: "The chosen instance could not be reached (`service`, `instance`), or it answered a WebSocket upgrade with a 2xx or 3xx instead of 101 (`upstreamStatus`).",
  },
};

const PROXY_DESCRIPTION = [
  "Any path whose first segment is not one of the orchestrator's own (health, metrics, registry, admin, debug, openapi.json, favicon.ico, robots.txt, __lifecycle) is proxied to an instance of the service it names, with the rest of the path and the query string unchanged, and any method.",
  "The instance's response comes back as it is (status, headers, body; redirects are not followed), with X-Request-Id and the RateLimit fields added. The statuses listed here are the orchestrator's own answers, as problem+json; an instance may answer with the same statuses and its own bodies.",
  "W3C Trace Context: the instance gets a traceparent continuing the client's (same trace id, the orchestrator's span as parent-id; its tracestate passed on when valid), or starting a new trace when the client sent none or an invalid one. Answers after an instance was tried carry `Server-Timing: edge;dur=<ms>, upstream;dur=<ms>`, appended to the instance's own.",
  "CORS preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered 204 by the orchestrator on every path and never reach an instance.",
  "A GET with `Upgrade: websocket` is a WebSocket upgrade, rate-limited, routed and retried like any GET. When the instance accepts, the answer is 101 and the orchestrator relays messages both ways until either end closes: a clean close is forwarded with its code and reason, an instance connection that dies closes the client with 1014, and a drain (the instance left rotation DRAIN_TIMEOUT_MS ago) or the idle timeout (WEBSOCKET_IDLE_TIMEOUT_MS) closes both ends with 1001. The service's timeoutMs covers the handshake only. The instance's own 4xx/5xx answer to the upgrade passes through; a 2xx or 3xx answer is 502 upstream-refused-upgrade; a service whose `websockets` setting is false answers 403 websocket-not-allowed.",
  "Streamed responses (server-sent events, long downloads) pass through as they are written; timeoutMs covers only the wait for response headers.",
].join("\n\n");

// ------------------------------------------------------------------ building the document

type HeaderName = "Location" | "Set-Cookie" | "WWW-Authenticate" | "Retry-After" | "RateLimit" | "RateLimit-Policy" | "X-Request-Id" | "Upgrade";

const HEADERS: Record<HeaderName, JsonObject> = {
  "X-Request-Id": { description: "The request's id: the client's own when it is 8–128 characters of A-Z a-z 0-9 . _ : -, otherwise a new UUID.", required: true, schema: { type: "string" } },
  RateLimit: { description: 'The policy\'s remaining quota and reset, e.g. `"general";r=98;t=2` (draft-ietf-httpapi-ratelimit-headers).', schema: { type: "string" } },
  "RateLimit-Policy": { description: 'The policy, e.g. `"general";q=100;w=60`.', schema: { type: "string" } },
  "Retry-After": { description: "Seconds to wait before trying again: on 429, and on 503 no-available-instance (5) and service-stopped (30).", schema: { type: "string", pattern: "^\\d+$" } },
  Location: { description: "Where the created resource, or the next page, is.", required: true, schema: { type: "string" } },
  "Set-Cookie": { description: "The dashboard session cookie (orch_session; Path=/admin; HttpOnly; SameSite=Strict; Secure outside development).", schema: { type: "string" } },
  "WWW-Authenticate": { description: 'Bearer realm="admin" or Bearer realm="registry".', required: true, schema: { type: "string" } },
  Upgrade: { description: "websocket", required: true, schema: { type: "string" } },
};

const headerRefs = (names: readonly HeaderName[] | undefined): JsonObject | undefined =>
  names === undefined || names.length === 0 ? undefined : Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));

/** The problem answers every orchestrator-owned operation can give, whatever it is. */
function commonProblems(templated: boolean): Record<number, ProblemSpec> {
  return {
    400: { problems: templated ? [P.badHeader, P.badPath] : [P.badHeader], description: "A refused header (a name with `_`, control characters, a non-numeric Content-Length)" + (templated ? " or path (`%2f`, `//`, dot segments…)." : ".") },
    413: { problems: [P.payloadTooLarge], description: "A declared Content-Length over MAX_REQUEST_BODY_BYTES." },
    429: { problems: [P.rateLimited], description: "The rate-limit class is used up, or (with a credential) the failed-authentication budget `auth-failures`.", headers: ["Retry-After", "RateLimit", "RateLimit-Policy"] },
    431: { problems: [P.headersTooLarge], description: "More than MAX_HEADER_COUNT headers, or MAX_HEADER_BYTES of them." },
    500: { problems: [P.internal], description: "A bug; logged under `requestId`." },
    503: { problems: [P.notConfigured], description: "A setting is invalid (every request answers this, naming the variable)." },
  };
}

const ROLE_ORDER: readonly Role[] = ["viewer", "operator", "admin"];

function authProblems(auth: Auth, method: OperationSpec["method"]): Record<number, ProblemSpec> {
  switch (auth.kind) {
    case "public":
      return {};
    case "session":
      return {};
    case "registry":
      return {
        401: { problems: [P.unauthorized], description: "A missing or wrong bearer token.", headers: ["WWW-Authenticate"] },
        503: { problems: [P.notConfigured], description: "Neither an admin key nor a registration token is configured." },
      };
    case "admin": {
      if (auth.optional) return {};
      const out: Record<number, ProblemSpec> = {
        401: { problems: [P.unauthorized], description: "A missing or wrong bearer token or session.", headers: ["WWW-Authenticate"] },
        503: { problems: [P.notConfigured], description: "No admin key is configured." },
      };
      // Every admin key has at least the viewer role; a cookie request that changes state must come from our own origin.
      if (ROLE_ORDER.indexOf(auth.role) > 0 || method !== "get") {
        out[403] = { problems: [P.forbidden], description: `A key or session without the ${auth.role} role (\`requiredRole\`), or a session cookie sent from another origin.` };
      }
      return out;
    }
  }
}

function security(auth: Auth): Json {
  switch (auth.kind) {
    case "public":
      return [];
    case "session":
      return [{}, { session: [] }];
    case "registry":
      return [{ registrationToken: [] }, { adminKey: [auth.access === "read" ? "viewer" : "admin"] }];
    case "admin": {
      const options: Json[] = [{ adminKey: [auth.role] }, { session: [auth.role] }];
      return auth.optional ? [{}, ...options] : options;
    }
  }
}

function isProblem(spec: ResponseSpec | ProblemSpec): spec is ProblemSpec {
  return "problems" in spec;
}

/** Merges problem answers for the same status: their types add up, their descriptions too. */
function mergeResponses(...layers: ReadonlyArray<Readonly<Record<number, ResponseSpec | ProblemSpec>>>): Map<number, ResponseSpec | ProblemSpec> {
  const merged = new Map<number, ResponseSpec | ProblemSpec>();
  for (const layer of layers) {
    for (const [key, spec] of Object.entries(layer)) {
      const status = Number(key);
      const existing = merged.get(status);
      if (existing === undefined || !isProblem(existing) || !isProblem(spec)) {
        merged.set(status, spec);
        continue;
      }
      merged.set(status, {
        problems: [...new Set([...existing.problems, ...spec.problems])],
        description: existing.description === spec.description ? spec.description : `${spec.description} ${existing.description}`,
        headers: [...new Set([...(existing.headers ?? []), ...(spec.headers ?? [])])],
      });
    }
  }
  return new Map([...merged].sort(([a], [b]) => a - b));
}

const SUCCESS_HEADERS: readonly HeaderName[] = ["X-Request-Id", "RateLimit", "RateLimit-Policy"];

function responseObject(status: number, spec: ResponseSpec | ProblemSpec, withBody: boolean): JsonObject {
  if (isProblem(spec)) {
    const schema: JsonObject = {
      allOf: [ref("Problem")],
      properties: { type: { enum: [...spec.problems] }, status: { const: status } },
    };
    const headers = headerRefs(spec.headers);
    return {
      description: spec.description,
      ...(headers === undefined ? {} : { headers }),
      ...(withBody ? { content: { "application/problem+json": { schema } } } : {}),
      "x-problem-types": [...spec.problems],
    };
  }
  const headers = headerRefs([...(status < 400 && status !== 101 ? SUCCESS_HEADERS : []), ...(spec.headers ?? [])]);
  const content = spec.content === undefined || !withBody ? undefined : Object.fromEntries(Object.entries(spec.content).map(([type, schema]): [string, JsonObject] => [type, schema === null ? {} : { schema }]));
  return { description: spec.description, ...(headers === undefined ? {} : { headers }), ...(content === undefined ? {} : { content }) };
}

function operationObject(spec: OperationSpec, head: boolean): JsonObject {
  const templated = spec.path.includes("{");
  const responses = mergeResponses(commonProblems(templated), authProblems(spec.auth, spec.method), spec.responses);
  const role = spec.auth.kind === "admin" ? spec.auth.role : spec.auth.kind === "registry" && spec.auth.access === "write" ? "admin" : null;
  const description = [spec.description, head ? "HEAD answers like GET, without a body." : null, `Rate-limit class: ${spec.rateClass}.`].filter((line) => line != null).join("\n\n");
  return {
    tags: [spec.tag],
    summary: head ? `${spec.summary} (headers only)` : spec.summary,
    description,
    operationId: head ? `${spec.operationId}Head` : spec.operationId,
    ...(spec.parameters === undefined ? {} : { parameters: [...spec.parameters] }),
    ...(spec.requestBody === undefined || head ? {} : { requestBody: spec.requestBody }),
    security: security(spec.auth),
    responses: Object.fromEntries([...responses].map(([status, response]) => [String(status), responseObject(status, response, !head)])),
    "x-rate-limit-class": spec.rateClass,
    ...(role === null ? {} : { "x-required-role": role }),
    ...(spec.devOnly ? { "x-dev-mode-only": true } : {}),
  };
}

function proxyOperation(method: (typeof PROXY_METHODS)[number], withPath: boolean): JsonObject {
  const responses = mergeResponses(commonProblems(true), method === "get" ? { ...PROXY_PROBLEMS, ...PROXY_UPGRADE_ANSWERS } : PROXY_PROBLEMS);
  const preflight: JsonObject = method === "options" ? { "204": { description: "A CORS preflight, answered by the orchestrator (Access-Control-Allow-* for allowed origins)." } } : {};
  return {
    tags: ["Proxy"],
    summary: `${method.toUpperCase()} to an instance of {service}`,
    description: "See the path's description. Rate-limit class: general, or the service's own RATE_LIMIT_SERVICES limit.",
    operationId: `proxy${method[0]?.toUpperCase()}${method.slice(1)}${withPath ? "Path" : "Root"}`,
    security: [],
    responses: {
      ...preflight,
      ...Object.fromEntries([...responses].map(([status, response]) => [String(status), responseObject(status, response, method !== "head")])),
      default: { description: "The instance's own response, passed through unchanged apart from hop-by-hop headers, X-Request-Id, the RateLimit fields, CORS and the orchestrator's Server-Timing metrics." },
    },
    "x-rate-limit-class": "general",
  };
}

const INFO_DESCRIPTION = `The HTTP API of the edge orchestrator: its own endpoints (health, metrics, registry, admin, dashboard, debug) and the proxy to the services it fronts.

**Authentication** is \`Authorization: Bearer <token>\`, exactly that form. Admin endpoints take an admin key or a dashboard session cookie; each admin key has a role, \`viewer\` < \`operator\` < \`admin\`, and each operation's role is in its security requirement and in \`x-required-role\`. Registry endpoints take a registration token (possibly limited to some services) or an admin key. A missing or wrong credential answers 401 with WWW-Authenticate; a valid one without the role answers 403 naming \`requiredRole\`; an endpoint whose key is not configured answers 503.

**Rate limits** are per client IP and per class (\`x-rate-limit-class\`): health 60/min, metrics 30/min, admin 10/min, registry 600/min, general 100/min. Failed authentications have their own budget (AUTH_FAILURE_LIMIT per period), after which any credential from that address gets 429 \`auth-failures\`. Responses carry RateLimit and RateLimit-Policy.

**Every response** carries X-Request-Id; every problem carries the request's W3C trace id (\`traceId\`). HEAD on a GET route answers like GET without a body. A wrong method on an orchestrator path answers 405 \`method-not-allowed\` with Allow and \`allowed\`. CORS preflights are answered 204 on every path. Request bodies of registry and admin endpoints are \`application/json\`, at most MAX_REGISTRY_BODY_BYTES (16 KiB), and unknown fields are refused.

**Errors** are RFC 9457 \`application/problem+json\` (the Problem schema) with a stable \`type\` URN, \`Cache-Control: no-store\`, and never a stack trace.`;

export type OpenApiDocument = JsonObject;

/** The whole document. Pure: the same every time; callers cache it. */
export function buildOpenApiDocument(): OpenApiDocument {
  const paths: Record<string, JsonObject> = {};
  for (const spec of OPERATIONS) {
    const item = (paths[spec.path] ??= {});
    item[spec.method] = operationObject(spec, false);
    if (spec.method === "get") item.head = operationObject(spec, true);
  }
  const serviceParameter = pathParameter("service", ref("ServiceName"), "The service: the first path segment.");
  const restParameter = pathParameter("path", { type: "string" }, "The rest of the path, any number of segments (slashes included), forwarded as it is.");
  const proxyItem = { summary: "Proxied to an instance of {service}", description: PROXY_DESCRIPTION };
  paths["/{service}"] = { ...proxyItem, parameters: [serviceParameter], ...Object.fromEntries(PROXY_METHODS.map((method) => [method, proxyOperation(method, false)])) };
  paths["/{service}/{path}"] = { ...proxyItem, parameters: [serviceParameter, restParameter], ...Object.fromEntries(PROXY_METHODS.map((method) => [method, proxyOperation(method, true)])) };
  const sharedResponses = shareProblemResponses(paths);

  return {
    openapi: "3.1.0",
    info: {
      title: "Edge orchestrator API",
      version: VERSION,
      description: INFO_DESCRIPTION,
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [{ url: "/", description: "The orchestrator that serves this document." }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: componentSchemas() as unknown as JsonObject,
      responses: sharedResponses,
      headers: HEADERS,
      securitySchemes: {
        adminKey: {
          type: "http",
          scheme: "bearer",
          description:
            "An admin key: ORCHESTRATOR_API_KEY or ORCHESTRATOR_API_KEY_PREVIOUS (role admin), or an ADMIN_KEYS entry with its role. The roles an operation accepts are listed in its requirement: viewer reads, operator also acts on the running fleet, admin also changes configuration.",
        },
        registrationToken: {
          type: "http",
          scheme: "bearer",
          description: "A registration token: REGISTRATION_TOKEN or REGISTRATION_TOKEN_PREVIOUS (every service), or a REGISTRATION_TOKENS entry limited to some services.",
        },
        session: {
          type: "apiKey",
          in: "cookie",
          name: "orch_session",
          description: "A dashboard session from POST /admin/login, with the role of the key that signed in. A cookie request that is not GET or HEAD, and the live WebSocket upgrade, must carry the orchestrator's own Origin.",
        },
      },
    },
  };
}

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/**
 * Problem answers that several operations give word for word become
 * components.responses, referenced where they are used: the document stays
 * a fraction of its inline size. Names come from the status and the types.
 */
function shareProblemResponses(paths: Record<string, JsonObject>): Record<string, JsonObject> {
  const operations = Object.values(paths).flatMap((item) => Object.entries(item).filter(([key]) => HTTP_METHODS.has(key)).map(([, operation]) => operation as JsonObject));
  const uses = new Map<string, number>();
  const responsesOf = (operation: JsonObject) => operation.responses as Record<string, JsonObject>;
  const isShareable = (status: string, response: JsonObject) => status !== "default" && Number(status) >= 400;
  for (const operation of operations) {
    for (const [status, response] of Object.entries(responsesOf(operation))) {
      if (!isShareable(status, response)) continue;
      const key = `${status} ${JSON.stringify(response)}`;
      uses.set(key, (uses.get(key) ?? 0) + 1);
    }
  }
  const names = new Map<string, string>();
  const components: Record<string, JsonObject> = {};
  for (const operation of operations) {
    const responses = responsesOf(operation);
    for (const [status, response] of Object.entries(responses)) {
      const key = `${status} ${JSON.stringify(response)}`;
      if (!isShareable(status, response) || (uses.get(key) ?? 0) < 2) continue;
      let name = names.get(key);
      if (name === undefined) {
        const types = problemTypesOf(response).map((type) => type.replace("urn:orchestrator:problem:", "").replace(/(^|-)([a-z])/g, (_m, _dash, letter: string) => letter.toUpperCase()));
        const base = `${status}${types.join("")}${response.content === undefined ? "Headers" : ""}`;
        name = base;
        for (let n = 2; components[name] !== undefined; n++) name = `${base}${n}`;
        names.set(key, name);
        components[name] = response;
      }
      responses[status] = { $ref: `#/components/responses/${name}` };
    }
  }
  return Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b)));
}

/** The problem types a problem response object allows (from its schema, or its x-problem-types when it has no body). */
function problemTypesOf(response: JsonObject): string[] {
  return (response["x-problem-types"] as string[] | undefined) ?? [];
}

/** Operations as (path, method) pairs, for tests: every path template and the methods documented on it. */
export function documentedOperations(document: OpenApiDocument = buildOpenApiDocument()): Array<{ path: string; method: string }> {
  const out: Array<{ path: string; method: string }> = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, JsonObject>)) {
    for (const method of Object.keys(item)) if (HTTP_METHODS.has(method)) out.push({ path, method });
  }
  return out;
}
