/**
 * Request outcomes and WebSocket connections opening and closing, recorded off
 * the critical path and batched per isolate: the edge folds them into running
 * totals per instance and sends those to MetricsDO as one batch when it is
 * METRICS_FLUSH_INTERVAL_MS old or holds MAX_BUFFERED records, whichever comes
 * first. Under load that is one Durable Object call per flush, not one per
 * request or connection.
 *
 * What a crash can lose: the records buffered in an isolate that dies before
 * its flush (at most one flush interval's worth), plus whatever MetricsDO had
 * not yet persisted (at most its 2-second persist interval). A connection
 * whose close is lost that way stays opened and never closed, which is why
 * /metrics takes the open count from the registry instead of opened − closed.
 */
import { BatchBuilder, type SocketRecord } from "../core/metrics/record";
import { gatewayKindOf, statusClassOf } from "../core/metrics/status-class";
import type { NoAnswerClass } from "../core/upstream-errors";
import { countDoCall } from "../platform/do-calls";
import type { ReleaseOutcome } from "../contracts/registry";
import { metricsStub } from "../platform/stubs";

const MAX_BUFFERED = 500;

/** This isolate's records since the last flush, folded per instance as they arrive. */
let pending = new BatchBuilder();
let flushScheduled = false;

export interface OutcomeFacts {
  readonly service: string;
  readonly instance: string;
  readonly outcome: ReleaseOutcome;
  readonly bytes: number;
  /** Why a connect failure got no answer (core/upstream-errors.ts); without it, a connect failure counts as of unknown cause. */
  readonly cause?: NoAnswerClass;
}

export interface SocketFacts {
  readonly service: string;
  readonly instance: string;
}

export interface SocketClosedFacts extends SocketFacts {
  /** From the upgrade to the close. */
  readonly durationMs: number;
  /** The code the connection ended with; null when it ended without one. */
  readonly closeCode: number | null;
}

/** Returns without waiting; the flush (when one is due) is handed to ctx.waitUntil. */
export function recordOutcome(env: Env, ctx: ExecutionContext, flushIntervalMs: number, facts: OutcomeFacts): void {
  if (fold(facts.service, () => addOutcome(facts))) scheduleFlush(env, ctx, flushIntervalMs);
}

/**
 * A relayed WebSocket connection opened (its 101 goes to recordOutcome as well).
 * Counts opened connections only: how many are open now is the registry's count.
 */
export function recordSocketOpened(env: Env, ctx: ExecutionContext, flushIntervalMs: number, facts: SocketFacts): void {
  const record = { kind: "opened", service: facts.service, instance: facts.instance, at: Date.now() } as const;
  if (fold(facts.service, () => addSocket(record))) scheduleFlush(env, ctx, flushIntervalMs);
}

/**
 * A relayed WebSocket connection closed. Called from the relay's close handling,
 * long after the upgrade's response: `ctx` is still the upgrade request's, which
 * stays alive while its sockets are open, so waitUntil still holds the flush.
 */
export function recordSocketClosed(env: Env, ctx: ExecutionContext, flushIntervalMs: number, facts: SocketClosedFacts): void {
  const record = {
    kind: "closed",
    service: facts.service,
    instance: facts.instance,
    at: Date.now(),
    durationMs: Math.max(0, facts.durationMs),
    closeCode: facts.closeCode,
  } as const;
  if (fold(facts.service, () => addSocket(record))) scheduleFlush(env, ctx, flushIntervalMs);
}

/** Runs one fold into the pending batch; false when it added nothing or refused the record. */
function fold(service: string, add: () => boolean): boolean {
  try {
    return add();
  } catch (error) {
    // A bad record is a bug to see in the log; it must not fail the release or the relay that comes after it.
    console.error(JSON.stringify({ level: "error", message: "metrics record refused", service, error: String(error) }));
    return false;
  }
}

function scheduleFlush(env: Env, ctx: ExecutionContext, flushIntervalMs: number): void {
  if (pending.size >= MAX_BUFFERED) {
    ctx.waitUntil(flush(env));
  } else if (!flushScheduled) {
    flushScheduled = true;
    // waitUntil keeps this isolate alive until the flush, even if no other request comes.
    ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, flushIntervalMs)).then(() => flush(env)));
  }
}

async function flush(env: Env): Promise<void> {
  flushScheduled = false;
  if (pending.size === 0) return;
  const batch = pending;
  pending = new BatchBuilder();
  countDoCall("metrics");
  try {
    await metricsStub(env).ingest(batch.build());
  } catch (error) {
    console.error(JSON.stringify({ level: "error", message: "metrics flush failed", lost: batch.size, error: String(error) }));
  }
}

function addSocket(record: SocketRecord): true {
  pending.addSocket(record);
  return true;
}

/** Folds one outcome into the pending batch; false for one that is not traffic. */
function addOutcome({ service, instance, outcome, bytes, cause }: OutcomeFacts): boolean {
  const at = Date.now();
  const durationMs = Math.max(0, outcome.durationMs);
  if (outcome.failure === "timeout" || outcome.failure === "connect") {
    const gatewayKind = outcome.failure === "timeout" ? "timeout" : gatewayKindOf(cause ?? "other");
    pending.add({ service, instance, statusClass: "gateway", gatewayKind, durationMs, bytes: 0, at });
    return true;
  }
  // Released without an upstream answer for our own reasons (e.g. rate-limited after the pick): not traffic.
  if (outcome.status === null) return false;
  // An upstream's Content-Length can be any digits ("1e400" reads as Infinity): only a real size counts.
  const counted = Number.isSafeInteger(bytes) && bytes > 0 ? bytes : 0;
  pending.add({ service, instance, statusClass: statusClassOf(outcome.status), durationMs, bytes: counted, at });
  return true;
}
