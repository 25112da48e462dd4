/**
 * The alert vocabulary shared by rules, pipeline and payloads. Labels identify
 * an alert (they are hashed into its fingerprint), annotations describe it and
 * may change between evaluations without making it a different alert.
 */

export const ALERT_NAMES = [
  "InstanceUnhealthy",
  "ServiceDown",
  "HighErrorRate",
  "HighLatency",
  "HeartbeatLapsed",
  "NoInstances",
  "CanaryRolledBack",
  "CanaryPromoted",
  "CanaryStalled",
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

/** `info`: worth telling the channel (a release promoted), never worth paging anyone. */
export type Severity = "critical" | "warning" | "info";

/** Any label set; undefined or "" values mean "label absent" (as in Prometheus). */
export type LabelSet = Readonly<Record<string, string | undefined>>;

export type AlertLabels = {
  readonly alertname: AlertName;
  readonly service: string;
  readonly instance?: string;
  /** The canary's version, on release alerts. */
  readonly version?: string;
  readonly severity: Severity;
};

export type Annotations = {
  readonly summary: string;
  readonly description: string;
};

/** A currently firing alert as a rule produces it. */
export interface Alert {
  readonly labels: AlertLabels;
  readonly annotations: Annotations;
  /** When the rule saw it firing; the pipeline keeps the first value for an ongoing alert. */
  readonly startsAt: number;
}
