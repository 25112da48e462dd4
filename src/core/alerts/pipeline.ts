/**
 * The Alertmanager pipeline, over simulated time. Each call to `evaluate` gets
 * the complete set of alerts firing now (from evaluateRules); anything absent
 * has resolved. Semantics follow Alertmanager's route and dedup stages:
 *
 * - dedup: alerts are identified by the fingerprint of their labels;
 * - grouping: alerts sharing the groupBy labels form one group and one stream
 *   of notifications;
 * - group_wait: a new group's first notification waits, so alerts that fire
 *   together arrive together;
 * - group_interval: a group is flushed at most once per interval; a flush sends
 *   only if something changed since the last notification (a new firing alert,
 *   or an alert the receiver was told about has resolved);
 * - repeat_interval: an unchanged firing group is re-sent after this long;
 * - send_resolved: when alerts the receiver knows about resolve they are sent as
 *   resolved; when a whole group resolves the notification's status is resolved;
 * - silences and inhibition mute firing alerts at flush time (muted alerts are
 *   left out of notifications; they never produce a "resolved" on their own).
 *
 * An alert that resolves and fires again before its group's next flush is the
 * same incident to the receiver, so it keeps its startsAt and causes no
 * notification. That is what bounds a flapping instance to at most one
 * notification per group_interval. An alert that fires and resolves within one
 * wait is never announced (the receiver never knew of it).
 */
import type { Annotations, LabelSet } from "./alert";
import { type InhibitRule, DEFAULT_INHIBIT_RULES, isInhibited } from "./inhibit";
import { fingerprint, groupKeyOf, groupLabelsOf, normalizeLabels } from "./labels";
import { type Silence, silencedBy } from "./silences";

export { fingerprint } from "./labels";

export interface PipelineConfig {
  /** An alert keeps the group it started in; a changed groupBy applies to alerts that start afterwards. */
  readonly groupBy: readonly string[];
  readonly groupWaitMs: number;
  readonly groupIntervalMs: number;
  readonly repeatIntervalMs: number;
  readonly sendResolved: boolean;
  /** Alerts per notification beyond this are counted in `truncated` instead of listed. */
  readonly maxAlertsPerNotification: number;
  readonly inhibitRules: readonly InhibitRule[];
}

export const DEFAULT_PIPELINE_CONFIG: PipelineConfig = {
  groupBy: ["alertname", "service"],
  groupWaitMs: 30_000,
  groupIntervalMs: 5 * 60_000,
  repeatIntervalMs: 4 * 3_600_000,
  sendResolved: true,
  maxAlertsPerNotification: 50,
  inhibitRules: DEFAULT_INHIBIT_RULES,
};

/** What the pipeline accepts: a rule's Alert, or any other source's. */
export interface AlertInput {
  readonly labels: LabelSet;
  readonly annotations: Annotations;
  readonly startsAt: number;
}

export interface ActiveAlert {
  readonly fingerprint: string;
  readonly groupKey: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Annotations;
  readonly startsAt: number;
  /** null while firing; when it stopped firing otherwise (kept until its group flushes). */
  readonly endsAt: number | null;
}

export interface AlertGroup {
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: number;
  readonly nextFlushAt: number;
  readonly lastNotifiedAt: number | null;
  /** Fingerprints listed as firing in the last notification sent, sorted. */
  readonly notifiedFiring: readonly string[];
}

export interface PipelineState {
  readonly alerts: Readonly<Record<string, ActiveAlert>>;
  readonly groups: Readonly<Record<string, AlertGroup>>;
  readonly silences: readonly Silence[];
}

export interface NotifiedAlert {
  readonly fingerprint: string;
  readonly status: "firing" | "resolved";
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Annotations;
  readonly startsAt: number;
  readonly endsAt: number | null;
}

