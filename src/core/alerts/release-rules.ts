/**
 * Release alerts (issue #20), from the registry's recent release facts:
 *
 * - CanaryRolledBack (critical): the controller rolled a canary back (a
 *   threshold crossed, or its instances gone) in the last
 *   RELEASE_ALERT_WINDOW_MS;
 * - CanaryPromoted (info): a release reached 100 % in that window;
 * - CanaryStalled (warning): the controller paused a release whose steps kept
 *   ending without enough requests to judge; it fires while the release stays
 *   paused.
 *
 * An event is not a condition, so the first two fire for a fixed window after
 * the event and then resolve: they go through the pipeline like any alert
 * (grouping, silences, inhibition, delivery) and the receivers hear of them
 * once, then once more as resolved. Dry runs raise none: nothing happened.
 */
import type { Alert, AlertName } from "./alert";
import { RULE_SEVERITY } from "./rules";

export const RELEASE_ALERT_WINDOW_MS = 15 * 60_000;

/** What the registry says about a release worth an alert (built from its records; never a dry run). */
export interface ReleaseFact {
  readonly service: string;
  readonly version: string;
  readonly releaseId: string;
  /** paused: only a release the controller paused. */
  readonly state: "promoted" | "rolled-back" | "paused";
  /** When it entered that state. */
  readonly at: number;
  readonly stepIndex: number;
  readonly steps: readonly number[];
  readonly actor: string;
  /** The transition's detail: why, with the numbers. */
  readonly detail: string;
}

export function releaseAlerts(facts: readonly ReleaseFact[], now: number): Alert[] {
  const out: Alert[] = [];
  for (const f of facts) {
    const step = `step ${f.stepIndex + 1} of ${f.steps.length} (${f.steps[f.stepIndex] ?? "?"}%)`;
    const recent = now - f.at <= RELEASE_ALERT_WINDOW_MS;
    switch (f.state) {
      case "rolled-back":
        if (recent) {
          out.push(
            alert("CanaryRolledBack", f, `${f.service} canary ${f.version} rolled back at ${step}`, `Release ${f.releaseId} of ${f.service}: ${f.detail}. Its weight is 0 % now; fix or stop its instances.`),
          );
        }
        break;
      case "promoted":
        if (recent) {
          out.push(
            alert("CanaryPromoted", f, `${f.service} ${f.version} promoted to 100%`, `Release ${f.releaseId} of ${f.service} (${f.actor}): ${f.detail}. Its weight is 100 % now; stop the other versions' instances when satisfied.`),
          );
        }
        break;
      case "paused":
        out.push(alert("CanaryStalled", f, `${f.service} release of ${f.version} paused at ${step}: too few requests to judge`, `Release ${f.releaseId} of ${f.service}: ${f.detail}. Resume, promote or abort it.`));
        break;
    }
  }
  return out;
}

function alert(alertname: AlertName, f: ReleaseFact, summary: string, description: string): Alert {
  return { labels: { alertname, service: f.service, version: f.version, severity: RULE_SEVERITY[alertname] }, annotations: { summary, description }, startsAt: f.at };
}
