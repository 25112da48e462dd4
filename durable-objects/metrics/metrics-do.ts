/**
 * MetricsDO: metrics, alerting and the orchestrator's background loop. One
 * instance ("global").
 *
 * - Ingests pre-aggregated batches of request outcomes from the edge (one
 *   call per batch, not per request) and keeps totals, sketches and rolling
 *   windows (core/metrics).
 * - Its alarm drives the active health sweeps (probing happens here, health
 *   state lives in RegistryDO), evaluates the alert rules, runs the
 *   Alertmanager-style pipeline (core/alerts) and delivers webhooks.
 * - The alarm is re-armed in `finally`, whatever a tick does, and the
 *   constructor arms it if none is pending, so the loop restarts by itself
 *   after an eviction or a runtime restart.
 *
 * State is kept in memory and written to SQLite as JSON documents: at most
 * PERSIST_INTERVAL_MS after a change, and at once for silences and
 * notifications (which must never be lost or repeated).
 */
import { DurableObject } from "cloudflare:workers";
import { deliverDue } from "./alert-delivery";
import { type Config, configFor } from "../../src/config";
import { alertFacts } from "../../src/core/alerts/facts";
import { type AlertHistory, appendAlertHistory, createAlertHistory } from "../../src/core/alerts/history";
import { createOutbox, enqueue, nextDueAt, type Outbox } from "../../src/core/alerts/outbox";
import { discordPayload, slackPayload } from "../../src/core/alerts/payloads";
import {
  alertStatuses,
  type AlertStatus,
  createPipelineState,
  DEFAULT_PIPELINE_CONFIG,
  evaluate,
  type Notification,
  type PipelineConfig,
  type PipelineState,
} from "../../src/core/alerts/pipeline";
import { evaluateRules } from "../../src/core/alerts/rules";
import { addSilence, expireSilence, pruneSilences, type Silence } from "../../src/core/alerts/silences";
import { applyBatch, createMetricsState, type MetricsState, removeInstance, serviceWindowStats } from "../../src/core/metrics/aggregate";
import { own, setOwn } from "../../src/core/metrics/own";
import { quantile } from "../../src/core/metrics/sketch";
import { notifyScaleWebhook } from "./scale-webhook";
import { prometheusText } from "../../src/core/metrics/prometheus";
import type { Batch } from "../../src/core/metrics/record";
import { type MetricsExtras, type MetricsView, metricsView } from "../../src/core/metrics/view";
import { registryStub } from "../../src/platform/stubs";
import type { AutoscaleView, InstanceHealthEvent, RegistrySnapshot } from "../../src/contracts/registry";
import type { AlertsView, DashboardState, LoopStatus, SilenceResult } from "../../src/contracts/metrics";
import { runHealthSweep } from "./health-sweep";
import { applyMigrations } from "../migrations";

/** Never tick faster than this, whatever the intervals say: probes need time to land. */
const MIN_TICK_MS = 250;
const PERSIST_INTERVAL_MS = 2_000;
const MAX_RECENT_EVENTS = 200;

const METRICS_MIGRATIONS = [["CREATE TABLE documents (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)"]];

type DocumentKey = "metrics" | "pipeline" | "outbox" | "history";

/** Per-socket state, kept in the WebSocket's attachment so it survives hibernation and eviction. */
interface SocketAttachment {
  readonly connectedAt: number;
  /** The dashboard session it belongs to, so signing out closes it. */
  readonly sessionId: string | null;
  /** The dashboard session's expiry: the socket is closed when the session ends. */
  readonly sessionExpiresAt: number | null;
}

/** Pushes are throttled to one a second; a quiet dashboard still gets a heartbeat snapshot. */
const PUSH_MIN_INTERVAL_MS = 1_000;
const PUSH_IDLE_INTERVAL_MS = 10_000;
const AUTOSCALE_TICK_MS = 1_000;


