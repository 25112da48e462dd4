/**
 * Worker entry: the edge of the orchestrator. Builds each request's context
 * (config, request id), runs the router, and finishes every response the same
 * way: request id, security headers on our own responses, one access-log line.
 */
import { configFor, ConfigError } from "./config";
import { problem, ProblemType } from "./problem";
import { requestIdFor } from "./middleware/request-id";
import { finishResponse, logAccess } from "./middleware/response";
import type { RequestMeta } from "./routes/context";
import { router } from "./router";

export { RegistryDO } from "../durable-objects/registry";

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const receivedAt = Date.now();
    const requestId = requestIdFor(request);
    let meta: RequestMeta;
    try {
      meta = { config: configFor(env), requestId, receivedAt };
    } catch (error) {
      const variable = error instanceof ConfigError ? error.variable : "env";
      console.error(JSON.stringify({ level: "error", requestId, message: "invalid configuration", error: String(error) }));
      return problem(503, ProblemType.notConfigured, "Misconfigured", `The orchestrator's setting ${variable} is invalid.`, { field: variable });
    }
    const routed = (await router.fetch(request, env, ctx, meta)) ?? problem(404, ProblemType.notFound, "Not found");
    const response = finishResponse(routed, meta);
    logAccess(request, response, meta);
    return response;
  },
} satisfies ExportedHandler<Env>;
