/**
 * Operator lifecycle: stop, start and restart a service or one instance.
 *
 * stop    leaves rotation at once for new requests, then waits (up to
 *         DRAIN_TIMEOUT_MS) for requests already in flight to finish. Open
 *         WebSocket connections are closed with 1001 by the isolates holding
 *         them, DRAIN_TIMEOUT_MS after each sees the stop; the answer waits
 *         for that too (a few seconds more) and says how many were closed.
 * start   back in rotation, with slow start.
 * restart drain, forget health and ejection state, call the service's
 *         lifecycle hook (POST /__lifecycle/restart, signed) if one is
 *         configured, then back in rotation.
 * Each is idempotent and answers with the resulting state. Each is audited by
 * the registry in the same turn as the change it makes (not after a drain), so
 * the audit log's order is the order the changes took effect.
 */
import type { Config } from "../config";
import { parseWith } from "../http/validation";
import { AuditQuerySchema } from "../http/schemas";
import { problemResponse } from "../http/problem";
import { registryStub } from "../platform/stubs";
import type { LifecycleAction, LifecycleState, Target } from "../contracts/registry";
import { callUpstream, pathOnTheWire } from "../upstream/call-upstream";
import { hookSignatureHeaders } from "../core/hook-signature";
import { formatTraceparent, type TraceContext } from "../core/trace-context";
import { edgeRouter } from "../edge/isolate-router";
import { auditActor, json, type Handler } from "./context";

const DRAIN_POLL_MS = 100;
const HOOK_TIMEOUT_MS = 10_000;

export const lifecycleAction: Handler = async (request, env, _ctx, meta) => {
  const action = request.params.action as LifecycleAction;
  const service = decodeURIComponent(request.params.name ?? "");
  const instance = request.params.id === undefined ? null : decodeURIComponent(request.params.id);
  const registry = registryStub(env);

  const audit = {
    action: `${instance === null ? "service" : "instance"}.${action}`,
    target: instance === null ? service : `${service}/${instance}`,
    ...auditActor(meta),
    requestId: meta.requestId,
  };
  // Each change applies in this isolate from its next request on (the router waits for the
  // registry's table then); other isolates pick it up within their soft TTL.
  if (action === "start") {
    const started = await registry.setAdminState(service, instance, "active", audit);
    edgeRouter(env).invalidate();
    return started.ok ? json(view(started, action)) : problemResponse(started.problem);
  }
  const stopped = await registry.setAdminState(service, instance, "stopped", audit);
  edgeRouter(env).invalidate();
  if (!stopped.ok) return problemResponse(stopped.problem);
  const drained = await drain(env, service, instance, meta.config, stopped.websockets);
  if (!drained.state.ok) return problemResponse(drained.state.problem);
  if (action === "stop") return json(view(drained.state, action, { drained: drained.complete, changed: stopped.changed, websocketsClosed: drained.websocketsClosed }));

  await registry.resetHealth(service, instance);
  const hook = (await registry.service(service))?.lifecycleHook ?? null;
  const hookResult = hook === null ? null : await callHook(env, meta.config, hook, service, instance, meta.requestId, meta.trace);
  const started = await registry.setAdminState(service, instance, "active");
  edgeRouter(env).invalidate();
  if (!started.ok) return problemResponse(started.problem);
  return json(view(started, action, { drained: drained.complete, changed: true, websocketsClosed: drained.websocketsClosed, hook: hookResult }));
};

function view(state: LifecycleState, action: LifecycleAction, extra: Record<string, unknown> = {}) {
  return { action, service: state.service, instance: state.instance, adminState: state.adminState, inflight: state.inflight, websockets: state.websockets, changed: state.changed, ...extra };
}

/**
 * Polls until nothing is in flight to what was stopped, or the drain timeout passes. The
 * registry counts every isolate's last report; this isolate's own requests are reported
 * before each poll, and other isolates report a request ending on a stopped instance
 * within their soft TTL (src/edge/edge-router.ts).
 *
 * Open WebSocket connections end later: each isolate closes them the drain timeout after
 * its table shows the stop (within a report interval), then reports within a soft TTL.
 * While only connections remain, the poll waits that much longer for them, and the answer
 * counts those that closed (the most seen open, less those still open at the end).
 */
