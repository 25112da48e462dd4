/** `GET /health` and `GET /health/workers`, in the shapes the seed README shows. */
import { setOwn } from "../core/metrics/own";
import { errorClassOf } from "../core/upstream-errors";
import { registryStub } from "../platform/stubs";
import type { ServiceView } from "../contracts/registry";
import { json, type Handler } from "./context";

export const VERSION = "1.0.0";

// Date.now() is frozen at 0 during Worker start-up, so the isolate's start is
// taken at its first request.
let isolateStartedAt: number | null = null;

export const getHealth: Handler = (_request, _env, _ctx, meta) => {
  isolateStartedAt ??= meta.receivedAt;
  return json(
    {
      status: "healthy",
      version: VERSION,
      environment: meta.config.environment,
      timestamp: new Date(meta.receivedAt).toISOString(),
      uptime: meta.receivedAt - isolateStartedAt,
    },
    200,
    { "cache-control": "no-store" },
  );
};

export const getWorkersHealth: Handler = async (_request, env, _ctx, meta) => {
  const snapshot = await registryStub(env).snapshot();
  const workers: Record<string, unknown> = {};
  // Defined, not assigned: every service name becomes an own key, whatever it is.
  for (const service of snapshot.services) setOwn(workers, service.name, workerHealth(service));
  return json(
    { status: overallStatus(snapshot.services), timestamp: new Date(meta.receivedAt).toISOString(), workers },
    200,
    { "cache-control": "no-store" },
  );
};

function workerHealth(service: ServiceView) {
  const active = service.instances.filter((i) => i.adminState === "active");
  return {
    // A service whose instances were all stopped one by one reads as stopped (views.ts statusOf).
    status: service.status,
    responseTime: average(active.map(responseTimeOf)),
    healthyInstances: active.filter((i) => i.health === "healthy").length,
    totalInstances: service.instances.length,
    panic: service.panic,
    strategy: service.strategy,
    versions: versionCounts(service),
    instances: service.instances.map((i) => ({
      id: i.id,
      status: i.adminState === "stopped" ? "stopped" : i.health,
      responseTime: responseTimeOf(i),
      lastCheckAt: i.activeCheck.lastCheckAt,
      lastResult: i.activeCheck.lastResult,
      lastError: i.activeCheck.lastError,
      lastErrorClass: errorClassOf(i.activeCheck.lastError),
      consecutiveFailures: i.activeCheck.consecutiveFailures,
      ejectedUntil: i.ejectedUntil,
      heartbeat: i.static ? null : i.checkStatus,
      inflight: i.inflight,
      effectiveWeight: i.effectiveWeight,
      version: i.version,
    })),
  };
}

/** Per declared version: its instances and how many of those in rotation are healthy (a release's two sides at a glance). */
function versionCounts(service: ServiceView): Record<string, { totalInstances: number; healthyInstances: number }> {
  const versions: Record<string, { totalInstances: number; healthyInstances: number }> = {};
  for (const i of service.instances) {
    if (i.version === null) continue;
    const counts = Object.hasOwn(versions, i.version) ? (versions[i.version] as { totalInstances: number; healthyInstances: number }) : { totalInstances: 0, healthyInstances: 0 };
    counts.totalInstances++;
    if (i.adminState === "active" && i.health === "healthy") counts.healthyInstances++;
    setOwn(versions, i.version, counts);
  }
  return versions;
}

/** Recent traffic latency when there is traffic, else the last probe's. */
function responseTimeOf(instance: ServiceView["instances"][number]): number | null {
  return instance.responseTimeMs ?? instance.activeCheck.lastLatencyMs;
}

function average(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : Math.round(known.reduce((a, b) => a + b, 0) / known.length);
}

/** Unhealthy when any service with instances has none usable; degraded when any is short of fully healthy. */
function overallStatus(services: readonly ServiceView[]): "healthy" | "degraded" | "unhealthy" {
  if (services.some((s) => s.status === "unhealthy")) return "unhealthy";
  if (services.some((s) => s.status !== "healthy")) return "degraded";
  return "healthy";
}
