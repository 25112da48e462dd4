/**
 * MetricsDO: metrics, alerting and the orchestrator's background loop. One
 * instance ("global"). This file is the object's RPC surface and its wiring;
 * the work is done in the modules beside it and in src/core.
 *
 * - Ingests pre-aggregated batches of request outcomes and WebSocket
 *   connection events from the edge (one call per batch, not per request) and
 *   keeps totals, sketches and rolling windows (core/metrics).
 * - Its alarm runs the loop's named tasks (core/alarm-tasks), in order: the
 *   active health sweep (this object coordinates: it hands each shard's round
 *   to the probers of every vantage point, ProberDO, collects their batches in
 *   `reportProbes` and decides each round by quorum; health state lives in
 *   RegistryDO), closing rounds past their deadline, autoscaling, alert evaluation (the Alertmanager-style
 *   pipeline of core/alerts), webhook delivery, persistence and the dashboard
 *   push. The alarm is re-armed in `finally`, whatever a tick does, and the
 *   constructor arms it if none is pending, so the loop restarts by itself
 *   after an eviction or a runtime restart.
 * - Hosts the live dashboard's hibernatable WebSockets (dashboard-hub.ts).
 *
 * State is kept in memory and written to SQLite as JSON documents (store.ts):
 * at most PERSIST_INTERVAL_MS after a change, and at once for silences and
 * notifications (which must never be lost or repeated).
 */
import { DurableObject } from "cloudflare:workers";
import { type Config, configFor } from "../../src/config";
import type { AlertsView, DashboardState, LoopStatus, SilenceResult } from "../../src/contracts/metrics";
import type { ProbeBatch } from "../../src/contracts/prober";
import { type OpenRound, SweepRounds } from "../../src/core/health";
import type { RegistrySnapshot } from "../../src/contracts/registry";
import { AlarmTaskRunner, type FailurePolicy, type TaskFailure } from "../../src/core/alarm-tasks";
import { createAlertHistory } from "../../src/core/alerts/history";
import { createOutbox, nextDueAt } from "../../src/core/alerts/outbox";
import { alertStatuses, createPipelineState, DEFAULT_PIPELINE_CONFIG, type PipelineConfig } from "../../src/core/alerts/pipeline";
import { addSilence, expireSilence, pruneSilences, type Silence } from "../../src/core/alerts/silences";
import { applyBatch, createMetricsState, type MetricsState } from "../../src/core/metrics/aggregate";
import { own } from "../../src/core/metrics/own";
import { prometheusText } from "../../src/core/metrics/prometheus";
import type { Batch } from "../../src/core/metrics/record";
import { type MetricsView, metricsView } from "../../src/core/metrics/view";
import { registryStub } from "../../src/platform/stubs";
import { deliverDue } from "./alert-delivery";
import { evaluateAlertRound } from "./alert-evaluation";
import { Autoscaler } from "./autoscaler";
import { DashboardHub, type SocketAttachment } from "./dashboard-hub";
import { applyRound } from "./health-rounds";
import { startHealthSweep } from "./health-sweep";
import { withoutDeregistered } from "./registry-snapshot";
import { MetricsStore } from "./store";
import { SweepStatus } from "./sweep-status";

/** Never tick faster than this, whatever the tasks ask for: probes need time to land. */
const MIN_TICK_MS = 250;
const PERSIST_INTERVAL_MS = 2_000;

/** The tasks whose consecutive failures LoopStatus shows. */
const SWEEP_TASK = "health-sweep";
const ROUNDS_TASK = "health-rounds";
const ALERTS_TASK = "alerts";

/**
 * Delivery, persistence and the push handle no failure of their own: one ends the tick and
 * fails the alarm handler, as it always has, and `finally` still re-arms the alarm.
 */
const END_TICK: FailurePolicy = { kind: "end-tick" };