export interface Notification {
  readonly groupKey: string;
  readonly groupLabels: Readonly<Record<string, string>>;
  /** firing while any listed alert fires; resolved when the whole group has resolved. */
  readonly status: "firing" | "resolved";
  /** Firing alerts first, then resolved; at most maxAlertsPerNotification. */
  readonly alerts: readonly NotifiedAlert[];
  /** Totals before truncation. */
  readonly counts: { readonly firing: number; readonly resolved: number };
  /** How many alerts were left out to respect maxAlertsPerNotification. */
  readonly truncated?: number;
  /** When the notification was produced. */
  readonly at: number;
}

export interface EvaluateResult {
  readonly state: PipelineState;
  /** Sorted by group key. */
  readonly notifications: Notification[];
  /** Earliest pending group flush, for the caller's alarm; null when no group is pending. */
  readonly nextEvaluationAt: number | null;
}

export function createPipelineState(silences: readonly Silence[] = []): PipelineState {
  return { alerts: {}, groups: {}, silences };
}

function put<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

function get<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Folds this round's firing set into the known alerts (new, continuing, revived, resolved). */
function reconcile(state: PipelineState, firing: readonly AlertInput[], now: number, config: PipelineConfig) {
  const incoming = new Map<string, AlertInput>();
  for (const a of firing) {
    const fp = fingerprint(a.labels);
    const seen = incoming.get(fp);
    // Duplicates are one alert: the latest annotations, the earliest start.
    incoming.set(fp, seen === undefined ? a : { ...a, startsAt: Math.min(seen.startsAt, a.startsAt) });
  }
  const alerts: Record<string, ActiveAlert> = {};
  const groups: Record<string, AlertGroup> = {};
  for (const [key, g] of Object.entries(state.groups)) put(groups, key, g);
  for (const [fp, a] of Object.entries(state.alerts)) {
    const input = incoming.get(fp);
    if (input !== undefined) put(alerts, fp, { ...a, annotations: input.annotations, endsAt: null });
    else put(alerts, fp, a.endsAt === null ? { ...a, endsAt: now } : a);
  }
  for (const [fp, input] of incoming) {
    if (get(alerts, fp) !== undefined) continue;
    const labels = normalizeLabels(input.labels);
    const groupKey = groupKeyOf(groupLabelsOf(labels, config.groupBy));
    const startsAt = Number.isFinite(input.startsAt) ? Math.min(input.startsAt, now) : now;
    put(alerts, fp, { fingerprint: fp, groupKey, labels, annotations: input.annotations, startsAt, endsAt: null });
  }
  // Every firing alert needs a group; a new group starts its group_wait now.
  for (const a of Object.values(alerts)) {
    if (a.endsAt !== null || get(groups, a.groupKey) !== undefined) continue;
    put(groups, a.groupKey, {
      key: a.groupKey,
      labels: groupLabelsOf(a.labels, config.groupBy),
      createdAt: now,
      nextFlushAt: now + config.groupWaitMs,
      lastNotifiedAt: null,
      notifiedFiring: [],
    });
  }
  return { alerts, groups };
}

function notified(a: ActiveAlert, status: NotifiedAlert["status"]): NotifiedAlert {
  return { fingerprint: a.fingerprint, status, labels: a.labels, annotations: a.annotations, startsAt: a.startsAt, endsAt: a.endsAt };
}

/** Whether a firing alert is muted now by a silence or an inhibiting alert. */
export function isMuted(a: ActiveAlert, sources: readonly LabelSet[], silences: readonly Silence[], now: number, config: PipelineConfig): boolean {
  return silencedBy(a.labels, silences, now).length > 0 || isInhibited(a.labels, sources, config.inhibitRules);
}

/**
 * One evaluation at `now`: reconciles the firing set, flushes every group whose
 * time has come, and returns the notifications to send. Call it on every rule
 * evaluation and at nextEvaluationAt.
 */
