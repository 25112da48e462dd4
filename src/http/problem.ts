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

// Remembers which problem a response carries, for the access log, without re-reading its body.
const problemTypes = new WeakMap<Response, string>();

export function problemTypeOf(response: Response): string | undefined {
  return problemTypes.get(response);
}

export function problemResponse(problem: ProblemDetails, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(problem), {
    status: problem.status,
    headers,
  });
  response.headers.set("content-type", PROBLEM_CONTENT_TYPE);
  response.headers.set("cache-control", "no-store");
  problemTypes.set(response, problem.type);
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
