/**
 * `GET /metrics` and `GET /metrics/worker/{name}`: JSON in the seed's shape,
 * or the Prometheus text format (0.0.4) with `Accept: text/plain` or
 * `?format=prometheus`.
 */
import { PROMETHEUS_CONTENT_TYPE } from "../core/metrics/prometheus";
import { problem, ProblemType, validationProblem } from "../http/problem";
import { metricsStub } from "../platform/stubs";
import * as v from "valibot";
import { MetricsFormatSchema, ServiceNameSchema } from "../http/schemas";
import { parseWith } from "../http/validation";
import { json, type Handler } from "./context";

function wantsPrometheus(request: Request): boolean {
  const format = new URL(request.url).searchParams.get("format");
  if (format !== null) return format === "prometheus";
  const accept = request.headers.get("accept") ?? "";
  return /(^|,)\s*text\/plain/i.test(accept) || /application\/openmetrics-text/i.test(accept);
}

function badFormat(request: Request): Response | null {
  const format = new URL(request.url).searchParams.get("format");
  return format === null || v.is(MetricsFormatSchema, format)
    ? null
    : validationProblem([{ field: "format", message: "must be json or prometheus" }]);
}

export const getMetrics: Handler = async (request, env) => {
  const refused = badFormat(request);
  if (refused) return refused;
  const metrics = metricsStub(env);
  if (wantsPrometheus(request)) {
    return new Response((await metrics.prometheus()) ?? "", { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } });
  }
  return json(await metrics.view(null), 200, { "cache-control": "no-store" });
};

export const getWorkerMetrics: Handler = async (request, env) => {
  const refused = badFormat(request);
  if (refused) return refused;
  const name = parseWith(ServiceNameSchema, decodeURIComponent(request.params.name ?? ""));
  if (!name.ok) return name.response;
  if (wantsPrometheus(request)) {
    const text = await metricsStub(env).prometheus(name.value);
    if (text === null) return problem(404, ProblemType.unknownService, "Unknown service", `No service is named ${name.value}.`, { field: "name" });
    return new Response(text, { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } });
  }
  const view = await metricsStub(env).view(name.value);
  if (view === null) return problem(404, ProblemType.unknownService, "Unknown service", `No service is named ${name.value}.`, { field: "name" });
  return json(view, 200, { "cache-control": "no-store" });
};
