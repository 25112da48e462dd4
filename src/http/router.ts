/**
 * The itty-router pipeline: request id and config (in index.ts) → routes →
 * problem+json for anything thrown → security headers and the access log.
 */
import { type IRequest, Router } from "itty-router";
import { RESERVED_SEGMENTS } from "../core/services";
import { splitServicePath } from "../core/paths";
import { authorize } from "../middleware/auth";
import type { Role } from "../core/credentials";
import { metricsStub, registryStub } from "../platform/stubs";
import { getAudit, lifecycleAction } from "../routes/lifecycle";
import { deleteSilence, getAlerts, getSilences, postSilence } from "../routes/alerts";
import { getMetrics, getWorkerMetrics } from "../routes/metrics";
import { deleteAutoscaling, getAutoscaling, putAutoscaling } from "../routes/autoscaling";
import { getDashboard, getDashboardAsset, getDashboardLive, getDashboardState, postLogin, postLogout } from "../routes/dashboard";
import { problem, ProblemType, problemTypeOf } from "./problem";
import { listServicesAdmin, putServiceSettings } from "../routes/admin";
import { auditActor, type Handler, type RouteArgs } from "../routes/context";
import { devOnly, getDebugConfig, getDebugDoCalls, getDebugRegistry } from "../routes/debug";
import { getHealth, getWorkersHealth } from "../routes/health";
import { getRelease, getReleases, postRelease, releaseAction } from "../routes/releases";
import { getOpenApi } from "../routes/openapi";
import { proxyToService } from "../routes/proxy";
import { deregisterInstance, heartbeatInstance, listServices, registerInstance } from "../routes/registry";

/**
 * Admin endpoints by the role they need: `viewer` reads, `operator` acts on
 * the running fleet (lifecycle, silences), `admin` changes configuration.
 */
const needs =
  (role: Role) =>
  (handler: Handler): Handler =>
  async (request, env, ctx, meta) => {
    const authorized = await authorize(request, meta.config, env, role);
    if (!authorized.ok) return authorized.response;
    meta.principal = authorized.principal;
    return handler(request, env, ctx, meta);
  };
const viewer = needs("viewer");
const operator = needs("operator");
const admin = needs("admin");

/**
 * An action that changes state: authorized for `role`, then recorded in the
 * audit log (in order, awaited, whatever its result) with the acting key's
 * fingerprint and role, never the key itself.
 */
const audited = (role: Role, action: (request: IRequest) => string, handler: Handler): Handler =>
  needs(role)(async (request, env, ctx, meta) => {
    let response: Response | undefined;
    try {
      response = await handler(request, env, ctx, meta);
      return response;
    } finally {
      ctx.waitUntil(metricsStub(env).notifyChanged().catch(() => undefined));
      const target = [request.params.name, request.params.id].filter((p): p is string => p !== undefined).map(safeDecode).join("/");
      try {
        await registryStub(env).recordAudit({
          action: action(request),
          target,
          status: response?.status ?? 500,
          ...auditActor(meta),
          requestId: meta.requestId,
          ...(response && response.status >= 400 ? { detail: problemTypeOf(response) ?? `HTTP ${response.status}` } : {}),
        });
      } catch (error) {
        // The action itself took effect; its answer must not turn into a 500. The gap is logged loudly.
        console.error(JSON.stringify({ level: "error", requestId: meta.requestId, traceId: meta.trace.traceId, message: "audit write failed", action: action(request), target, error: String(error) }));
      }
    }
  });

/**
 * Orchestrator-owned paths and the methods each allows, for 405 answers
 * (the OpenAPI test checks the document against it).
 */
export const OWN_ROUTES: ReadonlyArray<readonly [pattern: RegExp, methods: readonly string[]]> = [
  [/^\/health$/, ["GET", "HEAD"]],
  [/^\/openapi\.json$/, ["GET", "HEAD"]],
  [/^\/health\/workers$/, ["GET", "HEAD"]],
  [/^\/registry\/services$/, ["GET", "HEAD"]],
  [/^\/registry\/instances$/, ["POST"]],
  [/^\/registry\/instances\/[^/]+$/, ["DELETE"]],
  [/^\/registry\/instances\/[^/]+\/heartbeat$/, ["PUT"]],
  [/^\/admin\/services$/, ["GET", "HEAD"]],
  [/^\/admin\/services\/[^/]+$/, ["PUT"]],
  [/^\/admin\/services\/[^/]+\/autoscaling$/, ["PUT", "DELETE"]],
  [/^\/admin\/autoscaling$/, ["GET", "HEAD"]],
  [/^\/admin\/services\/[^/]+\/releases$/, ["GET", "HEAD", "POST"]],
  [/^\/admin\/services\/[^/]+\/releases\/[^/]+$/, ["GET", "HEAD"]],
  [/^\/admin\/services\/[^/]+\/releases\/[^/]+\/(promote|abort|pause|resume)$/, ["POST"]],
  [/^\/admin\/workers\/[^/]+\/(stop|start|restart)$/, ["POST"]],
  [/^\/admin\/workers\/[^/]+\/instances\/[^/]+\/(stop|start|restart)$/, ["POST"]],
  [/^\/admin\/audit$/, ["GET", "HEAD"]],
  [/^\/admin\/dashboard(\/state|\/live)?$/, ["GET", "HEAD"]],
  [/^\/admin\/(login|logout)$/, ["POST"]],
  [/^\/admin\/alerts$/, ["GET", "HEAD"]],
  [/^\/admin\/silences$/, ["GET", "HEAD", "POST"]],
  [/^\/admin\/silences\/[^/]+$/, ["DELETE"]],
  [/^\/metrics$/, ["GET", "HEAD"]],
  [/^\/metrics\/worker\/[^/]+$/, ["GET", "HEAD"]],
  [/^\/admin\/dashboard\/assets\/.+$/, ["GET", "HEAD"]],
  [/^\/debug\/(config|registry|do-calls)$/, ["GET", "HEAD"]],
  [/^\/$/, ["GET", "HEAD"]],
];

