/**
 * The additive summary every metrics layer shares: one batch entry, one
 * minute of one instance, an instance's lifetime totals, a service, the fleet.
 * Because every field simply adds, any of them can be merged with any other,
 * and the request count is derived from the class counts instead of being
 * stored twice and drifting.
 */
import { GATEWAY_KINDS, type GatewayKind, STATUS_CLASSES, type StatusClass } from "./status-class";
import { type Sketch, createSketch, mergeSketch } from "./sketch";

export interface Tally {
  readonly counts: Readonly<Record<StatusClass, number>>;
  /** Breakdown of counts.gateway where the kind is known (so the two may sum to less). */
  readonly gateway: Readonly<Record<GatewayKind, number>>;
  /** Response body bytes sent to clients. */
  readonly bytes: number;
  /** Durations in ms; its count equals tallyRequests and its sum is the total duration. */
  readonly sketch: Sketch;
}

export function emptyTally(): Tally {
  return {
    counts: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, gateway: 0 },
    gateway: { timeout: 0, connect: 0 },
    bytes: 0,
    sketch: createSketch(),
  };
}

export function mergeTally(a: Tally, b: Tally): Tally {
  const counts = { ...a.counts };
  for (const c of STATUS_CLASSES) counts[c] += b.counts[c];
  const gateway = { ...a.gateway };
  for (const k of GATEWAY_KINDS) gateway[k] += b.gateway[k];
  return { counts, gateway, bytes: a.bytes + b.bytes, sketch: mergeSketch(a.sketch, b.sketch) };
}

export function tallyRequests(t: Tally): number {
  let total = 0;
  for (const c of STATUS_CLASSES) total += t.counts[c];
  return total;
}

/** 5xx + gateway: the failures that count against a service (4xx does not, see isFailureClass). */
export function tallyFailures(t: Tally): number {
  return t.counts["5xx"] + t.counts.gateway;
}
