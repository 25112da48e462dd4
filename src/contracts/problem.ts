/**
 * Problems as values: the stable problem types of the API (RFC 9457) and the
 * Failure a Durable Object or a parser hands back instead of throwing. Shared
 * by the Worker and the objects; turned into Responses only at the edge
 * (http/problem.ts).
 */

/** Stable problem types; the URN never changes once published, titles may. */
export const ProblemType = {
  validation: "urn:orchestrator:problem:validation",
  malformedJson: "urn:orchestrator:problem:malformed-json",
  unsupportedMediaType: "urn:orchestrator:problem:unsupported-media-type",
  payloadTooLarge: "urn:orchestrator:problem:payload-too-large",
  badBody: "urn:orchestrator:problem:bad-body",
  notFound: "urn:orchestrator:problem:not-found",
  unknownService: "urn:orchestrator:problem:unknown-service",
  unknownInstance: "urn:orchestrator:problem:unknown-instance",
  methodNotAllowed: "urn:orchestrator:problem:method-not-allowed",
  conflict: "urn:orchestrator:problem:conflict",
  unauthorized: "urn:orchestrator:problem:unauthorized",
  forbidden: "urn:orchestrator:problem:forbidden",
  notConfigured: "urn:orchestrator:problem:not-configured",
  noAvailableInstance: "urn:orchestrator:problem:no-available-instance",
  serviceStopped: "urn:orchestrator:problem:service-stopped",
  upstreamTimeout: "urn:orchestrator:problem:upstream-timeout",
  upstreamUnreachable: "urn:orchestrator:problem:upstream-unreachable",
  upstreamRefusedUpgrade: "urn:orchestrator:problem:upstream-refused-upgrade",
  websocketNotAllowed: "urn:orchestrator:problem:websocket-not-allowed",
  badPath: "urn:orchestrator:problem:bad-path",
  badHeader: "urn:orchestrator:problem:bad-header",
  headersTooLarge: "urn:orchestrator:problem:headers-too-large",
  rateLimited: "urn:orchestrator:problem:rate-limited",
  internal: "urn:orchestrator:problem:internal",
} as const;

export type ProblemTypeUri = (typeof ProblemType)[keyof typeof ProblemType];

export type FieldError = {
  /** Dot path of the offending field in the request body or query, e.g. "metadata.region". */
  readonly field: string;
  readonly message: string;
};

/**
 * What a problem extension member may hold: flat JSON, so it survives RPC and
 * JSON.stringify alike (a recursive type here defeats the RPC type mapping).
 */
export type JsonValue = string | number | boolean | null | readonly string[] | readonly FieldError[];

export interface ProblemDetails {
  readonly type: ProblemTypeUri;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly instance?: string;
  /** The first offending field, for clients that only look at one. */
  readonly field?: string;
  readonly errors?: readonly FieldError[];
  readonly [extension: string]: JsonValue | undefined;
}

/**
 * A problem travelling as a value (from a Durable Object RPC, a parser…) until
 * the edge turns it into a Response. RPC cannot carry a Response or a custom
 * Error subclass faithfully, so failures cross that boundary as this.
 */
export interface Failure {
  readonly ok: false;
  readonly problem: ProblemDetails;
}

export function failure(
  status: number,
  type: ProblemTypeUri,
  title: string,
  detail: string,
  extensions: Record<string, JsonValue> = {},
): Failure {
  return { ok: false, problem: { type, title, status, detail, ...extensions } };
}
