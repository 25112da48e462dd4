/**
 * Autoscaling, driven by MetricsDO's loop: on every tick, each service with a
 * policy gets its last minute of traffic (p95 latency, error rate) sent to the
 * registry, which decides whether the policy's evaluation period is due and
 * acts. The registry owns the policies and the decisions; this side remembers
 * only what the loop needs: how many services have a policy (to tick often
 * enough) and which are pinned at maxInstances while still over target (for
 * the AutoscaleAtMax alert).
 */
import type { Config } from "../../src/config";
import type { AlertInput } from "../../src/core/alerts/pipeline";
import { type MetricsState, serviceWindowStats } from "../../src/core/metrics/aggregate";
import { quantile } from "../../src/core/metrics/sketch";
import type { registryStub } from "../../src/platform/stubs";
import { notifyScaleWebhook } from "./scale-webhook";

/** Policies are evaluated on their own periods; a tick a second does not miss one by much. */
const AUTOSCALE_TICK_MS = 1_000;

export interface AutoscaleEffects {
  /** A decision moved instances: what the dashboard shows changed. */
  changed(): void;
  /** Keeps the scale webhook's call alive past the tick. */
  waitUntil(promise: Promise<unknown>): void;
}

export class Autoscaler {
  /** Services at maxInstances and still over target, in the order they got there. */
  private readonly atMax = new Map<string, { since: number; detail: string }>();
  private autoscaledServices = 0;

  constructor(private readonly config: Config) {}

  /**
   * One round over every service with a policy. `metrics` is read per service, as the
   * round awaits the registry in between and ingests may land meanwhile.
   */
  async run(registry: ReturnType<typeof registryStub>, metrics: () => MetricsState, now: number, effects: AutoscaleEffects): Promise<void> {
    // Only the names: this runs every tick, and a full registry snapshot is not needed for it.
    const names = await registry.autoscaledServices();
    this.autoscaledServices = names.length;
    for (const name of this.atMax.keys()) if (!names.includes(name)) this.atMax.delete(name);
    for (const name of names) {
      const window = serviceWindowStats(metrics(), name, now, 1);
      const traffic = window.requests < 1 ? { p95Ms: null, errorRatePercent: null } : { p95Ms: quantile(window.sketch, 0.95), errorRatePercent: window.errorRatePercent };
      const result = await registry.autoscale(name, traffic);
      if (!result.ok || result.decision === null) continue;
      const { decision } = result;
      if (decision.atMaxStillOverTarget) {
        if (!this.atMax.has(name)) this.atMax.set(name, { since: now, detail: `desired ${decision.rawDesired} > max ${decision.desired}` });
      } else {
        this.atMax.delete(name);
      }
      if (decision.action !== "none") {
        effects.changed();
        console.log(JSON.stringify({ level: "info", message: "autoscale", service: name, mode: decision.mode, action: decision.action, current: decision.current, desired: decision.desired, moved: "moved" in result ? result.moved.length : 0 }));
        if (decision.mode === "enforce") effects.waitUntil(notifyScaleWebhook(this.config, name, decision.current, decision.desired, "shortBy" in result ? result.shortBy : 0));
      }
    }
  }

  /** While any service has a policy, the loop must tick about once a second (null: no need). */
  wakeAt(now: number): number | null {
    return this.autoscaledServices > 0 ? now + AUTOSCALE_TICK_MS : null;
  }

  /** AutoscaleAtMax, one firing alert per pinned service, for the alert evaluation. */
  atMaxAlerts(): AlertInput[] {
    return [...this.atMax].map(([service, { since, detail }]) => ({
      labels: { alertname: "AutoscaleAtMax", service, severity: "warning" },
      annotations: { summary: `${service} is at maxInstances and still over target`, description: detail },
      startsAt: since,
    }));
  }
}
