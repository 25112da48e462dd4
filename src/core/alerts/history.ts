/**
 * Alert history for the dashboard: the newest notifications first, bounded so
 * the stored list cannot grow without limit. How many were dropped is kept, so
 * the dashboard can say the history is partial instead of looking complete.
 */
import type { Notification } from "./pipeline";

export const ALERT_HISTORY_LIMIT = 500;

export interface AlertHistory {
  /** Newest first. */
  readonly entries: readonly Notification[];
  /** Notifications pushed out by the limit since the history was created. */
  readonly dropped: number;
}

export function createAlertHistory(): AlertHistory {
  return { entries: [], dropped: 0 };
}

/** Adds notifications given in the order they were produced (oldest first). */
export function appendAlertHistory(history: AlertHistory, notifications: readonly Notification[], limit = ALERT_HISTORY_LIMIT): AlertHistory {
  if (notifications.length === 0) return history;
  const cap = Math.max(0, Math.floor(limit));
  const all = [...[...notifications].reverse(), ...history.entries];
  const entries = all.slice(0, cap);
  return { entries, dropped: history.dropped + (all.length - entries.length) };
}
