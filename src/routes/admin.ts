/** Admin endpoints: service settings. Every handler here runs behind requireAdmin (see router.ts). */
import { problemResponse } from "../problem";
import { registryStub } from "../registry-client";
import { ServiceNameSchema, ServiceSettingsBodySchema } from "../schemas";
import { parseWith, readJsonBody } from "../validation";
import { json, type Handler } from "./context";

export const putServiceSettings: Handler = async (request, env, _ctx, meta) => {
  const name = parseWith(ServiceNameSchema, request.params.name ?? "");
  if (!name.ok) return name.response;
  const body = await readJsonBody(request, meta.config.maxRegistryBodyBytes);
  if (!body.ok) return body.response;
  const parsed = parseWith(ServiceSettingsBodySchema, body.value);
  if (!parsed.ok) return parsed.response;
  const result = await registryStub(env).configureService(name.value, parsed.value);
  if (!result.ok) return problemResponse(result.problem);
  return json(result.service, result.created ? 201 : 200);
};

export const listServicesAdmin: Handler = async (_request, env) => json(await registryStub(env).snapshot(), 200, { "cache-control": "no-store" });
