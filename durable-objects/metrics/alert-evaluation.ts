/**
 * One alert evaluation: the rules over the registry snapshot and the metrics,
 * the release rules over the registry's release facts (CanaryRolledBack,
 * CanaryPromoted, CanaryStalled), plus the alerts the loop raises itself
 * (AutoscaleAtMax), go through the
 * Alertmanager-style pipeline; its notifications become alert history and
 * outbox entries, one per configured receiver. A function of its inputs: the
 * object fetches the snapshot before and commits the result after, so what
 * is decided here is either stored whole or not at all.
 */
import type { Config } from "../../src/config";
import type { RegistrySnapshot } from "../../src/contracts/registry";
import { alertFacts } from "../../src/core/alerts/facts";
import { type AlertHistory, appendAlertHistory } from "../../src/core/alerts/history";
import { enqueue, type Outbox } from "../../src/core/alerts/outbox";
import { discordPayload, slackPayload } from "../../src/core/alerts/payloads";
import { type AlertInput, evaluate, type Notification, type PipelineConfig, type PipelineState } from "../../src/core/alerts/pipeline";
import { evaluateRules } from "../../src/core/alerts/rules";
import { releaseAlerts, type ReleaseFact } from "../../src/core/alerts/release-rules";
import { pruneSilences } from "../../src/core/alerts/silences";
import type { MetricsState } from "../../src/core/metrics/aggregate";

export interface AlertEvaluationInput {
  readonly snapshot: RegistrySnapshot;
  readonly metrics: MetricsState;
  readonly pipeline: PipelineState;
  readonly history: AlertHistory;
  readonly outbox: Outbox;
  /** Firing alerts from other sources than the rules (the autoscaler's). */
  readonly extraAlerts: readonly AlertInput[];
  /** Recent release promotions and rollbacks and stalled releases (RegistryDO.releaseFacts); none when absent. */
  readonly releaseFacts?: readonly ReleaseFact[];
  readonly config: Config;
  readonly pipelineConfig: PipelineConfig;
}

export interface AlertEvaluation {
  readonly pipeline: PipelineState;
  readonly notifications: readonly Notification[];
  /** The history and outbox with the notifications added; null when there are none (both unchanged). */
  readonly queued: { readonly history: AlertHistory; readonly outbox: Outbox } | null;
  /** When to evaluate next: the evaluation interval, or sooner when a group's flush is due. */
  readonly nextAt: number;
}

export function evaluateAlertRound(input: AlertEvaluationInput, now: number): AlertEvaluation {
  const { config } = input;
  const firing = evaluateRules(
    alertFacts(input.snapshot, input.metrics, now),
    {
      errorRateThresholdPercent: config.errorRateThresholdPercent,
      responseTimeThresholdMs: config.responseTimeThresholdMs,
      minRequestVolume: config.alerts.minRequestVolume,
      alertThreshold: config.health.alertThreshold,
    },
    now,
  );
  const result = evaluate({ ...input.pipeline, silences: pruneSilences(input.pipeline.silences, now) }, [...firing, ...releaseAlerts(input.releaseFacts ?? [], now), ...input.extraAlerts], now, input.pipelineConfig);
  return {
    pipeline: result.state,
    notifications: result.notifications,
    queued: withNotifications(input, result.notifications, now),
    nextAt: Math.min(now + config.alerts.evaluationIntervalMs, result.nextEvaluationAt ?? Number.POSITIVE_INFINITY),
  };
}

/** The history and outbox with these notifications added (one outbox entry per configured receiver), or null when there are none. */
function withNotifications(input: AlertEvaluationInput, notifications: readonly Notification[], now: number): AlertEvaluation["queued"] {
  if (notifications.length === 0) return null;
  const { environment, alerts } = input.config;
  let outbox = input.outbox;
  for (const notification of notifications) {
    // One id per notification and receiver: the outbox ignores an id it already holds, so nothing is queued twice.
    const id = `${notification.groupKey}:${notification.status}:${notification.at}`;
    if (alerts.slackWebhookUrl) outbox = enqueue(outbox, { id: `slack:${id}`, target: "slack", payload: slackPayload(notification, { environment }) }, now);
    if (alerts.discordWebhookUrl) outbox = enqueue(outbox, { id: `discord:${id}`, target: "discord", payload: discordPayload(notification, { environment }) }, now);
  }
  return { history: appendAlertHistory(input.history, notifications), outbox };
}
