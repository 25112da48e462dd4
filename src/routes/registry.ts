/**
 * Dynamic service discovery: instances register, heartbeat and deregister
 * with a bearer token: a registration token, which may be limited to some
 * services (REGISTRATION_TOKENS), or an admin key with the admin role.
 */
import * as v from "valibot";
import { checkUpstreamUrl } from "../core/url-guard";
import { serviceInScope } from "../core/credentials";
import { upstreamUrlPolicy } from "../config";
import { authorizeRegistry, outOfScope } from "../middleware/auth";
import { problem, problemResponse, ProblemType, validationProblem } from "../http/problem";
import { registryStub } from "../platform/stubs";
import { edgeRouter } from "../edge/isolate-router";
import type { Target } from "../contracts/registry";
import { HeartbeatBodySchema, InstanceIdSchema, RegisterBodySchema } from "../http/schemas";
import { parseWith, readJsonBody } from "../http/validation";
import { json, type Handler } from "./context";

export const registerInstance: Handler = async (request, env, _ctx, meta) => {
  const authorized = await authorizeRegistry(request, meta.config, "write");
  if (!authorized.ok) return authorized.response;
  meta.principal = authorized.principal;
  const body = await readJsonBody(request, meta.config.maxRegistryBodyBytes);
  if (!body.ok) return body.response;
  const parsed = parseWith(RegisterBodySchema, body.value);
  if (!parsed.ok) return parsed.response;
  const input = parsed.value;
  const refused = outOfScope(authorized.principal, input.service);
  if (refused) return refused;
  let target: Target;
  if (input.url !== undefined) {
    const check = checkUpstreamUrl(input.url, upstreamUrlPolicy(meta.config));
    if (!check.ok) return validationProblem([{ field: "url", message: check.message }]);
    target = { kind: "url", url: check.url.href };
  } else {
    target = { kind: "binding", binding: input.binding as string };
  }
  const result = await registryStub(env).register({
    service: input.service,
    target,
    weight: input.weight ?? 1,
    metadata: input.metadata ?? {},
    ...(input.version === undefined ? {} : { version: input.version }),
    ...(input.ttlSeconds === undefined ? {} : { ttlSeconds: input.ttlSeconds }),
    ...(input.standby ? { standby: true } : {}),
  });
  if (!result.ok) return problemResponse(result.problem);
  // Routed through this isolate from its next request on; other isolates within their soft TTL.
  edgeRouter(env).invalidate();
  return json({ id: result.id, service: result.service, ttlSeconds: result.ttlSeconds }, 201, {
    location: `/registry/instances/${result.id}`,
  });
};

export const heartbeatInstance: Handler = async (request, env, _ctx, meta) => {
  const authorized = await authorizeRegistry(request, meta.config, "write");
  if (!authorized.ok) return authorized.response;
  meta.principal = authorized.principal;
  const id = instanceIdParam(request.params.id);
  if (id === null) return unknownInstance();
  let report: v.InferOutput<typeof HeartbeatBodySchema> = {};
  if (hasBody(request)) {
    const body = await readJsonBody(request, meta.config.maxRegistryBodyBytes);
    if (!body.ok) return body.response;
    const parsed = parseWith(HeartbeatBodySchema, body.value);
    if (!parsed.ok) return parsed.response;
    report = parsed.value;
  }
  // The registry checks the instance's service against the token's scope, in the same call.
  const result = await registryStub(env).heartbeat(id, report, authorized.principal.services);
  if (!result.ok) return problemResponse(result.problem);
  return json({ id: result.id, checkStatus: result.checkStatus, ttlSeconds: result.ttlSeconds });
};

export const deregisterInstance: Handler = async (request, env, _ctx, meta) => {
  const authorized = await authorizeRegistry(request, meta.config, "write");
  if (!authorized.ok) return authorized.response;
  meta.principal = authorized.principal;
  const id = instanceIdParam(request.params.id);
  if (id === null) return unknownInstance();
  const result = await registryStub(env).deregister(id, authorized.principal.services);
  if (!result.ok) return problemResponse(result.problem);
  edgeRouter(env).invalidate();
  return json({ id: result.id, deregistered: true });
};

export const listServices: Handler = async (request, env, _ctx, meta) => {
  const authorized = await authorizeRegistry(request, meta.config, "read");
  if (!authorized.ok) return authorized.response;
  meta.principal = authorized.principal;
  const snapshot = await registryStub(env).snapshot();
  // A scoped token sees only its own services: the others' instance URLs are none of its business.
  const scope = authorized.principal.services;
  const visible = scope === null ? snapshot : { ...snapshot, services: snapshot.services.filter((service) => serviceInScope(scope, service.name)) };
  return json(visible, 200, { "cache-control": "no-store" });
};

function instanceIdParam(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return null;
  }
  return v.is(InstanceIdSchema, decoded) ? decoded : null;
}

function unknownInstance(): Response {
  return problem(404, ProblemType.unknownInstance, "Unknown instance", "No instance has that id.", { field: "id" });
}

/** A heartbeat may come with or without a load report. */
function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  if (length !== null) return length.trim() !== "0";
  return request.body !== null && request.headers.has("content-type");
}
