/**
 * The webhook outbox: notifications waiting to be delivered, with their retry
 * schedule, stored by the alerting Durable Object so a failed Slack or Discord
 * call is retried after a restart too.
 *
 * Bounded, and never silently: when more than OUTBOX_LIMIT entries wait, the
 * oldest are dropped and `dropped` counts them; entries that cannot be
 * delivered move to a bounded dead-letter list with their reason, and
 * `deadLettered` counts them all. Both counters are for the dashboard and logs.
 */
import { type AttemptDecision, type AttemptResult, DEFAULT_RETRY_POLICY, type RetryPolicy, nextAttempt } from "./delivery";
import type { DiscordPayload, SlackPayload } from "./payloads";

export const OUTBOX_LIMIT = 1000;
export const DEAD_LETTER_LIMIT = 100;

export type OutboxMessage =
  | { readonly target: "slack"; readonly payload: SlackPayload }
  | { readonly target: "discord"; readonly payload: DiscordPayload };

export type OutboxEntry = OutboxMessage & {
  /** Caller-chosen and unique, e.g. `${target}:${groupKey}:${at}`; enqueueing an existing id is a no-op. */
  readonly id: string;
  readonly createdAt: number;
  /** Attempts made so far. */
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | null;
};

export interface DeadLetter {
  readonly entry: OutboxEntry;
  readonly reason: string;
  readonly at: number;
}

export interface Outbox {
  /** Oldest first. */
  readonly entries: readonly OutboxEntry[];
  readonly deadLetters: readonly DeadLetter[];
  /** Entries dropped because the outbox was full. */
  readonly dropped: number;
  /** Entries given up on, including those no longer in deadLetters. */
  readonly deadLettered: number;
  readonly delivered: number;
}

export function createOutbox(): Outbox {
  return { entries: [], deadLetters: [], dropped: 0, deadLettered: 0, delivered: 0 };
}

/** Queues a message for immediate delivery; over `limit`, the oldest entries are dropped and counted. */
export function enqueue(outbox: Outbox, message: OutboxMessage & { readonly id: string }, now: number, limit = OUTBOX_LIMIT): Outbox {
  if (outbox.entries.some((e) => e.id === message.id)) return outbox;
  const entry: OutboxEntry = { ...message, createdAt: now, attempts: 0, nextAttemptAt: now, lastError: null };
  const entries = [...outbox.entries, entry];
  const excess = Math.max(0, entries.length - Math.max(1, Math.floor(limit)));
  return { ...outbox, entries: entries.slice(excess), dropped: outbox.dropped + excess };
}

/** Entries whose attempt is due at `now`, earliest first, at most `max` (one delivery round). */
export function dueEntries(outbox: Outbox, now: number, max = 10): OutboxEntry[] {
  return outbox.entries
    .filter((e) => e.nextAttemptAt <= now)
    .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.createdAt - b.createdAt)
    .slice(0, Math.max(0, max));
}

/** When the next entry is due (for the DO alarm); null when the outbox is empty. */
export function nextDueAt(outbox: Outbox): number | null {
  return outbox.entries.reduce<number | null>((min, e) => (min === null || e.nextAttemptAt < min ? e.nextAttemptAt : min), null);
}

/**
 * Applies the result of one attempt of entry `id`: delivered entries leave,
 * retryable failures are rescheduled, the rest move to the dead letters.
 * Unknown id (already dropped): outbox unchanged and decision null.
 */
export function recordAttempt(
  outbox: Outbox,
  id: string,
  result: AttemptResult,
  now: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): { outbox: Outbox; decision: AttemptDecision | null } {
  const entry = outbox.entries.find((e) => e.id === id);
  if (entry === undefined) return { outbox, decision: null };
  const attempts = entry.attempts + 1;
  const decision = nextAttempt(attempts, result, now, policy);
  const others = outbox.entries.filter((e) => e.id !== id);
  if (decision.outcome === "delivered") {
    return { outbox: { ...outbox, entries: others, delivered: outbox.delivered + 1 }, decision };
  }
  if (decision.outcome === "retry") {
    const updated: OutboxEntry = { ...entry, attempts, nextAttemptAt: decision.at, lastError: decision.reason };
    return { outbox: { ...outbox, entries: outbox.entries.map((e) => (e.id === id ? updated : e)) }, decision };
  }
  const dead: DeadLetter = { entry: { ...entry, attempts, lastError: decision.reason }, reason: decision.reason, at: now };
  return {
    outbox: {
      ...outbox,
      entries: others,
      deadLetters: [...outbox.deadLetters, dead].slice(-DEAD_LETTER_LIMIT),
      deadLettered: outbox.deadLettered + 1,
    },
    decision,
  };
}
