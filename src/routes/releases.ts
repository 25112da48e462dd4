/**
 * Progressive delivery (issue #20): releases of a version against the rest of
 * its service.
 *
 * POST /admin/services/{name}/releases                     start one (admin)
 * GET  /admin/services/{name}/releases                     newest first, with the current analysis (viewer)
 * GET  /admin/services/{name}/releases/{id}                one (viewer)
 * POST /admin/services/{name}/releases/{id}/promote        jump to 100 % now (operator)
 * POST /admin/services/{name}/releases/{id}/abort          weight 0 now (operator)
 * POST /admin/services/{name}/releases/{id}/pause|resume   hold the step / go on with a fresh window (operator)
 *
 * The registry makes and audits every transition in one turn (its alarm is
 * the controller); a request refused before it reaches the registry (a bad
 * body) is audited here, so every attempt is in the log either way.
 */
import type { IRequest } from "itty-router";
import * as v from "valibot";
import type { ReleaseAction, ReleaseResult } from "../contracts/registry";
import { normalizeReleaseSpec } from "../core/release/spec";
import { edgeRouter } from "../edge/isolate-router";
import { problem, problemResponse, ProblemType, problemTypeOf, validationProblem } from "../http/problem";
import { ReleaseBodySchema, ReleaseIdSchema, ServiceNameSchema } from "../http/schemas";
import { parseWith, readJsonBody } from "../http/validation";
import { registryStub } from "../platform/stubs";
import { auditActor, json, type Handler, type RequestMeta } from "./context";

export const postRelease: Handler = async (request, env, _ctx, meta) => {
  const refused = (response: Response) => auditedRefusal(env, meta, "release.start", serviceParam(request), response);
  const name = parseWith(ServiceNameSchema, serviceParam(request));
  if (!name.ok) return refused(name.response);
  const body = await readJsonBody(request, meta.config.maxRegistryBodyBytes);
  if (!body.ok) return refused(body.response);
  const parsed = parseWith(ReleaseBodySchema, body.value);
  if (!parsed.ok) return refused(parsed.response);
  // The relations the schema cannot state (steps increasing to 100, a threshold): every problem at once.
  const spec = normalizeReleaseSpec(parsed.value);
  if (!spec.ok) return refused(validationProblem(spec.problems));
  const started = await registryStub(env).startRelease(name.value, parsed.value, requester(meta));
  if (!started.ok) return problemResponse(started.problem);
  // Routed from this isolate's next request on; other isolates within their soft TTL.
  edgeRouter(env).invalidate();
  return json(started.release, 201, { location: `/admin/services/${name.value}/releases/${started.release.id}` });
};

export const getReleases: Handler = async (request, env) => {
  const name = parseWith(ServiceNameSchema, serviceParam(request));
  if (!name.ok) return name.response;
  const listed = await registryStub(env).listReleases(name.value);
  if (!listed.ok) return problemResponse(listed.problem);
  return json({ service: listed.service, releases: listed.releases }, 200, { "cache-control": "no-store" });
};

export const getRelease: Handler = async (request, env) => {
  const name = parseWith(ServiceNameSchema, serviceParam(request));
  if (!name.ok) return name.response;
  const id = releaseIdParam(request);
  if (id === null) return unknownRelease();
  return answer(await registryStub(env).getRelease(name.value, id), 200);
};

/** promote, abort, pause or resume: 409 when it does not apply to the release's state. */
export function releaseAction(action: ReleaseAction): Handler {
  return async (request, env, _ctx, meta) => {
    const id = releaseIdParam(request);
    const target = `${serviceParam(request)}/${id ?? request.params.id ?? ""}`;
    const name = parseWith(ServiceNameSchema, serviceParam(request));
    if (!name.ok) return auditedRefusal(env, meta, `release.${action}`, target, name.response);
    if (id === null) return auditedRefusal(env, meta, `release.${action}`, target, unknownRelease());
    const acted = await registryStub(env).actOnRelease(name.value, id, action, requester(meta));
    if (acted.ok) edgeRouter(env).invalidate();
    return answer(acted, 200);
  };
}

function answer(result: ReleaseResult, status: number): Response {
  return result.ok ? json(result.release, status, { "cache-control": "no-store" }) : problemResponse(result.problem);
}

function requester(meta: RequestMeta) {
  return { ...auditActor(meta), requestId: meta.requestId };
}

function serviceParam(request: IRequest): string {
  return safeDecode(request.params.name ?? "");
}

function releaseIdParam(request: IRequest): string | null {
  const raw = safeDecode(request.params.id ?? "");
  return v.is(ReleaseIdSchema, raw) ? raw : null;
}

function unknownRelease(): Response {
  return problem(404, ProblemType.notFound, "Unknown release", "No release has that id.", { field: "id" });
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A request refused before the registry saw it, written to the audit log like any attempt (a failed write is logged, not answered). */
async function auditedRefusal(env: Env, meta: RequestMeta, action: string, target: string, response: Response): Promise<Response> {
  try {
    await registryStub(env).recordAudit({ action, target, status: response.status, ...auditActor(meta), requestId: meta.requestId, detail: problemTypeOf(response) ?? `HTTP ${response.status}` });
  } catch (error) {
    console.error(JSON.stringify({ level: "error", requestId: meta.requestId, message: "audit write failed", action, target, error: String(error) }));
  }
  return response;
}