export function evaluate(state: PipelineState, firing: readonly AlertInput[], now: number, config: PipelineConfig = DEFAULT_PIPELINE_CONFIG): EvaluateResult {
  if (!Number.isFinite(now)) throw new RangeError(`now must be finite ms, got ${String(now)}`);
  const { alerts, groups } = reconcile(state, firing, now, config);
  // Inhibition sources are all firing alerts, silenced or not (as in Alertmanager).
  const sources = Object.values(alerts).filter((a) => a.endsAt === null).map((a) => a.labels);
  const members = new Map<string, ActiveAlert[]>();
  for (const a of Object.values(alerts)) {
    const list = members.get(a.groupKey);
    if (list === undefined) members.set(a.groupKey, [a]);
    else list.push(a);
  }

  const notifications: Notification[] = [];
  for (const key of Object.keys(groups).sort()) {
    const group = get(groups, key);
    if (group === undefined || now < group.nextFlushAt) continue;
    const list = (members.get(key) ?? []).sort((x, y) => (x.fingerprint < y.fingerprint ? -1 : 1));
    const firingNow = list.filter((a) => a.endsAt === null && !isMuted(a, sources, state.silences, now, config));
    const known = new Set(group.notifiedFiring);
    const resolvedKnown = list.filter((a) => a.endsAt !== null && known.has(a.fingerprint));

    const hasNew = firingNow.some((a) => !known.has(a.fingerprint));
    const repeatDue = group.lastNotifiedAt !== null && now - group.lastNotifiedAt >= config.repeatIntervalMs;
    const send = hasNew || (config.sendResolved && resolvedKnown.length > 0) || (firingNow.length > 0 && repeatDue);

    let next: AlertGroup = { ...group, nextFlushAt: now + config.groupIntervalMs };
    if (send) {
      const resolvedListed = config.sendResolved ? resolvedKnown.map((a) => notified(a, "resolved")) : [];
      const all = [...firingNow.map((a) => notified(a, "firing")), ...resolvedListed];
      const limit = Math.max(1, Math.floor(config.maxAlertsPerNotification));
      const listed = all.slice(0, limit);
      notifications.push({
        groupKey: key,
        groupLabels: group.labels,
        status: firingNow.length > 0 ? "firing" : "resolved",
        alerts: listed,
        counts: { firing: firingNow.length, resolved: resolvedListed.length },
        ...(all.length > listed.length ? { truncated: all.length - listed.length } : {}),
        at: now,
      });
      next = { ...next, lastNotifiedAt: now, notifiedFiring: firingNow.map((a) => a.fingerprint) };
    } else {
      const resolved = new Set(list.filter((a) => a.endsAt !== null).map((a) => a.fingerprint));
      next = { ...next, notifiedFiring: group.notifiedFiring.filter((fp) => !resolved.has(fp)) };
    }
    // A flush settles every resolved member: announced now, or never known to the receiver.
    for (const a of list) if (a.endsAt !== null) delete alerts[a.fingerprint];
    if (list.every((a) => a.endsAt !== null)) delete groups[key];
    else put(groups, key, next);
  }

  let nextEvaluationAt: number | null = null;
  for (const g of Object.values(groups)) nextEvaluationAt = nextEvaluationAt === null ? g.nextFlushAt : Math.min(nextEvaluationAt, g.nextFlushAt);
  return { state: { alerts, groups, silences: state.silences }, notifications, nextEvaluationAt };
}

export interface AlertStatus {
  readonly alert: ActiveAlert;
  readonly state: "active" | "suppressed" | "resolved";
  readonly silencedBy: readonly string[];
  readonly inhibited: boolean;
}

/** Every known alert with why it is or is not being notified, for the dashboard. */
export function alertStatuses(state: PipelineState, now: number, config: PipelineConfig = DEFAULT_PIPELINE_CONFIG): AlertStatus[] {
  const all = Object.values(state.alerts).sort((x, y) => (x.fingerprint < y.fingerprint ? -1 : 1));
  const sources = all.filter((a) => a.endsAt === null).map((a) => a.labels);
  return all.map((alert) => {
    const ids = silencedBy(alert.labels, state.silences, now);
    const inhibited = alert.endsAt === null && isInhibited(alert.labels, sources, config.inhibitRules);
    const status = alert.endsAt !== null ? "resolved" : ids.length > 0 || inhibited ? "suppressed" : "active";
    return { alert, state: status, silencedBy: ids, inhibited };
  });
}