async function drain(env: Env, service: string, instance: string | null, config: Config, openAtStop: number) {
  const registry = registryStub(env);
  const deadline = Date.now() + config.drainTimeoutMs;
  const socketDeadline = deadline + socketCloseGraceMs(config);
  let mostOpen = openAtStop;
  for (;;) {
    await edgeRouter(env).reportNow().catch((error: unknown) => console.error(JSON.stringify({ level: "error", message: "edge report before a drain poll failed", error: String(error) })));
    const state = await registry.lifecycle(service, instance);
    // Deregistered while draining: nothing is left to wait for, and nothing to answer but that.
    if (!state.ok) return { state, complete: true, websocketsClosed: mostOpen };
    mostOpen = Math.max(mostOpen, state.websockets);
    const result = { state, websocketsClosed: mostOpen - state.websockets };
    if (state.inflight === 0) return { ...result, complete: true };
    const now = Date.now();
    const onlySockets = state.inflight === state.websockets;
    if (now >= (onlySockets ? socketDeadline : deadline)) return { ...result, complete: false };
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
}

/** How long after the drain timeout connections may take to close and be reported: the isolates' report interval to see the stop, a tick to act, a soft TTL to report, and a second to spare. */
function socketCloseGraceMs(config: Config): number {
  return config.edge.reportIntervalMs + 2 * config.edge.softTtlMs + 1_000;
}

const HOOK_PATH = "/__lifecycle/restart";
const NO_HOOK_SECRET = "LIFECYCLE_HOOK_SECRET is not set: lifecycle hooks are always signed";

/**
 * POST /__lifecycle/restart to the service's hook, signed (core/hook-signature.ts)
 * over the exact body sent and the path as the hook receives it (after a URL
 * hook's base path). Without a secret the hook is not called at all: an
 * unsigned call would teach receivers to accept unsigned calls, which anyone
 * who can reach them could then send (security review finding 4).
 * The body's `id` is the admin request's id, so a receiver can drop a replay
 * of a call it has already acted on. The call carries the admin request's
 * trace (traceparent, outside the signature) and is logged with its trace id,
 * so the instance's side of a restart can be found in its logs.
 */
async function callHook(env: Env, config: Config, hook: Target, service: string, instance: string | null, requestId: string, trace: TraceContext) {
  const secret = config.lifecycleHookSecret;
  if (secret === undefined) {
    console.warn(JSON.stringify({ level: "warn", requestId, traceId: trace.traceId, message: "lifecycle hook not called", service, error: NO_HOOK_SECRET }));
    return { called: false, ok: false, error: NO_HOOK_SECRET };
  }
  const now = Date.now();
  const body = JSON.stringify({ action: "restart", service, instance, id: requestId, at: new Date(now).toISOString() });
  const signature = await hookSignatureHeaders(secret, now, "POST", pathOnTheWire(hook, HOOK_PATH), body);
  const result = await callUpstream(
    env,
    config,
    hook,
    HOOK_PATH,
    {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-request-id": requestId,
        traceparent: formatTraceparent(trace),
        ...(trace.tracestate === null ? {} : { tracestate: trace.tracestate }),
        ...signature,
      },
      body,
    },
    HOOK_TIMEOUT_MS,
  );
  let outcome: { called: true; ok: boolean; status?: number; error?: string };
  if (result.kind !== "response") {
    outcome = { called: true, ok: false, error: result.kind === "connect" ? result.error : result.kind };
  } else {
    await result.response.body?.cancel();
    outcome = { called: true, ok: result.response.ok, status: result.response.status };
  }
  const { ok, status, error } = outcome;
  console.log(JSON.stringify({ level: ok ? "info" : "warn", requestId, traceId: trace.traceId, spanId: trace.spanId, message: "lifecycle hook called", service, instance, ok, status, error }));
  return outcome;
}

export const getAudit: Handler = async (request, env) => {
  const query = parseWith(AuditQuerySchema, { ...request.query });
  if (!query.ok) return query.response;
  const { limit, before } = query.value;
  const entries = await registryStub(env).audit(limit, before ?? null);
  return json({ entries, nextBefore: entries.length === limit ? (entries[entries.length - 1]?.seq ?? null) : null }, 200, { "cache-control": "no-store" });
};