export class MetricsDO extends DurableObject<Env> {
  private readonly config: Config;
  private readonly pipelineConfig: PipelineConfig;
  private metrics: MetricsState = createMetricsState();
  private pipeline: PipelineState = createPipelineState();
  private outbox: Outbox = createOutbox();
  private history: AlertHistory = createAlertHistory();
  private metricsDirtySince: number | null = null;
  private lastSweepAt: number | null = null;
  private lastSweepProbed = 0;
  private lastSweepDurationMs: number | null = null;
  private consecutiveSweepFailures = 0;
  private consecutiveAlertFailures = 0;
  private nextSweepAt = 0;
  private nextAlertAt = 0;
  private recentEvents: InstanceHealthEvent[] = [];
  private dashboardDirty = true;
  /** Services pinned at maxInstances while still over target, for the AutoscaleAtMax alert. */
  private autoscaleAtMax = new Map<string, { since: number; detail: string }>();
  private autoscaledServices = 0;
  private lastPushAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    this.pipelineConfig = {
      ...DEFAULT_PIPELINE_CONFIG,
      groupWaitMs: this.config.alerts.groupWaitMs,
      groupIntervalMs: this.config.alerts.groupIntervalMs,
      repeatIntervalMs: this.config.alerts.repeatIntervalMs,
    };
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage.sql, METRICS_MIGRATIONS);
      this.metrics = this.readDocument("metrics") ?? this.metrics;
      this.pipeline = this.readDocument("pipeline") ?? this.pipeline;
      this.outbox = this.readDocument("outbox") ?? this.outbox;
      this.history = this.readDocument("history") ?? this.history;
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + MIN_TICK_MS);
    });
  }

  // ------------------------------------------------------------------ RPC

  /** Called by RegistryDO when it starts; constructing this object is what matters. */
  async ensureRunning(): Promise<number | null> {
    return this.ctx.storage.getAlarm();
  }

  /** One pre-aggregated batch of request outcomes from an edge isolate. */
  async ingest(batch: Batch): Promise<void> {
    const now = Date.now();
    this.metrics = applyBatch(this.metrics, batch, now);
    this.dashboardDirty = true;
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

  status(): LoopStatus {
    return {
      lastSweepAt: this.lastSweepAt,
      lastSweepProbed: this.lastSweepProbed,
      lastSweepDurationMs: this.lastSweepDurationMs,
      consecutiveSweepFailures: this.consecutiveSweepFailures,
      consecutiveAlertFailures: this.consecutiveAlertFailures,
      recentEvents: this.recentEvents,
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
    this.writeDocument("pipeline", this.pipeline);
    return { ok: true, silence };
  }

  /** Expires a silence now (kept until pruned, as Alertmanager does). False when no such silence. */
  deleteSilence(id: string): boolean {
    if (!this.pipeline.silences.some((s) => s.id === id)) return false;
    this.pipeline = { ...this.pipeline, silences: expireSilence(this.pipeline.silences, id, Date.now()) };
    this.writeDocument("pipeline", this.pipeline);
    return true;
  }

  async dashboardState(): Promise<DashboardState> {
    const now = Date.now();
    const registry = registryStub(this.env);
    const [snapshot, autoscaling] = await Promise.all([registry.snapshot(), registry.autoscaleViews()]);
    return {
      type: "snapshot",
      generatedAt: new Date(now).toISOString(),
      environment: this.config.environment,
      services: snapshot.services,
      metrics: metricsView(this.metrics, now, extrasFrom(snapshot)),
      alerts: this.alerts(),
      autoscaling,
      loop: this.status(),
    };
  }

  /** Something an operator did changed what the dashboard shows: push it now. */
  async notifyChanged(): Promise<void> {
    this.dashboardDirty = true;
    await this.push(true);
  }

  // ------------------------------------------------------------------ live dashboard (hibernatable WebSockets)

  /**
   * Accepts a dashboard WebSocket. Only the edge calls this, after it has
   * checked the session; it passes the session's expiry along.
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const expires = Number(request.headers.get("x-session-expires-at"));
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const attachment: SocketAttachment = {
      connectedAt: Date.now(),
      sessionId: request.headers.get("x-session-id"),
      sessionExpiresAt: Number.isFinite(expires) && expires > 0 ? expires : null,
    };
    server.serializeAttachment(attachment);
    server.send(JSON.stringify(await this.dashboardState()));
    await this.armAtMost(Date.now() + PUSH_MIN_INTERVAL_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "ping") socket.send(JSON.stringify({ type: "pong", at: new Date().toISOString() }));
    else if (message === "refresh") socket.send(JSON.stringify(await this.dashboardState()));
  }

  override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
    // 1005 (no status) and 1006 (abnormal) may not be sent back; answer everything else in kind.
    if (code !== 1005 && code !== 1006) socket.close(code, "closing");
  }

  /** Closes the dashboards of a session that signed out. */
  closeSession(sessionId: string): number {
    let closed = 0;
    for (const socket of this.ctx.getWebSockets()) {
      const attachment = socket.deserializeAttachment() as SocketAttachment | null;
      if (attachment?.sessionId !== sessionId) continue;
      socket.close(4001, "signed out");
      closed++;
    }
    return closed;
  }

  /** How many dashboards are connected (and since when), from the attachments: works after hibernation too. */
  subscribers(): SocketAttachment[] {
    return this.ctx.getWebSockets().map((socket) => socket.deserializeAttachment() as SocketAttachment);
  }

  private async push(force = false): Promise<void> {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return;
    const now = Date.now();
    const due = force || (this.dashboardDirty && now - this.lastPushAt >= PUSH_MIN_INTERVAL_MS) || now - this.lastPushAt >= PUSH_IDLE_INTERVAL_MS;
    if (!due) return;
    const message = JSON.stringify(await this.dashboardState());
    this.dashboardDirty = false;
    this.lastPushAt = now;
    for (const socket of sockets) {
      const attachment = socket.deserializeAttachment() as SocketAttachment | null;
      try {
        if (attachment?.sessionExpiresAt && attachment.sessionExpiresAt <= now) socket.close(4001, "session expired");
        else socket.send(message);
      } catch {
        // A socket that died between getWebSockets() and send(): the runtime cleans it up.
      }
    }
  }

  // ------------------------------------------------------------------ the loop

  override async alarm(): Promise<void> {
    const now = Date.now();
    let nextAt = now + Math.min(this.config.health.intervalMs, this.config.alerts.evaluationIntervalMs);
    try {
      if (now >= this.nextSweepAt) await this.sweep(now);
      await this.autoscale(now);
      if (now >= this.nextAlertAt) await this.evaluateAlerts(now);
      if (this.outbox.entries.length > 0) await this.deliver(now);
      if (this.metricsDirtySince !== null) this.persistMetrics();
      await this.push();
      nextAt = Math.min(this.nextSweepAt, this.nextAlertAt, nextDueAt(this.outbox) ?? Number.POSITIVE_INFINITY);
      if (this.ctx.getWebSockets().length > 0) nextAt = Math.min(nextAt, now + PUSH_MIN_INTERVAL_MS);
      // Autoscaling policies are evaluated on their own periods; tick often enough not to miss one by much.
      if (this.autoscaledServices > 0) nextAt = Math.min(nextAt, now + AUTOSCALE_TICK_MS);
    } finally {
      await this.ctx.storage.setAlarm(Math.max(nextAt, Date.now() + MIN_TICK_MS));
    }
  }

  private async sweep(now: number): Promise<void> {
    try {
      const sweep = await runHealthSweep(this.env, this.config, registryStub(this.env), now, Math.random);
      this.nextSweepAt = sweep.nextAt;
      this.lastSweepAt = now;
      this.lastSweepProbed = sweep.probed;
      if (sweep.probed > 0) this.lastSweepDurationMs = Date.now() - now;
      this.consecutiveSweepFailures = 0;
      this.onHealthEvents(sweep.events);
    } catch (error) {
      this.consecutiveSweepFailures++;
      // Back off a little on repeated failures, but keep the loop alive.
      this.nextSweepAt = now + Math.min(this.config.health.intervalMs, 1000 * this.consecutiveSweepFailures);
      console.error(JSON.stringify({ level: "error", message: "health sweep failed", failures: this.consecutiveSweepFailures, error: String(error) }));
    }
  }

  /**
   * Rules → pipeline → outbox, committed together: the pipeline state that
   * says a notification was sent and the outbox entry that will send it are
   * written in the same turn, so a crash can neither lose nor repeat it.
   */
  private async evaluateAlerts(now: number): Promise<void> {
    try {
      const snapshot = await registryStub(this.env).snapshot();
      this.forgetDeregistered(snapshot, now);
      const firing = evaluateRules(
        alertFacts(snapshot, this.metrics, now),
        {
          errorRateThresholdPercent: this.config.errorRateThresholdPercent,
          responseTimeThresholdMs: this.config.responseTimeThresholdMs,
          minRequestVolume: this.config.alerts.minRequestVolume,
          alertThreshold: this.config.health.alertThreshold,
        },
        now,
      );
      const atMax = [...this.autoscaleAtMax].map(([service, { since, detail }]) => ({
        labels: { alertname: "AutoscaleAtMax", service, severity: "warning" },
        annotations: { summary: `${service} is at maxInstances and still over target`, description: detail },
        startsAt: since,
      }));
      const result = evaluate({ ...this.pipeline, silences: pruneSilences(this.pipeline.silences, now) }, [...firing, ...atMax], now, this.pipelineConfig);
      // Pipeline state, history and outbox are written in one transaction and only then taken into
      // memory: a failure part-way leaves neither a notification marked sent that is not queued, nor
      // one queued twice on the next evaluation.
      const queued = this.withNotifications(result.notifications, now);
      this.ctx.storage.transactionSync(() => {
        this.writeDocument("pipeline", result.state);
        if (queued !== null) {
          this.writeDocument("history", queued.history);
          this.writeDocument("outbox", queued.outbox);
        }
      });
      this.pipeline = result.state;
      if (queued !== null) {
        this.history = queued.history;
        this.outbox = queued.outbox;
        this.dashboardDirty = true;
        for (const notification of result.notifications) {
          console.log(JSON.stringify({ level: notification.status === "firing" ? "warn" : "info", message: "alert notification", group: notification.groupKey, status: notification.status, alerts: notification.alerts.length }));
        }
      }
      this.nextAlertAt = Math.min(now + this.config.alerts.evaluationIntervalMs, result.nextEvaluationAt ?? Number.POSITIVE_INFINITY);
      this.consecutiveAlertFailures = 0;
    } catch (error) {
      this.consecutiveAlertFailures++;
      this.nextAlertAt = now + Math.min(this.config.alerts.evaluationIntervalMs, 1000 * this.consecutiveAlertFailures);
      console.error(JSON.stringify({ level: "error", message: "alert evaluation failed", failures: this.consecutiveAlertFailures, error: String(error) }));
    }
  }

  /**
   * Autoscaling, once per tick for every service with a policy (the registry
   * decides whether its evaluation period is due). Latency and error rate come
   * from the last minute of traffic.
   */
  private async autoscale(now: number): Promise<void> {
    try {
      const registry = registryStub(this.env);
      // Only the names: this runs every tick, and a full registry snapshot is not needed for it.
      const names = await registry.autoscaledServices();
      this.autoscaledServices = names.length;
      for (const name of this.autoscaleAtMax.keys()) if (!names.includes(name)) this.autoscaleAtMax.delete(name);
      for (const name of names) {
        const window = serviceWindowStats(this.metrics, name, now, 1);
        const traffic = window.requests < 1 ? { p95Ms: null, errorRatePercent: null } : { p95Ms: quantile(window.sketch, 0.95), errorRatePercent: window.errorRatePercent };
        const result = await registry.autoscale(name, traffic);
        if (!result.ok || result.decision === null) continue;
        const { decision } = result;
        if (decision.atMaxStillOverTarget) {
          if (!this.autoscaleAtMax.has(name)) this.autoscaleAtMax.set(name, { since: now, detail: `desired ${decision.rawDesired} > max ${decision.desired}` });
        } else {
          this.autoscaleAtMax.delete(name);
        }
        if (decision.action !== "none") {
          this.dashboardDirty = true;
          console.log(JSON.stringify({ level: "info", message: "autoscale", service: name, mode: decision.mode, action: decision.action, current: decision.current, desired: decision.desired, moved: "moved" in result ? result.moved.length : 0 }));
          if (decision.mode === "enforce") this.ctx.waitUntil(notifyScaleWebhook(this.config, name, decision.current, decision.desired, "shortBy" in result ? result.shortBy : 0));
        }
      }
    } catch (error) {
      console.error(JSON.stringify({ level: "error", message: "autoscale evaluation failed", error: String(error) }));
    }
  }

  /**
   * Instances the registry no longer has leave the per-instance series; their
   * counts move into the service's retired totals, so service and global
   * totals never go down and memory does not grow with every instance that
   * ever registered.
   */
  private forgetDeregistered(snapshot: RegistrySnapshot, now: number): void {
    const known = new Map(snapshot.services.map((s) => [s.name, new Set(s.instances.map((i) => i.id))]));
    for (const [service, metrics] of Object.entries(this.metrics.services)) {
      for (const instance of Object.keys(metrics.instances)) {
        if (known.get(service)?.has(instance)) continue;
        this.metrics = removeInstance(this.metrics, service, instance, now);
        this.metricsDirtySince ??= now;
      }
    }
  }

  /** The history and outbox with these notifications added (one outbox entry per configured receiver), or null when there are none. */
  private withNotifications(notifications: readonly Notification[], now: number): { history: AlertHistory; outbox: Outbox } | null {
    if (notifications.length === 0) return null;
    const environment = this.config.environment;
    let outbox = this.outbox;
    for (const notification of notifications) {
      const id = `${notification.groupKey}:${notification.status}:${notification.at}`;
      if (this.config.alerts.slackWebhookUrl) outbox = enqueue(outbox, { id: `slack:${id}`, target: "slack", payload: slackPayload(notification, { environment }) }, now);
      if (this.config.alerts.discordWebhookUrl) outbox = enqueue(outbox, { id: `discord:${id}`, target: "discord", payload: discordPayload(notification, { environment }) }, now);
    }
    return { history: appendAlertHistory(this.history, notifications), outbox };
  }

  private async deliver(now: number): Promise<void> {
    const before = this.outbox;
    this.outbox = await deliverDue(this.outbox, this.config, now);
    if (this.outbox !== before) this.writeDocument("outbox", this.outbox);
  }

  private onHealthEvents(events: readonly InstanceHealthEvent[]): void {
    if (events.length === 0) return;
    this.dashboardDirty = true;
    for (const event of events) console.log(JSON.stringify({ level: event.type === "failure-threshold" ? "warn" : "info", message: "health event", ...event }));
    this.recentEvents = [...events.slice().reverse(), ...this.recentEvents].slice(0, MAX_RECENT_EVENTS);
  }

  // ------------------------------------------------------------------ storage

  private persistMetrics(): void {
    this.writeDocument("metrics", this.metrics);
    this.metricsDirtySince = null;
  }

  /** Brings the alarm forward to `at` when it is due later (never postpones it). */
  private async armAtMost(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  private readDocument<T>(key: DocumentKey): T | null {
    const row = this.ctx.storage.sql.exec<{ value: string }>("SELECT value FROM documents WHERE key = ?", key).toArray()[0];
    if (!row) return null;
    try {
      return JSON.parse(row.value) as T;
    } catch {
      console.error(JSON.stringify({ level: "error", message: "unreadable metrics document, starting fresh", key }));
      return null;
    }
  }

  private writeDocument(key: DocumentKey, value: unknown): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO documents (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
      key,
      JSON.stringify(value),
      Date.now(),
    );
  }
}

/** Keyed by service name and instance id: built with setOwn, so every name is an own key like any other. */
function extrasFrom(snapshot: RegistrySnapshot): MetricsExtras {
  const extras: Record<string, MetricsExtras[string]> = {};
  for (const service of snapshot.services) {
    const instances: Record<string, { health: (typeof service.instances)[number]["health"]; inflight: number }> = {};
    for (const instance of service.instances) setOwn(instances, instance.id, { health: instance.health, inflight: instance.inflight });
    setOwn(extras, service.name, { status: service.status, instances });
  }
  return extras;
}
