/**
 * RFC 9457 problem details as Responses. Every error the orchestrator itself
 * produces goes through here, so clients get one machine-readable shape with a
 * stable `type` and never a stack trace. The types and the Failure value live
 * in contracts/problem.ts (the objects use them too) and are re-exported here
 * for the edge's convenience.
 */
import { type FieldError, type JsonValue, type ProblemDetails, ProblemType, type ProblemTypeUri } from "../contracts/problem";

export { type FieldError, type Failure, failure, type JsonValue, type ProblemDetails, ProblemType, type ProblemTypeUri } from "../contracts/problem";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

// Remembers which problem a response carries (for the access log, and to add the trace id) without re-reading its body.
const problems = new WeakMap<Response, ProblemDetails>();

export function problemTypeOf(response: Response): string | undefined {
  return problems.get(response)?.type;
}

/**
 * The problem with the request's trace id as its `traceId` member, so an
 * operator can find the request in the access log and in upstream logs.
 * Problems are made all over the edge and in the objects, without the
 * request at hand; the edge adds the id once, on the way out. Anything that
 * is not a problem this module made, or one that has its trace id already,
 * is returned as it is. Only error answers pay for the second serialization.
 */
export function withTraceId(response: Response, traceId: string): Response {
  const details = problems.get(response);
  if (details === undefined || details.traceId !== undefined) return response;
  const withId: ProblemDetails = { ...details, traceId };
  const traced = new Response(JSON.stringify(withId), response);
  problems.set(traced, withId);
  return traced;
}

export function problemResponse(problem: ProblemDetails, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(problem), {
    status: problem.status,
    headers,
  });
  response.headers.set("content-type", PROBLEM_CONTENT_TYPE);
  response.headers.set("cache-control", "no-store");
  problems.set(response, problem);
  return response;
}

/** Shorthand for the common case: a type, a status and a sentence for humans. */
export function problem(
  status: number,
  type: ProblemTypeUri,
  title: string,
  detail?: string,
  extensions: Record<string, JsonValue> = {},
  headers?: HeadersInit,
): Response {
  return problemResponse({ type, title, status, ...(detail === undefined ? {} : { detail }), ...extensions }, headers);
}

export function validationProblem(errors: readonly FieldError[], detail?: string): Response {
  const first = errors[0];
  return problemResponse({
    type: ProblemType.validation,
    title: "The request is not valid",
    status: 400,
    detail: detail ?? (first ? `${first.field}: ${first.message}` : "The request is not valid."),
    ...(first ? { field: first.field } : {}),
    errors,
  });
}
