/**
 * Alert history and silences (Alertmanager's silences: matchers with an
 * expiry). `POST /admin/silences`, `GET /admin/silences`,
 * `DELETE /admin/silences/{id}`, `GET /admin/alerts`.
 */
import { problem, ProblemType, validationProblem } from "../http/problem";
import { metricsStub } from "../platform/stubs";
import { parseWith, readJsonBody } from "../http/validation";
import { MAX_SILENCE_SECONDS, SilenceBodySchema } from "../http/schemas";
import { json, type Handler } from "./context";
import { MAX_MATCHER_PATTERN_LENGTH, matcherProblem } from "../core/alerts/labels";

export const postSilence: Handler = async (request, env, _ctx, meta) => {
  const body = await readJsonBody(request, meta.config.maxRegistryBodyBytes);
  if (!body.ok) return body.response;
  const parsed = parseWith(SilenceBodySchema, body.value);
  if (!parsed.ok) return parsed.response;
  const input = parsed.value;
  for (const [index, matcher] of input.matchers.entries()) {
    if (!matcher.isRegex) continue;
    if (matcher.value.length > MAX_MATCHER_PATTERN_LENGTH) {
      return validationProblem([{ field: `matchers.${index}.value`, message: `is longer than ${MAX_MATCHER_PATTERN_LENGTH} characters` }]);
    }
    if (matcherProblem({ ...matcher, isRegex: true }) !== null) {
      return validationProblem([{ field: `matchers.${index}.value`, message: "is not a valid regular expression (RE2 syntax, anchored at both ends)" }]);
    }
  }
  const now = Date.now();
  const startsAt = input.startsAt === undefined ? now : Date.parse(input.startsAt);
  const endsAt = input.endsAt === undefined ? startsAt + (input.durationSeconds ?? 0) * 1000 : Date.parse(input.endsAt);
  if (endsAt <= Math.max(startsAt, now)) return validationProblem([{ field: "endsAt", message: "must be in the future and after startsAt" }]);
  if (endsAt - startsAt > MAX_SILENCE_SECONDS * 1000) return validationProblem([{ field: "endsAt", message: "a silence may last at most 30 days" }]);
  const result = await metricsStub(env).createSilence({
    id: crypto.randomUUID(),
    matchers: input.matchers,
    startsAt,
    endsAt,
    createdBy: `${input.createdBy} (${meta.principal?.fingerprint ?? "anonymous"})`,
    comment: input.comment,
  });
  if (!result.ok) return validationProblem([{ field: "matchers", message: result.error }]);
  return json(silenceView(result.silence), 201, { location: `/admin/silences/${result.silence.id}` });
};

export const getSilences: Handler = async (_request, env) => {
  const silences = await metricsStub(env).silences();
  return json({ silences: silences.map(silenceView) }, 200, { "cache-control": "no-store" });
};

export const deleteSilence: Handler = async (request, env) => {
  const id = decodeURIComponent(request.params.id ?? "");
  if (!(await metricsStub(env).deleteSilence(id))) {
    return problem(404, ProblemType.notFound, "Unknown silence", `No silence has the id ${id}.`, { field: "id" });
  }
  return json({ id, expired: true });
};

export const getAlerts: Handler = async (_request, env) => json(await metricsStub(env).alerts(), 200, { "cache-control": "no-store" });

function silenceView(s: { id: string; matchers: readonly unknown[]; startsAt: number; endsAt: number; createdBy: string; comment: string }) {
  const now = Date.now();
  return {
    ...s,
    startsAt: new Date(s.startsAt).toISOString(),
    endsAt: new Date(s.endsAt).toISOString(),
    state: now < s.startsAt ? "pending" : now < s.endsAt ? "active" : "expired",
  };
}
