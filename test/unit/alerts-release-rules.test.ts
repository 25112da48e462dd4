/**
 * Release alerts (core/alerts/release-rules.ts): CanaryRolledBack and
 * CanaryPromoted fire for a window after the event and then resolve;
 * CanaryStalled fires while the controller keeps a release paused. Labels
 * carry the version; annotations the step and the numbers. Through the
 * pipeline, a rollback is one notification, then one resolved.
 */
import { describe, expect, it } from "vitest";
import { evaluate, createPipelineState, DEFAULT_PIPELINE_CONFIG } from "../../src/core/alerts/pipeline";
import { RELEASE_ALERT_WINDOW_MS, releaseAlerts, type ReleaseFact } from "../../src/core/alerts/release-rules";

const T0 = 1_700_000_000_000;
const fact = (over: Partial<ReleaseFact> = {}): ReleaseFact => ({
  service: "banking",
  version: "v2",
  releaseId: "r1",
  state: "rolled-back",
  at: T0,
  stepIndex: 1,
  steps: [5, 25, 100],
  actor: "release-controller",
  detail: "step 2 of 3 (25%): threshold crossed: error rate 40% > 5%",
  ...over,
});

describe("release alerts", () => {
  it("a rollback is critical, names the service, version, step and numbers, and lasts the window", () => {
    const [alert] = releaseAlerts([fact()], T0 + 1_000);
    expect(alert?.labels).toEqual({ alertname: "CanaryRolledBack", service: "banking", version: "v2", severity: "critical" });
    expect(alert?.annotations.summary).toBe("banking canary v2 rolled back at step 2 of 3 (25%)");
    expect(alert?.annotations.description).toMatch(/Release r1 of banking: .*error rate 40% > 5%/);
    expect(alert?.startsAt).toBe(T0);
    expect(releaseAlerts([fact()], T0 + RELEASE_ALERT_WINDOW_MS)).toHaveLength(1);
    expect(releaseAlerts([fact()], T0 + RELEASE_ALERT_WINDOW_MS + 1)).toEqual([]);
  });

  it("a promotion is info; a stalled release is a warning for as long as it stays paused", () => {
    expect(releaseAlerts([fact({ state: "promoted", stepIndex: 2 })], T0 + 1).map((a) => [a.labels.alertname, a.labels.severity, a.annotations.summary])).toEqual([
      ["CanaryPromoted", "info", "banking v2 promoted to 100%"],
    ]);
    expect(releaseAlerts([fact({ state: "paused" })], T0 + 10 * RELEASE_ALERT_WINDOW_MS).map((a) => [a.labels.alertname, a.labels.severity])).toEqual([["CanaryStalled", "warning"]]);
  });

  it("goes through the pipeline: notified once, then resolved when the window ends", () => {
    const config = { ...DEFAULT_PIPELINE_CONFIG, groupWaitMs: 0, groupIntervalMs: 1_000 };
    const first = evaluate(createPipelineState(), releaseAlerts([fact()], T0 + 1), T0 + 1, config);
    expect(first.notifications.map((n) => [n.groupKey, n.status])).toEqual([['{alertname="CanaryRolledBack",service="banking"}', "firing"]]);
    const later = T0 + RELEASE_ALERT_WINDOW_MS + 10;
    const resolved = evaluate(first.state, releaseAlerts([fact()], later), later, config);
    expect(resolved.notifications.map((n) => n.status)).toEqual(["resolved"]);
  });
});
