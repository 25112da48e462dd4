/**
 * The additive summary every metrics layer shares: one batch entry, one
 * minute of one instance, an instance's lifetime totals, a service, the fleet.
 * Because every field simply adds, any of them can be merged with any other,
 * and the request count is derived from the class counts instead of being
 * stored twice and drifting (likewise the closed-connection count from the
 * close classes).
 */
import { CLOSE_CLASSES, type CloseClass } from "./close-class";
import { CONNECT_KINDS, GATEWAY_KINDS, type GatewayKind, STATUS_CLASSES, type StatusClass } from "./status-class";
import { type Sketch, createSketch, mergeSketch } from "./sketch";

/**
 * WebSocket connections relayed to an instance. Kept apart from the request
 * fields: a connection's upgrade is counted as a request (its 101 is a 2xx),
 * but its lifetime of minutes or hours must not swamp the request latencies.
 */
export interface SocketTally {
  readonly opened: number;
  /** Closed connections by how they ended (close-class.ts); the closed total is their sum. */
  readonly closed: Readonly<Record<CloseClass, number>>;
  /** How long the closed connections lasted, in ms; its count equals tallySocketsClosed. */
  readonly sketch: Sketch;
}

/**
 * Gateway failures by kind (status-class.ts). timeout and connect are always
 * there; the causes told apart later (dns, refused, reset, tls) only once one
 * is counted, so state persisted before them and batches from isolates still
 * running older code merge as they are, and the minute buckets of a service
 * without such failures stay as small as they were. Read with gatewayCount.
 */
export type GatewayTally = { readonly timeout: number; readonly connect: number } & { readonly [K in Exclude<GatewayKind, "timeout" | "connect">]?: number };

export interface Tally {
  readonly counts: Readonly<Record<StatusClass, number>>;
  /** Breakdown of counts.gateway where the kind is known (so the two may sum to less). */
  readonly gateway: GatewayTally;
  /** Response body bytes sent to clients. */
  readonly bytes: number;
  /** Durations in ms; its count equals tallyRequests and its sum is the total duration. */
  readonly sketch: Sketch;
  /**
   * Absent until a connection opens or closes, and then read as zero (socketsOf).
   * Optional rather than always present so that state persisted before
   * connections were counted, and batches from isolates still running older
   * code during a deploy, merge as they are; it also keeps the minute buckets
   * of services without WebSockets as small as they were.
   */
  readonly sockets?: SocketTally;
}

export function emptyTally(): Tally {
  return {
    counts: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, gateway: 0 },
    gateway: { timeout: 0, connect: 0 },
    bytes: 0,
    sketch: createSketch(),
  };
}

export function emptySocketTally(): SocketTally {
  return { opened: 0, closed: { normal: 0, error: 0, abnormal: 0, other: 0 }, sketch: createSketch() };
}

/** The tally's connections, zero when it has none recorded. */
export function socketsOf(t: Tally): SocketTally {
  return t.sockets ?? emptySocketTally();
}

export function mergeSocketTally(a: SocketTally, b: SocketTally): SocketTally {
  const closed = { ...a.closed };
  for (const c of CLOSE_CLASSES) closed[c] += b.closed[c];
  return { opened: a.opened + b.opened, closed, sketch: mergeSketch(a.sketch, b.sketch) };
}

/** A kind's count; 0 for a kind the tally has none of (or holds no number for). */
export function gatewayCount(g: GatewayTally, kind: GatewayKind): number {
  const n = g[kind];
  return typeof n === "number" && Number.isFinite(n) ? n : 0;
}

/** Connect failures of every cause: all gateway failures but timeouts. */
export function connectFailures(g: GatewayTally): number {
  let total = 0;
  for (const k of CONNECT_KINDS) total += gatewayCount(g, k);
  return total;
}

export function mergeGateway(a: GatewayTally, b: GatewayTally): GatewayTally {
  const merged: { -readonly [K in GatewayKind]?: number } = {};
  for (const k of GATEWAY_KINDS) {
    const n = gatewayCount(a, k) + gatewayCount(b, k);
    if (n > 0 || k === "timeout" || k === "connect") merged[k] = n;
  }
  return merged as GatewayTally;
}

export function mergeTally(a: Tally, b: Tally): Tally {
  const counts = { ...a.counts };
  for (const c of STATUS_CLASSES) counts[c] += b.counts[c];
  const merged: Tally = { counts, gateway: mergeGateway(a.gateway, b.gateway), bytes: a.bytes + b.bytes, sketch: mergeSketch(a.sketch, b.sketch) };
  const sockets = a.sockets === undefined ? b.sockets : b.sockets === undefined ? a.sockets : mergeSocketTally(a.sockets, b.sockets);
  return sockets === undefined ? merged : { ...merged, sockets };
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

export function tallySocketsClosed(s: SocketTally): number {
  let total = 0;
  for (const c of CLOSE_CLASSES) total += s.closed[c];
  return total;
}
