/**
 * MetricsDO: the orchestrator's background loop. One instance ("global").
 *
 * Its alarm drives the active health sweeps (probing happens here, health
 * state lives in RegistryDO). The alarm is re-armed in `finally`, whatever a
 * sweep does, and the constructor arms it if none is pending, so the loop
 * restarts by itself after an eviction or a runtime restart.
 */
import { DurableObject } from "cloudflare:workers";
import { type Config, configFor } from "../src/config";
import { registryStub } from "../src/registry-client";
import type { InstanceHealthEvent } from "../src/registry-contract";
import { runHealthSweep } from "./health-sweep";

/** Never tick faster than this, whatever the intervals say: probes need time to land. */
const MIN_TICK_MS = 250;
const MAX_RECENT_EVENTS = 200;

export interface LoopStatus {
  readonly nextAlarmAt: number | null;
  readonly lastSweepAt: number | null;
  readonly lastSweepProbed: number;
  readonly consecutiveSweepFailures: number;
  readonly recentEvents: readonly InstanceHealthEvent[];
}

export class MetricsDO extends DurableObject<Env> {
  private readonly config: Config;
  private lastSweepAt: number | null = null;
  private lastSweepProbed = 0;
  private consecutiveSweepFailures = 0;
  private recentEvents: InstanceHealthEvent[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    void ctx.blockConcurrencyWhile(async () => {
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + MIN_TICK_MS);
    });
  }

  /** Called by RegistryDO when it starts; constructing this object is what matters. */
  async ensureRunning(): Promise<number | null> {
    return this.ctx.storage.getAlarm();
  }

  status(): LoopStatus {
    return {
      nextAlarmAt: null,
      lastSweepAt: this.lastSweepAt,
      lastSweepProbed: this.lastSweepProbed,
      consecutiveSweepFailures: this.consecutiveSweepFailures,
      recentEvents: this.recentEvents,
    };
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    let nextAt = now + this.config.health.intervalMs;
    try {
      const sweep = await runHealthSweep(this.env, this.config, registryStub(this.env), now, Math.random);
      nextAt = sweep.nextAt;
      this.lastSweepAt = now;
      this.lastSweepProbed = sweep.probed;
      this.consecutiveSweepFailures = 0;
      this.onHealthEvents(sweep.events);
    } catch (error) {
      this.consecutiveSweepFailures++;
      console.error(JSON.stringify({ level: "error", message: "health sweep failed", failures: this.consecutiveSweepFailures, error: String(error) }));
      // Back off a little on repeated failures, but keep the loop alive.
      nextAt = now + Math.min(this.config.health.intervalMs, 1000 * this.consecutiveSweepFailures);
    } finally {
      await this.ctx.storage.setAlarm(Math.max(nextAt, Date.now() + MIN_TICK_MS));
    }
  }

  private onHealthEvents(events: readonly InstanceHealthEvent[]): void {
    if (events.length === 0) return;
    for (const event of events) console.log(JSON.stringify({ level: event.type === "failure-threshold" ? "warn" : "info", message: "health event", ...event }));
    this.recentEvents = [...events.slice().reverse(), ...this.recentEvents].slice(0, MAX_RECENT_EVENTS);
  }
}
