/**
 * Outcome records and their pre-aggregation at the edge. A Worker isolate sees
 * many requests; sending each one to the metrics Durable Object would make the
 * DO the bottleneck, so the edge folds a batch into one entry per
 * service+instance and sends that in a single write. WebSocket connections
 * opening and closing ride in the same entries (their own part of the tally),
 * so they cost no call of their own either.
 */
import { type CloseClass, closeClassOf } from "./close-class";
import type { GatewayKind, StatusClass } from "./status-class";
import { createSketch, sketchOf } from "./sketch";
import { type GatewayTally, type SocketTally, type Tally, emptySocketTally, emptyTally } from "./tally";

export type { CloseClass } from "./close-class";
export type { GatewayKind, StatusClass } from "./status-class";

export interface OutcomeRecord {
  readonly service: string;
  readonly instance: string;
  readonly statusClass: StatusClass;
  /** Only read when statusClass is "gateway". */
  readonly gatewayKind?: GatewayKind;
  readonly durationMs: number;
  readonly bytes: number;
  /** When the request finished, epoch ms. */
  readonly at: number;
}

/**
 * A relayed WebSocket connection opening or closing. Its upgrade is an
 * OutcomeRecord of its own (101 is a 2xx); these count the connection.
 */
export type SocketRecord =
  | { readonly kind: "opened"; readonly service: string; readonly instance: string; readonly at: number }
  | {
      readonly kind: "closed";
      readonly service: string;
      readonly instance: string;
      readonly at: number;
      /** From the upgrade to the close. */
      readonly durationMs: number;
      /** The code the connection ended with; null when it ended without one. */
      readonly closeCode: number | null;
    };

export interface BatchEntry {
  readonly service: string;
  readonly instance: string;
  /** Earliest and latest record time in the entry; windows attribute the entry to lastAt's minute. */
  readonly firstAt: number;
  readonly lastAt: number;
  readonly tally: Tally;
}

export interface Batch {
  /** One entry per service+instance, sorted by service then instance. */
  readonly entries: readonly BatchEntry[];
}

function isFiniteNumber(x: number): boolean {
  return typeof x === "number" && Number.isFinite(x);
}

function checkRecord(r: OutcomeRecord): void {
  if (!isFiniteNumber(r.durationMs) || !isFiniteNumber(r.at)) {
    throw new RangeError(`outcome record needs finite durationMs and at (service ${r.service})`);
  }
  if (!isFiniteNumber(r.bytes) || r.bytes < 0) {
    throw new RangeError(`outcome record bytes must be a finite number ≥ 0, got ${String(r.bytes)}`);
  }
}

function checkSocketRecord(r: SocketRecord): void {
  if (!isFiniteNumber(r.at) || (r.kind === "closed" && !isFiniteNumber(r.durationMs))) {
    throw new RangeError(`socket record needs finite durationMs and at (service ${r.service})`);
  }
}

interface SocketBuilder {
  opened: number;
  closed: Record<CloseClass, number>;
  durations: number[];
}

interface Builder {
  firstAt: number;
  lastAt: number;
  counts: Record<StatusClass, number>;
  gateway: { -readonly [K in keyof GatewayTally]: GatewayTally[K] };
  bytes: number;
  durations: number[];
  /** Null until the first connection event, so entries of plain HTTP traffic carry no socket part. */
  sockets: SocketBuilder | null;
}

/**
 * Folds records into one entry per service+instance as they come, so the
 * edge keeps running totals per instance instead of an object per request
 * (src/edge/metrics-recorder.ts keeps one per isolate between flushes). Records
 * with invalid numbers throw RangeError (a bug in the caller that builds
 * them, better found than averaged away). Negative durations are clamped to
 * 0 by the sketch.
 */
export class BatchBuilder {
  // Map keyed by a pair, so no service or instance name can collide with another.
  private readonly byService = new Map<string, Map<string, Builder>>();
  private added = 0;

  /** Records folded in since the builder was made. */
  get size(): number {
    return this.added;
  }

  add(r: OutcomeRecord): void {
    checkRecord(r);
    const b = this.builderFor(r);
    b.counts[r.statusClass] += 1;
    if (r.statusClass === "gateway" && r.gatewayKind !== undefined) b.gateway[r.gatewayKind] = (b.gateway[r.gatewayKind] ?? 0) + 1;
    b.bytes += Math.floor(r.bytes);
    b.durations.push(r.durationMs);
    this.added++;
  }

  /** A connection opening or closing; its duration goes to the connection sketch, never the request one. */
  addSocket(r: SocketRecord): void {
    checkSocketRecord(r);
    const b = this.builderFor(r);
    if (b.sockets === null) {
      const empty = emptySocketTally();
      b.sockets = { opened: 0, closed: { ...empty.closed }, durations: [] };
    }
    if (r.kind === "opened") {
      b.sockets.opened += 1;
    } else {
      b.sockets.closed[closeClassOf(r.closeCode)] += 1;
      b.sockets.durations.push(r.durationMs);
    }
    this.added++;
  }

  private builderFor(r: { readonly service: string; readonly instance: string; readonly at: number }): Builder {
    let instances = this.byService.get(r.service);
    if (instances === undefined) this.byService.set(r.service, (instances = new Map()));
    let b = instances.get(r.instance);
    if (b === undefined) {
      const empty = emptyTally();
      b = { firstAt: r.at, lastAt: r.at, counts: { ...empty.counts }, gateway: { ...empty.gateway }, bytes: 0, durations: [], sockets: null };
      instances.set(r.instance, b);
    }
    if (r.at < b.firstAt) b.firstAt = r.at;
    if (r.at > b.lastAt) b.lastAt = r.at;
    return b;
  }

  /** The batch: one entry per service+instance, sorted by service then instance. */
  build(): Batch {
    const entries: BatchEntry[] = [];
    for (const service of [...this.byService.keys()].sort()) {
      const instances = this.byService.get(service) ?? new Map<string, Builder>();
      for (const instance of [...instances.keys()].sort()) {
        const b = instances.get(instance);
        if (b === undefined) continue;
        const tally: Tally = {
          counts: b.counts,
          gateway: b.gateway,
          bytes: b.bytes,
          sketch: b.durations.length === 0 ? createSketch() : sketchOf(b.durations),
        };
        entries.push({ service, instance, firstAt: b.firstAt, lastAt: b.lastAt, tally: b.sockets === null ? tally : { ...tally, sockets: socketTallyOf(b.sockets) } });
      }
    }
    return { entries };
  }
}

function socketTallyOf(s: SocketBuilder): SocketTally {
  return { opened: s.opened, closed: s.closed, sketch: s.durations.length === 0 ? createSketch() : sketchOf(s.durations) };
}

/** Folds lists of records into one batch (see BatchBuilder). */
export function aggregateBatch(records: Iterable<OutcomeRecord>, sockets: Iterable<SocketRecord> = []): Batch {
  const builder = new BatchBuilder();
  for (const r of records) builder.add(r);
  for (const r of sockets) builder.addSocket(r);
  return builder.build();
}
