/**
 * Bounded decision log, newest first, for the dashboard and for explaining why
 * a service did (not) scale. Evaluating every 15 s, a steady service would
 * fill any log with identical "none" decisions, so a decision is kept only when
 *
 * - "scaled":    it scales in enforce mode (a real change is always kept);
 * - "changed":   it differs from the previous evaluation in mode, action,
 *                current, rawDesired, desired or atMaxStillOverTarget (so a
 *                dry-run "would scale up" is kept when it starts or changes,
 *                not every period it persists);
 * - "heartbeat": otherwise, when `heartbeatEvery` − 1 evaluations in a row were
 *                dropped, so there is at least one entry per `heartbeatEvery`
 *                evaluations (default 20: every 5 minutes at 15 s) showing the
 *                autoscaler is alive and what it sees.
 *
 * Each entry counts the evaluations dropped just before it.
 */
import type { Decision } from "./engine";

export const DEFAULT_DECISION_LOG_LIMIT = 200;
export const DEFAULT_LOG_HEARTBEAT_EVERY = 20;

export type LogReason = "scaled" | "changed" | "heartbeat";

export interface DecisionLogEntry {
  readonly decision: Decision;
  readonly reason: LogReason;
  /** Evaluations not logged between the previous entry and this one. */
  readonly unloggedBefore: number;
}

export interface DecisionLog {
  /** Newest first, at most `limit` long. */
  readonly entries: readonly DecisionLogEntry[];
  /** Evaluations not logged since the newest entry. */
  readonly unlogged: number;
  /** Summary of the previous evaluation (logged or not), to detect changes. */
  readonly lastKey: string | null;
}

export const EMPTY_DECISION_LOG: DecisionLog = { entries: [], unlogged: 0, lastKey: null };

function keyOf(d: Decision): string {
  return [d.mode, d.action, d.current, d.rawDesired, d.desired, d.atMaxStillOverTarget].join("|");
}

function whyLog(log: DecisionLog, decision: Decision, key: string, heartbeatEvery: number): LogReason | null {
  if (decision.action !== "none" && decision.mode === "enforce") return "scaled";
  if (key !== log.lastKey) return "changed";
  if (log.unlogged + 1 >= heartbeatEvery) return "heartbeat";
  return null;
}

/**
 * The log after one more evaluation. Non-positive or fractional `limit` or
 * `heartbeatEvery` are caller bugs and throw RangeError.
 */
export function appendDecision(
  log: DecisionLog,
  decision: Decision,
  limit: number = DEFAULT_DECISION_LOG_LIMIT,
  heartbeatEvery: number = DEFAULT_LOG_HEARTBEAT_EVERY,
): DecisionLog {
  if (!(Number.isSafeInteger(limit) && limit >= 1)) throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
  if (!(Number.isSafeInteger(heartbeatEvery) && heartbeatEvery >= 1)) {
    throw new RangeError(`heartbeatEvery must be a positive integer, got ${String(heartbeatEvery)}`);
  }
  const key = keyOf(decision);
  const reason = whyLog(log, decision, key, heartbeatEvery);
  if (reason === null) return { entries: log.entries, unlogged: log.unlogged + 1, lastKey: key };
  const entry: DecisionLogEntry = { decision, reason, unloggedBefore: log.unlogged };
  return { entries: [entry, ...log.entries.slice(0, limit - 1)], unlogged: 0, lastKey: key };
}
