/**
 * Request outcomes, recorded off the critical path and batched per isolate:
 * the edge keeps a small buffer and sends it to MetricsDO as one
 * pre-aggregated batch when it is METRICS_FLUSH_INTERVAL_MS old or holds
 * MAX_BUFFERED outcomes, whichever comes first. Under load that is one
 * Durable Object call per flush, not one per request.
 *
 * What a crash can lose: the outcomes buffered in an isolate that dies before
 * its flush (at most one flush interval's worth), plus whatever MetricsDO had
 * not yet persisted (at most its 2-second persist interval).
 */
import { aggregateBatch, type OutcomeRecord } from "./core/metrics/record";
import { statusClassOf } from "./core/metrics/status-class";
import { countDoCall } from "./do-calls";
import type { ReleaseOutcome } from "./registry-contract";
import { metricsStub } from "./registry-client";

const MAX_BUFFERED = 500;

let buffer: OutcomeRecord[] = [];
let flushScheduled = false;

export interface OutcomeFacts {
  readonly service: string;
  readonly instance: string;
  readonly outcome: ReleaseOutcome;
  readonly bytes: number;
}

/** Returns without waiting; the flush (when one is due) is handed to ctx.waitUntil. */
export function recordOutcome(env: Env, ctx: ExecutionContext, flushIntervalMs: number, facts: OutcomeFacts): void {
  const record = toRecord(facts);
  if (record === null) return;
  buffer.push(record);
  if (buffer.length >= MAX_BUFFERED) {
    ctx.waitUntil(flush(env));
  } else if (!flushScheduled) {
    flushScheduled = true;
    // waitUntil keeps this isolate alive until the flush, even if no other request comes.
    ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, flushIntervalMs)).then(() => flush(env)));
  }
}

async function flush(env: Env): Promise<void> {
  flushScheduled = false;
  if (buffer.length === 0) return;
  const records = buffer;
  buffer = [];
  countDoCall("metrics");
  try {
    await metricsStub(env).ingest(aggregateBatch(records));
  } catch (error) {
    console.error(JSON.stringify({ level: "error", message: "metrics flush failed", lost: records.length, error: String(error) }));
  }
}

function toRecord({ service, instance, outcome, bytes }: OutcomeFacts): OutcomeRecord | null {
  const at = Date.now();
  const durationMs = Math.max(0, outcome.durationMs);
  if (outcome.failure === "timeout" || outcome.failure === "connect") {
    return { service, instance, statusClass: "gateway", gatewayKind: outcome.failure, durationMs, bytes: 0, at };
  }
  // Released without an upstream answer for our own reasons (e.g. rate-limited after the pick): not traffic.
  if (outcome.status === null) return null;
  return { service, instance, statusClass: statusClassOf(outcome.status), durationMs, bytes, at };
}
