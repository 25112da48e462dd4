/**
 * Autoscaling policies and the decision log.
 * PUT    /admin/services/{name}/autoscaling   set the policy (validated)
 * DELETE /admin/services/{name}/autoscaling   remove it
 * GET    /admin/autoscaling                   policies, current and standby counts, decision logs
 */
import { validatePolicy } from "../core/autoscale";
import { problemResponse, validationProblem } from "../http/problem";
import { registryStub } from "../platform/stubs";
import { AutoscalePolicyBodySchema, ServiceNameSchema } from "../http/schemas";
import { parseWith, readJsonBody } from "../http/validation";
import { json, type Handler } from "./context";

export const putAutoscaling: Handler = async (request, env, _ctx, meta) => {
  const name = parseWith(ServiceNameSchema, decodeURIComponent(request.params.name ?? ""));
  if (!name.ok) return name.response;
  const body = await readJsonBody(request, meta.config.maxRegistryBodyBytes);
  if (!body.ok) return body.response;
  const parsed = parseWith(AutoscalePolicyBodySchema, body.value);
  if (!parsed.ok) return parsed.response;
  const problems = validatePolicy(parsed.value);
  if (problems.length > 0) return validationProblem(problems.map((p) => ({ field: p.field, message: p.message })));
  const result = await registryStub(env).setAutoscalePolicy(name.value, parsed.value);
  if (!result.ok) return problemResponse(result.problem);
  return json({ service: name.value, policy: result.policy });
};

export const deleteAutoscaling: Handler = async (request, env) => {
  const name = parseWith(ServiceNameSchema, decodeURIComponent(request.params.name ?? ""));
  if (!name.ok) return name.response;
  const result = await registryStub(env).setAutoscalePolicy(name.value, null);
  if (!result.ok) return problemResponse(result.problem);
  return json({ service: name.value, policy: null });
};

export const getAutoscaling: Handler = async (_request, env) => json({ services: await registryStub(env).autoscaleViews() }, 200, { "cache-control": "no-store" });
