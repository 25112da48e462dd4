/**
 * Inhibition: a firing source alert mutes target alerts that share the `equal`
 * labels. The default rule says that when a service is down, its error-rate,
 * latency and per-instance alerts are symptoms of the same incident and only
 * ServiceDown should page.
 */
import type { LabelSet } from "./alert";
import { type Matcher, fingerprint, matchesAll } from "./labels";

export interface InhibitRule {
  readonly sourceMatchers: readonly Matcher[];
  readonly targetMatchers: readonly Matcher[];
  /** Labels that must have the same value on source and target (absent = ""). */
  readonly equal: readonly string[];
}

export const DEFAULT_INHIBIT_RULES: readonly InhibitRule[] = [
  {
    sourceMatchers: [{ name: "alertname", value: "ServiceDown" }],
    targetMatchers: [{ name: "alertname", value: "HighErrorRate|HighLatency|InstanceUnhealthy|HeartbeatLapsed", isRegex: true }],
    equal: ["service"],
  },
];

function labelValue(labels: LabelSet, name: string): string {
  return Object.hasOwn(labels, name) ? (labels[name] ?? "") : "";
}

/** Whether `target` is muted by one of the firing `sources`; an alert never inhibits itself. */
export function isInhibited(target: LabelSet, sources: readonly LabelSet[], rules: readonly InhibitRule[]): boolean {
  const targetFp = fingerprint(target);
  return rules.some(
    (rule) =>
      matchesAll(rule.targetMatchers, target) &&
      sources.some(
        (source) =>
          matchesAll(rule.sourceMatchers, source) &&
          rule.equal.every((name) => labelValue(source, name) === labelValue(target, name)) &&
          fingerprint(source) !== targetFp,
      ),
  );
}