export class MetricsDO extends DurableObject<Env> {
  private readonly config: Config;
  private readonly pipelineConfig: PipelineConfig;
  private readonly store: MetricsStore;
  private readonly hub: DashboardHub;
  private readonly autoscaler: Autoscaler;
  private readonly loop: AlarmTaskRunner;
  private metrics = createMetricsState();
  private pipeline = createPipelineState();
  private outbox = createOutbox();
  private history = createAlertHistory();
  private metricsDirtySince: number | null = null;
  private readonly sweeps = new SweepStatus();
  /** Sweep rounds handed to probers and not decided yet (core/health/sweep-rounds.ts). */
  private readonly rounds = new SweepRounds();
  /** Each vantage point's run of failed probes, for the quorum's partition rule. Memory only. */
  private readonly failureRuns = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    this.pipelineConfig = {
      ...DEFAULT_PIPELINE_CONFIG,
      groupWaitMs: this.config.alerts.groupWaitMs,
      groupIntervalMs: this.config.alerts.groupIntervalMs,
      repeatIntervalMs: this.config.alerts.repeatIntervalMs,
    };
    this.store = new MetricsStore(ctx.storage);
    this.hub = new DashboardHub(ctx, () => this.dashboardState(), (at) => this.armAtMost(at));
    this.autoscaler = new Autoscaler(this.config);
    // Tick order matters: alert evaluation sees this tick's health and autoscaling, delivery
    // sends what it queued, and the push shows all of it. The tasks read `this.env` on each
    // run (never a copy), so what they call is always the object's current binding.
    this.loop = new AlarmTaskRunner(
      [
        {
          name: SWEEP_TASK,
          runs: "when-due",
          run: (now) => this.sweep(now),
          onFailure: { kind: "back-off", message: "health sweep failed", maxDelayMs: this.config.health.intervalMs },
        },
        {
          // Rounds whose vantage points did not all answer are decided at their deadline.
          name: ROUNDS_TASK,
          runs: "every-tick",
          run: (now) => this.closeExpiredRounds(now),
          onFailure: { kind: "log", message: "deciding expired health rounds failed", wakeAt: (now) => now + 1_000 },
        },
        {
          // Every tick: the registry decides whether each policy's evaluation period is due.
          name: "autoscale",
          runs: "every-tick",
          run: (now) => this.autoscale(now),
          onFailure: { kind: "log", message: "autoscale evaluation failed", wakeAt: (now) => this.autoscaler.wakeAt(now) },
        },
        {
          name: ALERTS_TASK,
          runs: "when-due",
          run: (now) => this.evaluateAlerts(now),
          onFailure: { kind: "back-off", message: "alert evaluation failed", maxDelayMs: this.config.alerts.evaluationIntervalMs },
        },
        { name: "delivery", runs: "every-tick", run: (now) => this.deliver(now), onFailure: END_TICK },
        { name: "persist", runs: "every-tick", run: async () => this.persistIfDirty(), onFailure: END_TICK },
        { name: "push", runs: "every-tick", run: (now) => this.push(now), onFailure: END_TICK },
      ],
      logTaskFailure,
    );
    void ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      this.metrics = this.store.read("metrics") ?? this.metrics;
      this.pipeline = this.store.read("pipeline") ?? this.pipeline;
      this.outbox = this.store.read("outbox") ?? this.outbox;
      this.history = this.store.read("history") ?? this.history;
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + MIN_TICK_MS);
    });
  }

  // ------------------------------------------------------------------ RPC

  /** Called by RegistryDO when it starts; constructing this object is what matters. */
  async ensureRunning(): Promise<number | null> {
    return this.ctx.storage.getAlarm();
  }

  /** One pre-aggregated batch of request outcomes and connection events from an edge isolate. */
  async ingest(batch: Batch): Promise<void> {
    const now = Date.now();
    this.metrics = applyBatch(this.metrics, batch, now);
    this.hub.markChanged();
    this.metricsDirtySince ??= now;
    if (now - this.metricsDirtySince >= PERSIST_INTERVAL_MS) this.persistMetrics();
    else await this.armAtMost(this.metricsDirtySince + PERSIST_INTERVAL_MS);
  }

  async view(service: string | null): Promise<MetricsView | null> {
    const extras = await registryStub(this.env).metricsExtras();
    if (service !== null && !Object.hasOwn(extras, service)) return null;
    const view = metricsView(this.metrics, Date.now(), extras);
    if (service === null) return view;
    const worker = own(view.workers, service);
    // A computed key in a literal defines an own property, whatever the name.
    return worker === undefined ? view : { ...view, workers: { [service]: worker } };
  }

  /** The Prometheus exposition; for one service when `service` is given (null when it is unknown). */
  async prometheus(service: string | null = null): Promise<string | null> {
    const extras = await registryStub(this.env).metricsExtras();
    if (service === null) return prometheusText(this.metrics, extras);
    const entry = own(extras, service);
    if (entry === undefined) return null;
    // Own properties only: for a service named "constructor" without traffic yet, a plain
    // lookup found Object and the rendering threw (security review finding 2).
    const only = own(this.metrics.services, service);
    const state: MetricsState = { ...this.metrics, services: only === undefined ? {} : { [service]: only } };
    return prometheusText(state, { [service]: entry });
  }

  /**
   * One prober's batch for one round (ProberDO calls this when its probes are done). When it
   * completes its round (every vantage point has answered), the round is decided by quorum and
   * applied in one registry call; otherwise the round waits for the others or its deadline.
   */
  async reportProbes(batch: ProbeBatch): Promise<void> {
    const outcome = this.rounds.add(batch, Date.now());
    if (outcome.kind === "complete") await this.decide(outcome.round);
    else if (outcome.kind === "waiting") await this.armAtMost(batch.deadline);
  }

  /**
   * An instance asked for a probe before its interval (RegistryDO calls this, in the background,
   * when one re-registers or heartbeats while unhealthy): the sweep runs now, and finds it due.
   */
  async probeSoon(): Promise<void> {
    const now = Date.now();
    const due = this.loop.nextAt(SWEEP_TASK);
    if (due === null || due > now) this.loop.scheduleAt(SWEEP_TASK, now);
    await this.armAtMost(now);
  }

  status(): LoopStatus {
    return {
      lastSweepAt: this.sweeps.lastSweepAt,
      lastSweepProbed: this.sweeps.lastSweepProbed,
      lastSweepDurationMs: this.sweeps.lastSweepDurationMs,
      lastSweepShards: this.sweeps.lastSweepShards,
      lastSweepRounds: this.sweeps.lastSweepRounds,
      vantagePoints: this.config.health.vantagePoints,
      probesInFlight: this.rounds.inFlightCount(),
      lastCompletedSweep: this.sweeps.lastCompletedSweep,
      consecutiveSweepFailures: this.loop.failures(SWEEP_TASK),
      consecutiveAlertFailures: this.loop.failures(ALERTS_TASK),
      recentEvents: this.sweeps.recentEvents,
    };
  }

  alerts(): AlertsView {
    return {
      active: alertStatuses(this.pipeline, Date.now(), this.pipelineConfig),
      history: this.history,
      outbox: {
        pending: this.outbox.entries.length,
        delivered: this.outbox.delivered,
        deadLettered: this.outbox.deadLettered,
        dropped: this.outbox.dropped,
      },
    };
  }

  silences(): readonly Silence[] {
    return pruneSilences(this.pipeline.silences, Date.now());
  }

  createSilence(silence: Silence): SilenceResult {
    const now = Date.now();
    const added = addSilence(pruneSilences(this.pipeline.silences, now), silence, now);
    if (!added.ok) return added;
    this.pipeline = { ...this.pipeline, silences: added.silences };
    this.store.write("pipeline", this.pipeline);
    return { ok: true, silence };
  }

  /** Expires a silence now (kept until pruned, as Alertmanager does). False when no such silence. */
  deleteSilence(id: string): boolean {
    if (!this.pipeline.silences.some((s) => s.id === id)) return false;
    this.pipeline = { ...this.pipeline, silences: expireSilence(this.pipeline.silences, id, Date.now()) };
    this.store.write("pipeline", this.pipeline);
    return true;
  }

  async dashboardState(): Promise<DashboardState> {
    const now = Date.now();
    const registry = registryStub(this.env);
    // The extras come from their own call, not from the snapshot: they carry the open WebSocket
    // counts the snapshot does not, and it keeps the dashboard's numbers the same as /metrics'.
    const [snapshot, autoscaling, extras, releases] = await Promise.all([registry.snapshot(), registry.autoscaleViews(), registry.metricsExtras(), registry.releaseSummaries()]);
    return {
      type: "snapshot",
      generatedAt: new Date(now).toISOString(),
      environment: this.config.environment,
      services: snapshot.services,
      metrics: metricsView(this.metrics, now, extras),
      alerts: this.alerts(),
      autoscaling,
      releases,
      loop: this.status(),
    };
  }

  /** Something an operator did changed what the dashboard shows: push it now. */
  async notifyChanged(): Promise<void> {
    this.hub.markChanged();
    await this.hub.push(true);
  }

  // ------------------------------------------------------------------ live dashboard (dashboard-hub.ts)

  /** Accepts a dashboard WebSocket; only the edge calls this, after checking the session. */
  override async fetch(request: Request): Promise<Response> {
    return this.hub.accept(request);
  }

  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.hub.message(socket, message);
  }

  override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
    this.hub.closed(socket, code);
  }

  /** Closes the dashboards of a session that signed out. */
  closeSession(sessionId: string): number {
    return this.hub.closeSession(sessionId);
  }

  /** How many dashboards are connected (and since when), from the attachments: works after hibernation too. */
  subscribers(): SocketAttachment[] {
    return this.hub.subscribers();
  }

  // ------------------------------------------------------------------ the loop

  override async alarm(): Promise<void> {
    const now = Date.now();
    // What the alarm is armed for when a task ends the tick early.
    let nextAt = now + Math.min(this.config.health.intervalMs, this.config.alerts.evaluationIntervalMs);
    try {
      nextAt = (await this.loop.tick(now)) ?? nextAt;
    } finally {
      await this.ctx.storage.setAlarm(Math.max(nextAt, Date.now() + MIN_TICK_MS));
    }
  }

  /**
   * When the next health sweep is due. Nothing here reads it: it is the handle for making
   * a sweep due at once from runInDurableObject (the tests set it to 0).
   */
  private get nextSweepAt(): number | null {
    return this.loop.nextAt(SWEEP_TASK);
  }

  private set nextSweepAt(at: number | null) {
    this.loop.scheduleAt(SWEEP_TASK, at);
  }

  /** The health sweep task: hands what is due to the probers; resolves to when the next sweep is due. */
  private async sweep(now: number): Promise<number> {
    const kick = await startHealthSweep(this.env, this.config, registryStub(this.env), this.rounds, now, Math.random);
    this.sweeps.started(now, kick);
    return kick.nextAt;
  }

  /** The rounds task: decides the rounds whose deadline passed with the batches they have. */
  private async closeExpiredRounds(now: number): Promise<number | null> {
    for (const round of this.rounds.expire(now)) await this.decide(round);
    return this.rounds.nextDeadline();
  }

  /** Decides a closed round and applies it in one registry call; records it for LoopStatus and logs its events. */
  private async decide(round: OpenRound): Promise<void> {
    let result: Awaited<ReturnType<typeof applyRound>>;
    try {
      result = await applyRound(registryStub(this.env), round, this.failureRuns);
    } finally {
      // Only now: a sweep that ran meanwhile must not have seen these instances as due again.
      this.rounds.release(round);
    }
    this.sweeps.roundDecided(round.round, result.decision, result.perVantage, result.applied, Date.now());
    const { discounted, missing } = result.decision;
    if (discounted.length > 0 || missing.length > 0) {
      console.warn(JSON.stringify({ level: "warn", message: "health round decided without some vantage points", round: round.round, shard: round.shard, discounted, missing }));
    }
    if (result.events.length > 0) {
      this.sweeps.addEvents(result.events);
      this.hub.markChanged();
      // Warn for what an operator should see in the terminal (npm start shows warn and error): a
      // failure threshold crossed, and an instance turning unhealthy.
      for (const event of result.events) {
        const notable = event.type === "failure-threshold" || (event.type === "status-changed" && event.to === "unhealthy");
        console.log(JSON.stringify({ level: notable ? "warn" : "info", message: "health event", ...event }));
      }
    }
  }

  /** The autoscale task: latency and error rate come from the last minute of traffic. */
  private async autoscale(now: number): Promise<number | null> {
    await this.autoscaler.run(registryStub(this.env), () => this.metrics, now, {
      changed: () => this.hub.markChanged(),
      waitUntil: (promise) => this.ctx.waitUntil(promise),
    });
    return this.autoscaler.wakeAt(now);
  }

  /**
   * The alert task. Rules → pipeline → outbox, committed together: the pipeline state that
   * says a notification was sent and the outbox entry that will send it are written in the
   * same turn, so a crash can neither lose nor repeat it.
   */
  private async evaluateAlerts(now: number): Promise<number> {
    const registry = registryStub(this.env);
    const [snapshot, releaseFacts] = await Promise.all([registry.snapshot(), registry.releaseFacts()]);
    this.forgetDeregistered(snapshot, now);
    const round = evaluateAlertRound(
      {
        snapshot,
        metrics: this.metrics,
        pipeline: this.pipeline,
        history: this.history,
        outbox: this.outbox,
        extraAlerts: this.autoscaler.atMaxAlerts(),
        releaseFacts,
        config: this.config,
        pipelineConfig: this.pipelineConfig,
      },
      now,
    );
    // Pipeline state, history and outbox are written in one transaction and only then taken into
    // memory: a failure part-way leaves neither a notification marked sent that is not queued, nor
    // one queued twice on the next evaluation.
    const { queued } = round;
    this.store.writeTogether(queued === null ? { pipeline: round.pipeline } : { pipeline: round.pipeline, history: queued.history, outbox: queued.outbox });
    this.pipeline = round.pipeline;
    if (queued !== null) {
      this.history = queued.history;
      this.outbox = queued.outbox;
      this.hub.markChanged();
      for (const notification of round.notifications) {
        console.log(JSON.stringify({ level: notification.status === "firing" ? "warn" : "info", message: "alert notification", group: notification.groupKey, status: notification.status, alerts: notification.alerts.length }));
      }
    }
    return round.nextAt;
  }

  /** Instances the registry no longer has leave the per-instance series (into their service's retired totals). */
  private forgetDeregistered(snapshot: RegistrySnapshot, now: number): void {
    const metrics = withoutDeregistered(this.metrics, snapshot, now);
    if (metrics === this.metrics) return;
    this.metrics = metrics;
    this.metricsDirtySince ??= now;
  }

  /** The delivery task: sends the webhooks that are due; resolves to when the next one is. */
  private async deliver(now: number): Promise<number | null> {
    if (this.outbox.entries.length > 0) {
      const before = this.outbox;
      this.outbox = await deliverDue(this.outbox, this.config, now);
      if (this.outbox !== before) this.store.write("outbox", this.outbox);
    }
    return nextDueAt(this.outbox);
  }

  /** The persist task: ingest arms the alarm for its own deadline, so this never asks for a tick. */
  private persistIfDirty(): null {
    if (this.metricsDirtySince !== null) this.persistMetrics();
    return null;
  }

  /** The push task: while dashboards are connected, tick often enough for the push throttle. */
  private async push(now: number): Promise<number | null> {
    await this.hub.push();
    return this.hub.nextPushAt(now);
  }

  // ------------------------------------------------------------------ storage and alarm

  private persistMetrics(): void {
    this.store.write("metrics", this.metrics);
    this.metricsDirtySince = null;
  }

  /** Brings the alarm forward to `at` when it is due later (never postpones it). */
  private async armAtMost(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}

/** Log lines as the loop's steps always wrote them: counted failures say how many in a row. */
function logTaskFailure(failure: TaskFailure): void {
  const counted = failure.policy === "back-off" ? { failures: failure.failures } : {};
  console.error(JSON.stringify({ level: "error", message: failure.message, ...counted, error: String(failure.error) }));
}