// Paths were already checked by the hygiene step (core/paths.ts checkPath).
const proxy: Handler = (request, env, ctx, meta) => {
  const pathname = meta.url.pathname;
  const { service, rest } = splitServicePath(pathname);
  // `/` itself (any method but GET) and the orchestrator's own names are never a service.
  if (service === "" || RESERVED_SEGMENTS.has(service)) return ownPathFallback(request.method, pathname);
  meta.service = service;
  return proxyToService(request, service, rest, { env, ctx, meta });
};

function ownPathFallback(method: string, pathname: string): Response {
  const route = OWN_ROUTES.find(([pattern]) => pattern.test(pathname));
  if (route) {
    return problem(405, ProblemType.methodNotAllowed, "Method not allowed", `${method} is not allowed here.`, { allowed: route[1] }, {
      allow: route[1].join(", "),
    });
  }
  return problem(404, ProblemType.notFound, "Not found", `Nothing is at ${pathname}.`);
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** After an operator action, push the change to live dashboards at once. */
const notifying =
  (handler: Handler): Handler =>
  async (request, env, ctx, meta) => {
    const response = await handler(request, env, ctx, meta);
    ctx.waitUntil(metricsStub(env).notifyChanged().catch(() => undefined));
    return response;
  };

const LIFECYCLE_ACTIONS = new Set(["stop", "start", "restart"]);

/** Unknown actions are 404 before they reach the handler (and the audit log records the attempt). */
const lifecycleGuard =
  (handler: Handler): Handler =>
  (request, ...args) =>
    LIFECYCLE_ACTIONS.has(request.params.action ?? "")
      ? handler(request, ...args)
      : problem(404, ProblemType.notFound, "Not found", "The action must be stop, start or restart.", { field: "action" });

const rootIndex: Handler = () =>
  problem(404, ProblemType.notFound, "Not found", "Use /{service}/… to reach a service, /health for status.");

export const router = Router<IRequest, RouteArgs, Response>({
  catch: (error: unknown, _request, _env, _ctx, meta) => {
    console.error(JSON.stringify({ level: "error", requestId: meta.requestId, traceId: meta.trace.traceId, message: "unhandled error", error: String(error) }));
    return problem(500, ProblemType.internal, "Internal error", "The orchestrator hit an unexpected error; it has been logged.", {
      requestId: meta.requestId,
    });
  },
});

router
  .get("/health", getHealth)
  .get("/health/workers", getWorkersHealth)
  .get("/openapi.json", getOpenApi)
  .get("/registry/services", listServices)
  .post("/registry/instances", registerInstance)
  .put("/registry/instances/:id/heartbeat", heartbeatInstance)
  .delete("/registry/instances/:id", deregisterInstance)
  .get("/admin/services", viewer(listServicesAdmin))
  .put("/admin/services/:name", audited("admin", () => "service.configure", putServiceSettings))
  .put("/admin/services/:name/autoscaling", audited("admin", () => "autoscaling.configure", putAutoscaling))
  .delete("/admin/services/:name/autoscaling", audited("admin", () => "autoscaling.remove", deleteAutoscaling))
  .get("/admin/autoscaling", viewer(getAutoscaling))
  // Releases: the registry audits each transition in the turn that makes it (routes/releases.ts).
  .post("/admin/services/:name/releases", admin(notifying(postRelease)))
  .get("/admin/services/:name/releases", viewer(getReleases))
  .get("/admin/services/:name/releases/:id", viewer(getRelease))
  .post("/admin/services/:name/releases/:id/promote", operator(notifying(releaseAction("promote"))))
  .post("/admin/services/:name/releases/:id/abort", operator(notifying(releaseAction("abort"))))
  .post("/admin/services/:name/releases/:id/pause", operator(notifying(releaseAction("pause"))))
  .post("/admin/services/:name/releases/:id/resume", operator(notifying(releaseAction("resume"))))
  // Lifecycle actions write their own audit entries, in the registry's order (routes/lifecycle.ts).
  .post("/admin/workers/:name/:action", operator(lifecycleGuard(notifying(lifecycleAction))))
  .post("/admin/workers/:name/instances/:id/:action", operator(lifecycleGuard(notifying(lifecycleAction))))
  .get("/admin/audit", viewer(getAudit))
  .get("/admin/dashboard", getDashboard)
  .get("/admin/dashboard/state", viewer(getDashboardState))
  .get("/admin/dashboard/live", viewer(getDashboardLive))
  .get("/admin/dashboard/assets/*", getDashboardAsset)
  .post("/admin/login", postLogin)
  .post("/admin/logout", postLogout)
  .get("/admin/alerts", viewer(getAlerts))
  .get("/admin/silences", viewer(getSilences))
  .post("/admin/silences", audited("operator", () => "silence.create", postSilence))
  .delete("/admin/silences/:id", audited("operator", () => "silence.expire", deleteSilence))
  .get("/metrics", getMetrics)
  .get("/metrics/worker/:name", getWorkerMetrics)
  .get("/debug/config", devOnly(admin(getDebugConfig)))
  .get("/debug/registry", devOnly(admin(getDebugRegistry)))
  .get("/debug/do-calls", devOnly(admin(getDebugDoCalls)))
  .get("/", rootIndex)
  .all("*", proxy);
