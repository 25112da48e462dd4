/**
 * How one proxied request ended, in the five buckets the metrics and alerts
 * speak about. "gateway" is the orchestrator's own failure to get an answer
 * (upstream timeout or connect error) and is kept apart from an upstream 5xx
 * because the fix is different: one is a slow or dead instance, the other a
 * broken response.
 */
import type { NoAnswerClass } from "../upstream-errors";

export const STATUS_CLASSES = ["2xx", "3xx", "4xx", "5xx", "gateway"] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/**
 * Why a gateway failure got no answer, as tallies keep it. "connect" is a
 * failure to get an answer whose cause is not known (published as "other"):
 * the only connect kind recorded before the causes were told apart, so state
 * persisted then, and batches from isolates still running older code during a
 * deploy, read as they are. The others are core/upstream-errors.ts's classes.
 */
export const GATEWAY_KINDS = ["timeout", "connect", "dns", "refused", "reset", "tls"] as const;
export type GatewayKind = (typeof GATEWAY_KINDS)[number];

/** The kinds that are connect failures of some cause: every kind but timeout. */
export const CONNECT_KINDS = ["connect", "dns", "refused", "reset", "tls"] as const satisfies readonly GatewayKind[];

/** The causes a gateway failure is published under: the no-answer classes of core/upstream-errors.ts. */
export const GATEWAY_CAUSES = ["timeout", "dns", "refused", "reset", "tls", "other"] as const satisfies readonly NoAnswerClass[];
export type GatewayCause = (typeof GATEWAY_CAUSES)[number];

/** The tally kind of a cause: "other" is kept as "connect". */
export function gatewayKindOf(cause: NoAnswerClass): GatewayKind {
  return cause === "other" ? "connect" : cause;
}

/**
 * The class of an upstream HTTP status. 1xx only reaches here as 101 (a
 * successful WebSocket upgrade), so it counts as 2xx. A status outside 100..599
 * cannot come from a Response and is a caller bug.
 */
export function statusClassOf(status: number): Exclude<StatusClass, "gateway"> {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`HTTP status must be an integer in 100..599, got ${String(status)}`);
  }
  if (status < 300) return "2xx";
  if (status < 400) return "3xx";
  if (status < 500) return "4xx";
  return "5xx";
}

/**
 * Whether requests of this class count as failures for error rate and alerts.
 * 4xx does not: it is the client's mistake (bad input, auth, not found), the
 * service answered correctly, and counting it would let any caller trip the
 * HighErrorRate alert by sending garbage.
 */
export function isFailureClass(statusClass: StatusClass): boolean {
  return statusClass === "5xx" || statusClass === "gateway";
}
