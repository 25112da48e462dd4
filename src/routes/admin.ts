/** Admin endpoints: service settings. Every handler here runs behind requireAdmin (see router.ts). */
import { upstreamUrlPolicy } from "../config";
import { checkUpstreamUrl } from "../core/url-guard";
import { problemResponse, validationProblem } from "../http/problem";
import type { Target } from "../contracts/registry";
import { registryStub } from "../platform/stubs";
import { edgeRouter } from "../edge/isolate-router";
import { ServiceNameSchema, ServiceSettingsBodySchema } from "../http/schemas";
import { parseWith, readJsonBody } from "../http/validation";
import { json, type Handler } from "./context";

export const putServiceSettings: Handler = async (request, env, _ctx, meta) => {
  const name = parseWith(ServiceNameSchema, request.params.name ?? "");
  if (!name.ok) return name.response;
  const body = await readJsonBody(request, meta.config.maxRegistryBodyBytes);
  if (!body.ok) return body.response;
  const parsed = parseWith(ServiceSettingsBodySchema, body.value);
  if (!parsed.ok) return parsed.response;
  const { lifecycleHook, ...settings } = parsed.value;
  // Hooks are only ever called signed (routes/lifecycle.ts): one set without the secret would never be called.
  if (lifecycleHook && meta.config.lifecycleHookSecret === undefined) {
    return validationProblem([{ field: "lifecycleHook", message: "set LIFECYCLE_HOOK_SECRET first: lifecycle hooks are always signed, and without it the hook is never called" }]);
  }
  let hook: Target | null | undefined = lifecycleHook === null ? null : undefined;
  if (lifecycleHook && "url" in lifecycleHook) {
    const check = checkUpstreamUrl(lifecycleHook.url, upstreamUrlPolicy(meta.config));
    if (!check.ok) return validationProblem([{ field: "lifecycleHook.url", message: check.message }]);
    hook = { kind: "url", url: check.url.href };
  } else if (lifecycleHook) {
    hook = { kind: "binding", binding: lifecycleHook.binding };
  }
  const result = await registryStub(env).configureService(name.value, { ...settings, ...(hook === undefined ? {} : { lifecycleHook: hook }) });
  if (!result.ok) return problemResponse(result.problem);
  edgeRouter(env).invalidate();
  return json(result.service, result.created ? 201 : 200);
};

export const listServicesAdmin: Handler = async (_request, env) => json(await registryStub(env).snapshot(), 200, { "cache-control": "no-store" });
