/**
 * DEV_MODE debug endpoints, behind admin auth as well. Without DEV_MODE they
 * do not exist (404), so production exposes nothing extra even to a key holder.
 */
import type { Config } from "../config";
import { problem, ProblemType } from "../http/problem";
import { registryStub } from "../platform/stubs";
import { json, type Handler } from "./context";
import { doCallCounts } from "../platform/do-calls";

const REDACTED = "[redacted]";

export function redactedConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    apiKey: config.apiKey ? REDACTED : null,
    registrationToken: config.registrationToken ? REDACTED : null,
    lifecycleHookSecret: config.lifecycleHookSecret ? REDACTED : null,
    scaleWebhookUrl: config.scaleWebhookUrl ? REDACTED : null,
    // Webhook URLs carry their credentials in the path.
    alerts: {
      ...config.alerts,
      slackWebhookUrl: config.alerts.slackWebhookUrl ? REDACTED : null,
      discordWebhookUrl: config.alerts.discordWebhookUrl ? REDACTED : null,
    },
  };
}

/** Checked before auth, so that without DEV_MODE not even a 401 hints that the route exists. */
export const devOnly =
  (handler: Handler): Handler =>
  (request, ...args) =>
    args[2].config.devMode ? handler(request, ...args) : problem(404, ProblemType.notFound, "Not found", `Nothing is at ${new URL(request.url).pathname}.`);

export const getDebugConfig: Handler = (_request, _env, _ctx, meta) => json(redactedConfig(meta.config));

export const getDebugRegistry: Handler = async (_request, env) => {
  const registry = registryStub(env);
  const [snapshot, inflight] = await Promise.all([registry.snapshot(), registry.inflightCounts()]);
  return json({ ...snapshot, inflight });
};

export const getDebugDoCalls: Handler = () => {
  const { proxiedRequests, ...calls } = doCallCounts;
  const perProxied = Object.fromEntries(Object.entries(calls).map(([kind, n]) => [kind, proxiedRequests === 0 ? 0 : n / proxiedRequests]));
  return json({ proxiedRequests, calls, perProxiedRequest: perProxied, note: "counted in this isolate since it started" });
};
