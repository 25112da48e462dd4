/**
 * RegistryDO: the single source of truth for services, instances, admin state,
 * in-flight counts and load-balancer cursors. One instance, named "global".
 *
 * The whole registry fits in memory, so it is loaded once at construction and
 * every mutation is written through to SQLite in the same turn (SQLite writes
 * in a Durable Object are synchronous and committed atomically at the end of
 * the turn). Reads and picks never touch storage.
 */
import { DurableObject } from "cloudflare:workers";
import { pickInstance } from "../../src/core/balancer";
import { type BalancerState, type Candidate, type HealthStatus, type Strategy, initialBalancerState } from "../../src/core/balancer/types";
import { healthScore } from "../../src/core/balancer/health-score";
import {
  type ActiveCheckConfig,
  type ActiveCheckState,
  applyProbe,
  decayEjectionCount,
  effectiveWeight,
  type HealthEvent,
  initialActiveState,
  initialOutlierState,
  isEjected,
  ejectOnRefusal,
  mayEject,
  type OutlierState,
  readmit,
  recordOutcome,
  retryAllowed,
  scaleWeight,
} from "../../src/core/health";
import {
  type CheckStatus,
  deriveHealth,
  serviceStatus,
  sweepTtl,
  updateErrorEwma,
  updateLatencyEwma,
} from "../../src/core/instance-health";
import { bindingNameForService, isValidServiceName } from "../../src/core/services";
import type { MetricsExtras } from "../../src/core/metrics/view";
import { setOwn } from "../../src/core/metrics/own";
import { checkUpstreamUrl } from "../../src/core/url-guard";
import { ROLES, type ServiceScope, serviceInScope } from "../../src/core/credentials";
import { type Config, configFor, upstreamUrlPolicy } from "../../src/config";
import { bindingByName, isFetcher } from "../../src/platform/bindings";
import { metricsStub, REGISTRY_NAME } from "../../src/platform/stubs";
import { type Failure, failure, ProblemType } from "../../src/contracts/problem";
import type {
  AcquireResult,
  DeregisterResult,
  HeartbeatInput,
  HeartbeatResult,
  InstanceView,
  RegisterInput,
  RegisterResult,
  RegistrySnapshot,
  ReleaseOutcome,
  ServiceResult,
  ServiceSettingsInput,
  ServiceView,
  Target,
  HealthTarget,
  ProbeReport,
  InstanceHealthEvent,
  AcquireOptions,
  ServiceHealthSettings,
  AuditEntry,
  AuditInput,
  LifecycleResult,
  LifecycleState,
  EdgeReport,
  FleetTable,
  ServiceRoute,
  InstanceAdminState,
  AutoscaleResult,
  AutoscaleView,
} from "../../src/contracts/registry";
import { applyMigrations } from "../migrations";
import { REGISTRY_MIGRATIONS } from "./schema";
import {
  appendDecision,
  type AutoscalePolicy,
  type AutoscaleState,
  type DecisionLog,
  EMPTY_DECISION_LOG,
  evaluate as evaluateAutoscale,
  evaluationDue,
  INITIAL_AUTOSCALE_STATE,
  type Observation,
} from "../../src/core/autoscale";

interface ServiceRecord {
  name: string;
  strategy: Strategy | null;
  timeoutMs: number | null;
  adminState: "active" | "stopped";
  balancer: BalancerState;
  seed: boolean;
  createdAt: number;
  healthSettings: ServiceHealthSettings;
  lifecycleHook: Target | null;
  autoscalePolicy: AutoscalePolicy | null;
  autoscaleState: AutoscaleState;
  autoscaleLog: DecisionLog;
  /** Leases handed out as retries and not yet released, for the retry budget. */
  activeRetries: number;
}

interface InstanceRecord {
  id: string;
  seq: number;
  service: string;
  target: Target;
  weight: number;
  adminState: InstanceAdminState;
  /** Registered as standby: the autoscaler's pool. */
  pool: boolean;
  checkStatus: CheckStatus;
  isStatic: boolean;
  ttlSeconds: number | null;
  registeredAt: number;
  lastHeartbeat: number | null;
  criticalSince: number | null;
  metadata: Record<string, string>;
  reportedInflight: number | null;
  reportedCpu: number | null;
  // Traffic-derived, memory only: a restart starts from a clean slate, which
  // only affects health-aware ranking until a few requests have gone through.
  latencyEwmaMs: number | null;
  errorEwma: number;
  /** Requests in flight through leases (the exact path). */
  inflight: number;
  /** Requests in flight as reported by edge isolates routing from a snapshot (sum over isolates). */
  edgeInflight: number;
  active: ActiveCheckState;
  outlier: OutlierState;
  /** When it (re-)entered rotation, for slow start; null once fully warmed up or never ramped. */
  inRotationSince: number | null;
}

interface ServiceRow extends Record<string, SqlStorageValue> {
  name: string;
  strategy: string | null;
  timeout_ms: number | null;
  admin_state: string;
  lb_state: string;
  seed: number;
  created_at: number;
  health_settings: string | null;
  lifecycle_hook: string | null;
  autoscale_policy: string | null;
  autoscale_state: string | null;
  autoscale_log: string | null;
}

interface InstanceRow extends Record<string, SqlStorageValue> {
  id: string;
  seq: number;
  service: string;
  target_kind: string;
  target: string;
  weight: number;
  admin_state: string;
  check_status: string;
  is_static: number;
  ttl_seconds: number | null;
  registered_at: number;
  last_heartbeat: number | null;
  critical_since: number | null;
  metadata: string;
  reported_inflight: number | null;
  reported_cpu: number | null;
  active_state: string | null;
  outlier_state: string | null;
  in_rotation_since: number | null;
  pool: number;
}

interface AuditRow extends Record<string, SqlStorageValue> {
  seq: number;
  at: number;
  action: string;
  target: string;
  result: string;
  status: number;
  actor: string;
  role: string | null;
  request_id: string | null;
  detail: string | null;
}

const MAX_AUDIT_ENTRIES = 1000;
/**
 * An isolate that has not reported for this long (it died, or went quiet) no longer counts in
 * flight: three report intervals, and at least this (see edgeReportTtlMs).
 */
const MIN_EDGE_REPORT_TTL_MS = 15_000;
const MAX_OUTCOMES_PER_REPORT = 1000;
const MAX_INSTANCES_PER_SERVICE = 500;
const MAX_SERVICES = 200;

export class RegistryDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly config: Config;
  private readonly services = new Map<string, ServiceRecord>();
  private readonly instances = new Map<string, InstanceRecord>();
  /** Instances per service in registration order: the hot path reads one service, never the whole registry. */
  private readonly instancesByService = new Map<string, InstanceRecord[]>();
  private nextSeq = 1;
  /** Each edge isolate's last report: its in-flight counts per instance, and when it reported. */
  private readonly edgeReports = new Map<string, { seenAt: number; inflight: ReadonlyMap<string, number> }>();
  /** The last FleetTable's version. */
  private tableVersion = 0;
  private scheduledAlarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.config = configFor(env);
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(this.sql, REGISTRY_MIGRATIONS);
      this.load();
      this.syncSeedAndStaticInstances(Date.now());
      this.scheduledAlarmAt = await ctx.storage.getAlarm();
      this.rearmAlarm(Date.now());
    });
    // The background loop (health sweeps, alerts) lives in MetricsDO; make sure it is running
    // whenever the registry is. Only the production singleton does this, not test instances.
    if (ctx.id.equals(env.REGISTRY.idFromName(REGISTRY_NAME))) {
      ctx.waitUntil(metricsStub(env).ensureRunning().catch((error: unknown) => console.error(JSON.stringify({ level: "error", message: "could not start the background loop", error: String(error) }))));
    }
  }

  // ------------------------------------------------------------------ RPC: discovery

  register(input: RegisterInput): RegisterResult {
    const now = Date.now();
    if (!isValidServiceName(input.service)) {
      return failure(400, ProblemType.validation, "The request is not valid", "service: not a valid service name", {
        field: "service",
      });
    }
    const targetCheck = this.checkTarget(input.target);
    if (targetCheck) return targetCheck;
    const targetKey = targetValue(input.target);
    for (const existing of this.instances.values()) {
      if (existing.service === input.service && existing.target.kind === input.target.kind && targetValue(existing.target) === targetKey) {
        return failure(409, ProblemType.conflict, "Already registered", `This ${input.target.kind} is already registered for ${input.service}.`, {
          field: input.target.kind,
          existingId: existing.id,
        });
      }
    }
    if (!this.services.has(input.service) && this.services.size >= MAX_SERVICES) {
      return failure(409, ProblemType.conflict, "Too many services", `The registry holds at most ${MAX_SERVICES} services.`, { field: "service" });
    }
    if (this.instancesOf(input.service).length >= MAX_INSTANCES_PER_SERVICE) {
      return failure(409, ProblemType.conflict, "Too many instances", `A service holds at most ${MAX_INSTANCES_PER_SERVICE} instances.`, {
        field: "service",
      });
    }
    this.ensureService(input.service, false, now);
    const instance = this.newInstance({
      id: crypto.randomUUID(),
      service: input.service,
      target: input.target,
      weight: input.weight,
      isStatic: false,
      ttlSeconds: input.ttlSeconds ?? this.config.instanceTtlSeconds,
      lastHeartbeat: now,
      // Spread defines own properties, so a "__proto__" key stays a key (Object.assign would drop it).
      metadata: { ...input.metadata },
      now,
      ...(input.standby ? { standby: true } : {}),
    });
    this.indexInstance(instance);
    this.writeInstance(instance);
    this.rearmAlarm(now);
    return { ok: true, id: instance.id, ttlSeconds: instance.ttlSeconds ?? this.config.instanceTtlSeconds, service: instance.service };
  }

  /** `scope`: the services the caller's registration token covers (null: all); another service's instance is refused. */
  heartbeat(id: string, report: HeartbeatInput, scope: ServiceScope = null): HeartbeatResult {
    const now = Date.now();
    const instance = this.instances.get(id);
    if (!instance) return unknownInstance(id);
    if (!serviceInScope(scope, instance.service)) return outOfTokenScope();
    instance.lastHeartbeat = now;
    instance.checkStatus = "passing";
    instance.criticalSince = null;
    if (report.inflight !== undefined) instance.reportedInflight = report.inflight;
    if (report.cpu !== undefined) instance.reportedCpu = report.cpu;
    this.sql.exec(
      `UPDATE instances SET last_heartbeat = ?, check_status = 'passing', critical_since = NULL,
         reported_inflight = ?, reported_cpu = ? WHERE id = ?`,
      now,
      instance.reportedInflight,
      instance.reportedCpu,
      id,
    );
    this.rearmAlarm(now);
    return { ok: true, id, checkStatus: instance.checkStatus, ttlSeconds: instance.ttlSeconds ?? this.config.instanceTtlSeconds };
  }

  deregister(id: string, scope: ServiceScope = null): DeregisterResult {
    const instance = this.instances.get(id);
    if (!instance) return unknownInstance(id);
    if (!serviceInScope(scope, instance.service)) return outOfTokenScope();
    if (instance.isStatic) {
      return failure(409, ProblemType.conflict, "Static instance", "Instances declared in configuration are removed by changing the configuration.", {
        field: "id",
      });
    }
    this.removeInstance(id);
    return { ok: true, id };
  }

  snapshot(): RegistrySnapshot {
    return {
      generatedAt: new Date().toISOString(),
      services: [...this.services.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => this.serviceView(s)),
    };
  }

  /**
   * What MetricsDO adds to /metrics and the Prometheus text: each service's
   * status and each instance's health and in-flight count. Built from the
   * records directly: a full snapshot of 500 instances is about 370 KB to
   * build and copy across the call, this about a tenth of it.
   */
  metricsExtras(): MetricsExtras {
    const now = Date.now();
    const extras: Record<string, MetricsExtras[string]> = {};
    for (const service of this.services.values()) {
      const instances: Record<string, { health: HealthStatus; inflight: number }> = {};
      const activeHealth: HealthStatus[] = [];
      for (const instance of this.instancesOf(service.name)) {
        const health = this.healthOf(instance, now);
        setOwn(instances, instance.id, { health, inflight: totalInflight(instance) });
        if (instance.adminState === "active") activeHealth.push(health);
      }
      setOwn(extras, service.name, { status: this.statusOf(service, activeHealth), instances });
    }
    return extras;
  }

  service(name: string): ServiceView | null {
    const service = this.services.get(name);
    return service ? this.serviceView(service) : null;
  }

  configureService(name: string, settings: ServiceSettingsInput): ServiceResult {
    if (!isValidServiceName(name)) {
      return failure(400, ProblemType.validation, "The request is not valid", "name: not a valid service name", { field: "name" });
    }
    const instances = this.instancesOf(name);
    for (const id of Object.keys(settings.weights ?? {})) {
      if (!instances.some((i) => i.id === id)) {
        return failure(400, ProblemType.validation, "The request is not valid", `weights.${id}: no such instance in ${name}`, {
          field: `weights.${id}`,
        });
      }
    }
    if (!this.services.has(name) && this.services.size >= MAX_SERVICES) {
      return failure(409, ProblemType.conflict, "Too many services", `The registry holds at most ${MAX_SERVICES} services.`, { field: "name" });
    }
    if (settings.lifecycleHook) {
      const refused = this.checkTarget(settings.lifecycleHook);
      if (refused) return { ...refused, problem: { ...refused.problem, field: `lifecycleHook.${refused.problem.field ?? "url"}` } };
    }
    const created = this.ensureService(name, false, Date.now());
    const service = this.services.get(name) as ServiceRecord;
    if (settings.strategy !== undefined && settings.strategy !== service.strategy) {
      service.strategy = settings.strategy;
      service.balancer = initialBalancerState;
    }
    if (settings.timeoutMs !== undefined) service.timeoutMs = settings.timeoutMs;
    if (settings.healthCheck !== undefined) service.healthSettings = { ...service.healthSettings, ...settings.healthCheck };
    if (settings.lifecycleHook !== undefined) service.lifecycleHook = settings.lifecycleHook;
    for (const [id, weight] of Object.entries(settings.weights ?? {})) {
      const instance = this.instances.get(id) as InstanceRecord;
      instance.weight = weight;
      this.sql.exec("UPDATE instances SET weight = ? WHERE id = ?", weight, id);
    }
    this.writeService(service);
    return { ok: true, created, service: this.serviceView(service) };
  }

  // ------------------------------------------------------------------ RPC: the proxied request

  /**
   * Picks an instance for one request and records it as in flight. This is the
   * only registry call on a proxied request's critical path. A retry passes the
   * instances already tried (never picked again) and counts against the
   * service's retry budget.
   */
  acquire(serviceName: string, options: AcquireOptions = {}): AcquireResult {
    const now = Date.now();
    const service = this.services.get(serviceName);
    if (!service) {
      return failure(404, ProblemType.unknownService, "Unknown service", `No service is named ${serviceName}.`, { service: serviceName });
    }
    if (service.adminState === "stopped") {
      return failure(503, ProblemType.serviceStopped, "Service stopped", `An operator stopped ${serviceName}.`, {
        service: serviceName,
        retryAfterSeconds: 30,
      });
    }
    const active = this.instancesOf(serviceName).filter((i) => i.adminState === "active");
    if (options.retry) {
      const activeRequests = active.reduce((sum, i) => sum + totalInflight(i), 0);
      if (!retryAllowed({ activeRequests, activeRetries: service.activeRetries }, this.config.health.retryBudget)) {
        return failure(503, ProblemType.noAvailableInstance, "Retry budget exhausted", `${serviceName} has too many retries in flight.`, {
          service: serviceName,
          retryAfterSeconds: 1,
        });
      }
    }
    const exclude = new Set(options.exclude ?? []);
    const candidates: Candidate[] = active.filter((i) => !exclude.has(i.id)).map((i) => this.candidate(i, now));
    const picked = pickInstance(this.strategyOf(service), candidates, service.balancer, this.config.health.panicThresholdPercent);
    if (!picked) {
      return failure(503, ProblemType.noAvailableInstance, "No available instance", `${serviceName} has no instance in rotation.`, {
        service: serviceName,
        retryAfterSeconds: 5,
      });
    }
    service.balancer = picked.state;
    this.sql.exec("UPDATE services SET lb_state = ? WHERE name = ?", JSON.stringify(picked.state), serviceName);
    const instance = this.instances.get(picked.id) as InstanceRecord;
    instance.inflight++;
    if (options.retry) service.activeRetries++;
    const expiresAt = now + this.config.leaseTtlSeconds * 1000;
    const leaseId = this.sql
      .exec<{ id: number }>("INSERT INTO leases (instance_id, expires_at, is_retry) VALUES (?, ?, ?) RETURNING id", instance.id, expiresAt, options.retry ? 1 : 0)
      .one().id;
    // Leases expire in the order they were handed out, so only an idle alarm needs arming.
    this.armAt(expiresAt);
    return {
      ok: true,
      leaseId,
      instanceId: instance.id,
      target: instance.target,
      timeoutMs: service.timeoutMs ?? this.config.upstreamTimeoutMs,
      panic: picked.panic,
    };
  }

  /**
   * Ends a lease and learns from its outcome (latency, errors, passive outlier
   * detection). Idempotent: a second release of the same lease, or one for a
   * lease the reaper already expired, changes nothing, so counts never go negative.
   */
  release(leaseId: number, outcome: ReleaseOutcome): boolean {
    const row = this.sql
      .exec<{ instance_id: string; is_retry: number }>("DELETE FROM leases WHERE id = ? RETURNING instance_id, is_retry", leaseId)
      .toArray()[0];
    if (!row) return false;
    const instance = this.instances.get(row.instance_id);
    if (!instance) return true;
    this.endLease(instance, row.is_retry === 1);
    this.learnFromOutcome(instance, outcome, Date.now());
    return true;
  }

  /** Recent latency and errors (health score, degraded) and passive outlier detection. */
  private learnFromOutcome(instance: InstanceRecord, outcome: ReleaseOutcome, now: number): void {
    // A client that went away tells us nothing about the instance's health.
    if (outcome.failure === "aborted") return;
    const failed = outcome.failure !== null || (outcome.status !== null && outcome.status >= 500);
    instance.errorEwma = updateErrorEwma(instance.errorEwma, failed);
    if (outcome.failure === null) instance.latencyEwmaMs = updateLatencyEwma(instance.latencyEwmaMs, outcome.durationMs);
    this.recordPassiveOutcome(instance, failed, now);
  }

  // ------------------------------------------------------------------ RPC: edge routing

  /**
   * The hot path's only registry call: an edge isolate sends its report (its
   * in-flight counts and finished outcomes) and gets every service's routing
   * in one table, which it routes from until its soft TTL passes
   * (src/edge/edge-router.ts). One call per isolate per soft TTL at most,
   * whatever the request rate or the number of services.
   */
  edgeSync(report: EdgeReport): FleetTable {
    const now = Date.now();
    this.applyEdgeReport(report, now);
    return this.fleetTable(now);
  }

  private edgeReportTtlMs(): number {
    return Math.max(MIN_EDGE_REPORT_TTL_MS, 3 * this.config.edge.reportIntervalMs);
  }

  private fleetTable(now: number): FleetTable {
    // Versions grow across restarts too: the clock in ms, then a counter within the same ms.
    this.tableVersion = Math.max(this.tableVersion + 1, now * 1000);
    const services: ServiceRoute[] = [];
    for (const service of [...this.services.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const stopped = service.adminState === "stopped";
      services.push({
        service: service.name,
        stopped,
        strategy: this.strategyOf(service),
        timeoutMs: service.timeoutMs ?? this.config.upstreamTimeoutMs,
        instances: stopped
          ? []
          : this.instancesOf(service.name)
              .filter((i) => i.adminState === "active")
              .map((i) => {
                const candidate = this.candidate(i, now);
                return { id: i.id, target: i.target, weight: candidate.weight, health: candidate.health, score: candidate.score, inflight: totalInflight(i) };
              }),
      });
    }
    return {
      version: this.tableVersion,
      generatedAt: now,
      panicThresholdPercent: this.config.health.panicThresholdPercent,
      retryBudget: this.config.health.retryBudget,
      services,
    };
  }

  private applyEdgeReport(report: EdgeReport, now: number): void {
    const previous = this.edgeReports.get(report.isolateId)?.inflight;
    if (previous !== undefined) {
      for (const [id, count] of previous) {
        const instance = this.instances.get(id);
        if (instance) instance.edgeInflight = Math.max(0, instance.edgeInflight - count);
      }
    }
    // A Map, not a plain object: instance ids are keys like any other string (an id "__proto__"
    // assigned to a plain object would be lost to the prototype setter).
    const accepted = new Map<string, number>();
    for (const [id, count] of Object.entries(report.inflight)) {
      const instance = this.instances.get(id);
      if (!instance || !Number.isSafeInteger(count) || count <= 0) continue;
      accepted.set(id, count);
      instance.edgeInflight += count;
    }
    if (accepted.size > 0) this.edgeReports.set(report.isolateId, { seenAt: now, inflight: accepted });
    else this.edgeReports.delete(report.isolateId);
    for (const [id, outcomes] of Object.entries(report.outcomes)) {
      const instance = this.instances.get(id);
      if (!instance) continue;
      for (const [status, durationMs, failure] of outcomes.slice(0, MAX_OUTCOMES_PER_REPORT)) {
        this.learnFromOutcome(instance, { status, durationMs, failure }, now);
      }
    }
    for (const id of (report.refused ?? []).slice(0, MAX_OUTCOMES_PER_REPORT)) {
      const instance = this.instances.get(id);
      if (instance) this.ejectRefusing(instance, now);
    }
    if (this.edgeReports.size > 0) this.armAt(now + this.edgeReportTtlMs());
  }

  /** An isolate that stopped reporting (it died, or went idle with nothing in flight) no longer counts. */
  private expireEdgeReports(now: number): void {
    for (const [isolateId, entry] of this.edgeReports) {
      if (now - entry.seenAt < this.edgeReportTtlMs()) continue;
      this.applyEdgeReport({ isolateId, inflight: {}, outcomes: {} }, now);
    }
  }

  // ------------------------------------------------------------------ RPC: operator control

  /**
   * Takes a service (or one instance) out of rotation or puts it back. Stopping
   * is immediate for new requests; requests already in flight finish (the edge
   * waits for them, see routes/lifecycle.ts). Starting begins slow start.
   */
  setAdminState(serviceName: string, instanceId: string | null, state: "active" | "stopped", audit?: Omit<AuditInput, "status">): LifecycleResult {
    const target = this.lifecycleTarget(serviceName, instanceId);
    // Audited in the same turn as the change, so the log's order is the order changes took effect.
    if (audit) this.recordAudit({ ...audit, status: target.ok ? 200 : target.problem.status });
    if (!target.ok) return target;
    const now = Date.now();
    const record = target.instance ?? target.service;
    const changed = record.adminState !== state;
    if (changed) {
      record.adminState = state;
      if (target.instance) {
        if (state === "active") target.instance.inRotationSince = now;
        this.writeInstance(target.instance);
      } else {
        if (state === "active") {
          for (const instance of this.instancesOf(serviceName)) {
            instance.inRotationSince = now;
            this.writeInstance(instance);
          }
        }
        this.writeService(target.service);
      }
    }
    return this.lifecycleState(serviceName, instanceId, changed);
  }

  /** Current lifecycle view, polled by the edge while a stop drains. */
  lifecycle(serviceName: string, instanceId: string | null): LifecycleResult {
    const target = this.lifecycleTarget(serviceName, instanceId);
    return target.ok ? this.lifecycleState(serviceName, instanceId, false) : target;
  }

  /** A restart forgets what health checks and outlier detection had concluded. */
  resetHealth(serviceName: string, instanceId: string | null): LifecycleResult {
    const target = this.lifecycleTarget(serviceName, instanceId);
    if (!target.ok) return target;
    const instances = target.instance ? [target.instance] : this.instancesOf(serviceName);
    for (const instance of instances) {
      instance.active = initialActiveState();
      instance.outlier = initialOutlierState;
      instance.latencyEwmaMs = null;
      instance.errorEwma = 0;
      this.writeInstance(instance);
    }
    return this.lifecycleState(serviceName, instanceId, true);
  }

  recordAudit(entry: AuditInput): number {
    const seq = this.sql
      .exec<{ seq: number }>(
        "INSERT INTO audit (at, action, target, result, status, actor, role, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        Date.now(),
        entry.action,
        entry.target,
        entry.status < 400 ? "ok" : "error",
        entry.status,
        entry.actor,
        entry.role,
        entry.requestId,
        entry.detail ?? null,
      )
      .one().seq;
    this.sql.exec("DELETE FROM audit WHERE seq <= ?", seq - MAX_AUDIT_ENTRIES);
    return seq;
  }

  /** Newest first; `before` pages backwards by sequence number. */
  audit(limit: number, before: number | null): AuditEntry[] {
    const rows = this.sql
      .exec<AuditRow>("SELECT * FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?", before ?? Number.MAX_SAFE_INTEGER, limit)
      .toArray();
    return rows.map((row) => ({
      seq: row.seq,
      at: new Date(row.at).toISOString(),
      action: row.action,
      target: row.target,
      result: row.result === "ok" ? "ok" : "error",
      status: row.status,
      actor: row.actor,
      role: ROLES.find((role) => role === row.role) ?? null,
      requestId: row.request_id,
      detail: row.detail,
    }));
  }

  // ------------------------------------------------------------------ RPC: dashboard sessions

  /** Signs a session out everywhere; kept until it would have expired anyway. */
  revokeSession(id: string, expiresAt: number): void {
    this.sql.exec("INSERT OR REPLACE INTO revoked_sessions (id, expires_at) VALUES (?, ?)", id, expiresAt);
    this.sql.exec("DELETE FROM revoked_sessions WHERE expires_at <= ?", Date.now());
  }

  isSessionRevoked(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM revoked_sessions WHERE id = ?", id).toArray().length > 0;
  }

  // ------------------------------------------------------------------ RPC: autoscaling

  setAutoscalePolicy(serviceName: string, policy: AutoscalePolicy | null): { ok: true; policy: AutoscalePolicy | null } | Failure {
    const service = this.services.get(serviceName);
    if (!service) return failure(404, ProblemType.unknownService, "Unknown service", `No service is named ${serviceName}.`, { field: "name" });
    service.autoscalePolicy = policy;
    service.autoscaleState = INITIAL_AUTOSCALE_STATE;
    this.writeService(service);
    return { ok: true, policy };
  }

  /** Services with an autoscaling policy, for MetricsDO's loop. */
  autoscaledServices(): string[] {
    const names: string[] = [];
    for (const service of this.services.values()) if (service.autoscalePolicy !== null) names.push(service.name);
    return names;
  }

  autoscaleViews(): AutoscaleView[] {
    const views: AutoscaleView[] = [];
    for (const service of this.services.values()) {
      if (service.autoscalePolicy === null && service.autoscaleLog.entries.length === 0) continue;
      const instances = this.instancesOf(service.name);
      views.push({
        service: service.name,
        policy: service.autoscalePolicy,
        current: instances.filter((i) => i.adminState === "active").length,
        standby: instances.filter((i) => i.adminState === "standby").length,
        log: service.autoscaleLog,
      });
    }
    return views;
  }

  /**
   * One autoscaling evaluation for a service, when its period is due: the
   * engine (core/autoscale) decides from CPU and queue depth (known here) and
   * latency and error rate (measured by MetricsDO, passed in); in enforce mode
   * standby instances move into rotation (with slow start) or, scaling down,
   * pool members leave rotation for standby (new requests stop at once, those
   * in flight finish). Instances registered without `standby` are never
   * scaled down.
   */
  autoscale(serviceName: string, traffic: Pick<Observation, "p95Ms" | "errorRatePercent">): AutoscaleResult {
    const now = Date.now();
    const service = this.services.get(serviceName);
    if (!service) return failure(404, ProblemType.unknownService, "Unknown service", `No service is named ${serviceName}.`, { field: "name" });
    const policy = service.autoscalePolicy;
    if (policy === null || service.adminState === "stopped" || !evaluationDue(service.autoscaleState, policy, now)) return { ok: true, decision: null };
    const instances = this.instancesOf(serviceName);
    const active = instances.filter((i) => i.adminState === "active");
    const cpus = active.map((i) => i.reportedCpu).filter((c): c is number => c !== null);
    const inflight = active.reduce((sum, i) => sum + totalInflight(i), 0);
    const observation: Observation = {
      cpuPercent: cpus.length === 0 ? null : cpus.reduce((a, b) => a + b, 0) / cpus.length,
      inflightPerInstance: active.length === 0 ? (inflight > 0 ? inflight : null) : inflight / active.length,
      p95Ms: traffic.p95Ms ?? null,
      errorRatePercent: traffic.errorRatePercent ?? null,
    };
    const { state, decision } = evaluateAutoscale(service.autoscaleState, policy, active.length, observation, now);
    service.autoscaleState = state;
    service.autoscaleLog = appendDecision(service.autoscaleLog, decision);
    const moved: string[] = [];
    let shortBy = 0;
    if (decision.mode === "enforce" && decision.desired > active.length) {
      const rank = { healthy: 0, degraded: 1, unhealthy: 2 } as const;
      const ready = instances
        .filter((i) => i.adminState === "standby" && this.healthOf(i, now) !== "unhealthy")
        .sort((a, b) => rank[this.healthOf(a, now)] - rank[this.healthOf(b, now)] || a.seq - b.seq);
      for (const instance of ready.slice(0, decision.desired - active.length)) {
        instance.adminState = "active";
        instance.inRotationSince = now;
        this.writeInstance(instance);
        moved.push(instance.id);
      }
      shortBy = decision.desired - active.length - moved.length;
    } else if (decision.mode === "enforce" && decision.desired < active.length) {
      const removable = active.filter((i) => i.pool).sort((a, b) => (b.inRotationSince ?? b.registeredAt) - (a.inRotationSince ?? a.registeredAt) || b.seq - a.seq);
      for (const instance of removable.slice(0, active.length - decision.desired)) {
        instance.adminState = "standby";
        this.writeInstance(instance);
        moved.push(instance.id);
      }
    }
    this.writeService(service);
    return { ok: true, decision, moved, shortBy };
  }

  // ------------------------------------------------------------------ RPC: active health checks

  /** What the health sweeper should probe: every instance in rotation, with its service's check settings. */
  healthTargets(): HealthTarget[] {
    const targets: HealthTarget[] = [];
    for (const instance of this.instances.values()) {
      // Standby instances are checked too, so the autoscaler only brings in healthy ones.
      if (instance.adminState === "stopped") continue;
      const settings = this.healthSettingsOf(instance.service);
      targets.push({
        id: instance.id,
        service: instance.service,
        target: instance.target,
        lastCheckAt: instance.active.lastCheckAt,
        path: settings.path,
        timeoutMs: settings.timeoutMs,
        intervalMs: settings.intervalMs,
      });
    }
    return targets;
  }

  /**
   * Folds a sweep's probe results into each instance's active-check state and
   * returns what changed, for alerting. Re-admits ejected instances whose
   * ejection ran out and whose probe passed; starts slow start on recovery.
   */
  applyProbeResults(reports: readonly ProbeReport[]): InstanceHealthEvent[] {
    const now = Date.now();
    const events: InstanceHealthEvent[] = [];
    for (const report of reports) {
      const instance = this.instances.get(report.id);
      if (!instance) continue;
      const applied = applyProbe(instance.active, report.probe, report.at, this.activeCheckConfig(instance.service));
      instance.active = applied.state;
      for (const event of applied.events) {
        events.push(this.healthEvent(instance, event, report));
        if (event.type === "recovered") instance.inRotationSince = now;
      }
      if (instance.outlier.ejectedUntil !== null && now >= instance.outlier.ejectedUntil && report.probe.ok) {
        instance.outlier = readmit(instance.outlier);
        instance.inRotationSince = now;
        events.push({ instanceId: instance.id, service: instance.service, type: "readmitted", at: now });
      } else if (!isEjected(instance.outlier, now)) {
        instance.outlier = decayEjectionCount(instance.outlier, now);
      }
      if (instance.inRotationSince !== null && now - instance.inRotationSince >= this.config.health.slowStartWindowMs) instance.inRotationSince = null;
      this.sql.exec(
        "UPDATE instances SET active_state = ?, outlier_state = ?, in_rotation_since = ? WHERE id = ?",
        JSON.stringify(instance.active),
        JSON.stringify(instance.outlier),
        instance.inRotationSince,
        instance.id,
      );
    }
    return events;
  }

  /** In-flight count per instance id, for tests and the dashboard. */
  inflightCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const instance of this.instances.values()) setOwn(counts, instance.id, totalInflight(instance));
    return counts;
  }

  // ------------------------------------------------------------------ alarm: TTL expiry and lease reaping

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.scheduledAlarmAt = null;
    try {
      this.sweep(now);
    } finally {
      // Re-armed whatever happened above, so one bad sweep cannot stop expiry for good.
      this.rearmAlarm(now);
    }
  }

  private sweep(now: number): void {
    this.expireEdgeReports(now);
    const plan = this.ttlPlan(now);
    for (const id of plan.markCritical) {
      const instance = this.instances.get(id);
      if (!instance) continue;
      instance.checkStatus = "critical";
      instance.criticalSince = now;
      this.sql.exec("UPDATE instances SET check_status = 'critical', critical_since = ? WHERE id = ?", now, id);
    }
    for (const id of plan.remove) this.removeInstance(id);

    const expired = this.sql
      .exec<{ instance_id: string; is_retry: number }>("DELETE FROM leases WHERE expires_at <= ? RETURNING instance_id, is_retry", now)
      .toArray();
    for (const { instance_id, is_retry } of expired) {
      const instance = this.instances.get(instance_id);
      if (instance) this.endLease(instance, is_retry === 1);
    }
  }

  private ttlPlan(now: number) {
    const tracked = [];
    for (const i of this.instances.values()) {
      if (i.isStatic || i.lastHeartbeat === null || i.ttlSeconds === null) continue;
      tracked.push({ id: i.id, checkStatus: i.checkStatus, lastHeartbeatMs: i.lastHeartbeat, ttlSeconds: i.ttlSeconds, criticalSinceMs: i.criticalSince });
    }
    return sweepTtl(tracked, now, this.config.deregisterCriticalAfterSeconds);
  }

  /** The earliest moment the alarm has work: a heartbeat deadline, a removal, or a lease expiry. */
  private nextDeadline(now: number): number | null {
    const plan = this.ttlPlan(now);
    let next = plan.markCritical.length > 0 || plan.remove.length > 0 ? now : plan.nextDeadlineMs;
    const lease = this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM leases").one().at;
    if (lease !== null && (next === null || lease < next)) next = lease;
    for (const entry of this.edgeReports.values()) {
      const expiry = entry.seenAt + this.edgeReportTtlMs();
      if (next === null || expiry < next) next = expiry;
    }
    return next;
  }

  private rearmAlarm(now: number): void {
    const next = this.nextDeadline(now);
    if (next !== null) this.armAt(Math.max(next, now));
  }

  /** Keeps one alarm scheduled at the earliest pending deadline; a later one never postpones it. */
  private armAt(at: number): void {
    if (this.scheduledAlarmAt !== null && this.scheduledAlarmAt <= at) return;
    this.scheduledAlarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  // ------------------------------------------------------------------ internals

  private lifecycleTarget(serviceName: string, instanceId: string | null) {
    const service = this.services.get(serviceName);
    if (!service) return failure(404, ProblemType.unknownService, "Unknown service", `No service is named ${serviceName}.`, { field: "name" });
    if (instanceId === null) return { ok: true as const, service, instance: null };
    const instance = this.instances.get(instanceId);
    if (!instance || instance.service !== serviceName) return unknownInstance(instanceId);
    return { ok: true as const, service, instance };
  }

  private lifecycleState(serviceName: string, instanceId: string | null, changed: boolean): LifecycleState {
    const service = this.services.get(serviceName) as ServiceRecord;
    const instances = instanceId === null ? this.instancesOf(serviceName) : [this.instances.get(instanceId) as InstanceRecord];
    return {
      ok: true,
      service: serviceName,
      instance: instanceId,
      adminState: instanceId === null ? service.adminState : (instances[0] as InstanceRecord).adminState,
      inflight: instances.reduce((sum, i) => sum + totalInflight(i), 0),
      changed,
    };
  }

  private endLease(instance: InstanceRecord, wasRetry: boolean): void {
    instance.inflight = Math.max(0, instance.inflight - 1);
    const service = this.services.get(instance.service);
    if (wasRetry && service) service.activeRetries = Math.max(0, service.activeRetries - 1);
  }

  /** Passive outlier detection (Envoy's consecutive_5xx): ejection is persisted, the running count is not. */
  private recordPassiveOutcome(instance: InstanceRecord, failed: boolean, now: number): void {
    const siblings = this.instancesOf(instance.service).filter((i) => i.adminState === "active");
    const ejectedNow = siblings.filter((i) => isEjected(i.outlier, now)).length;
    const before = instance.outlier;
    const result = recordOutcome(
      before,
      { gatewayFailure: failed },
      now,
      this.config.health.outlier,
      mayEject(siblings.length, ejectedNow, this.config.health.outlier.maxEjectionPercent),
    );
    instance.outlier = result.state;
    if (result.ejected || before.ejectedUntil !== result.state.ejectedUntil || before.ejectionCount !== result.state.ejectionCount) {
      this.sql.exec("UPDATE instances SET outlier_state = ? WHERE id = ?", JSON.stringify(instance.outlier), instance.id);
    }
  }

  /** An instance an edge isolate could not connect to (EdgeReport.refused): ejected now, within the ejection cap. */
  private ejectRefusing(instance: InstanceRecord, now: number): void {
    if (instance.adminState !== "active") return;
    const siblings = this.instancesOf(instance.service).filter((i) => i.adminState === "active");
    const ejectedNow = siblings.filter((i) => isEjected(i.outlier, now)).length;
    const result = ejectOnRefusal(instance.outlier, now, this.config.health.outlier, mayEject(siblings.length, ejectedNow, this.config.health.outlier.maxEjectionPercent));
    if (!result.ejected) return;
    instance.outlier = result.state;
    this.sql.exec("UPDATE instances SET outlier_state = ? WHERE id = ?", JSON.stringify(instance.outlier), instance.id);
  }

  private healthSettingsOf(serviceName: string): Required<ServiceHealthSettings> {
    const overrides = this.services.get(serviceName)?.healthSettings ?? {};
    const defaults = this.config.health;
    return {
      intervalMs: overrides.intervalMs ?? defaults.intervalMs,
      timeoutMs: overrides.timeoutMs ?? defaults.timeoutMs,
      retries: overrides.retries ?? defaults.retries,
      path: overrides.path ?? defaults.path,
    };
  }

  private activeCheckConfig(serviceName: string): ActiveCheckConfig {
    return {
      retries: this.healthSettingsOf(serviceName).retries,
      rise: this.config.health.rise,
      alertThreshold: this.config.health.alertThreshold,
      degradedLatencyMs: this.config.degradedResponseTimeMs,
      degradedErrorRate: 0.25,
    };
  }

  private healthEvent(instance: InstanceRecord, event: HealthEvent, report: ProbeReport): InstanceHealthEvent {
    const base = { instanceId: instance.id, service: instance.service, at: report.at };
    switch (event.type) {
      case "status-changed":
        return { ...base, type: "status-changed", from: event.from, to: event.to };
      case "failure-threshold":
        return { ...base, type: "failure-threshold", consecutiveFailures: event.consecutiveFailures, error: report.probe.error ?? report.probe.kind };
      case "recovered":
        return { ...base, type: "recovered" };
    }
  }

  private newInstance(fields: {
    id: string;
    service: string;
    target: Target;
    weight: number;
    isStatic: boolean;
    ttlSeconds: number | null;
    lastHeartbeat: number | null;
    metadata: Record<string, string>;
    now: number;
    standby?: boolean;
  }): InstanceRecord {
    return {
      id: fields.id,
      seq: this.nextSeq++,
      service: fields.service,
      target: fields.target,
      weight: fields.weight,
      adminState: fields.standby ? "standby" : "active",
      pool: fields.standby ?? false,
      checkStatus: "passing",
      isStatic: fields.isStatic,
      ttlSeconds: fields.ttlSeconds,
      registeredAt: fields.now,
      lastHeartbeat: fields.lastHeartbeat,
      criticalSince: null,
      metadata: fields.metadata,
      reportedInflight: null,
      reportedCpu: null,
      latencyEwmaMs: null,
      errorEwma: 0,
      inflight: 0,
      edgeInflight: 0,
      active: initialActiveState(),
      outlier: initialOutlierState,
      inRotationSince: fields.now,
    };
  }

  private load(): void {
    for (const row of this.sql.exec<ServiceRow>("SELECT * FROM services")) {
      this.services.set(row.name, {
        name: row.name,
        strategy: row.strategy as Strategy | null,
        timeoutMs: row.timeout_ms,
        adminState: row.admin_state === "stopped" ? "stopped" : "active",
        balancer: parseBalancerState(row.lb_state),
        seed: row.seed === 1,
        createdAt: row.created_at,
        healthSettings: parseJsonObject<ServiceHealthSettings>(row.health_settings, {}),
        lifecycleHook: parseTarget(row.lifecycle_hook),
        autoscalePolicy: row.autoscale_policy === null ? null : parseJsonObject<AutoscalePolicy>(row.autoscale_policy, {} as AutoscalePolicy),
        autoscaleState: parseJsonObject<AutoscaleState>(row.autoscale_state, INITIAL_AUTOSCALE_STATE),
        autoscaleLog: parseJsonObject<DecisionLog>(row.autoscale_log, EMPTY_DECISION_LOG),
        activeRetries: 0,
      });
    }
    for (const row of this.sql.exec<InstanceRow>("SELECT * FROM instances ORDER BY seq")) {
      this.indexInstance({
        id: row.id,
        seq: row.seq,
        service: row.service,
        target: row.target_kind === "binding" ? { kind: "binding", binding: row.target } : { kind: "url", url: row.target },
        weight: row.weight,
        adminState: row.admin_state === "stopped" || row.admin_state === "standby" ? row.admin_state : "active",
        pool: row.pool === 1,
        checkStatus: row.check_status === "critical" ? "critical" : "passing",
        isStatic: row.is_static === 1,
        ttlSeconds: row.ttl_seconds,
        registeredAt: row.registered_at,
        lastHeartbeat: row.last_heartbeat,
        criticalSince: row.critical_since,
        metadata: JSON.parse(row.metadata) as Record<string, string>,
        reportedInflight: row.reported_inflight,
        reportedCpu: row.reported_cpu,
        latencyEwmaMs: null,
        errorEwma: 0,
        inflight: 0,
        edgeInflight: 0,
        active: parseJsonObject<ActiveCheckState>(row.active_state, initialActiveState()),
        outlier: parseJsonObject<OutlierState>(row.outlier_state, initialOutlierState),
        inRotationSince: row.in_rotation_since,
      });
      this.nextSeq = Math.max(this.nextSeq, row.seq + 1);
    }
    for (const row of this.sql.exec<{ instance_id: string; n: number; retries: number }>(
      "SELECT instance_id, COUNT(*) AS n, SUM(is_retry) AS retries FROM leases GROUP BY instance_id",
    )) {
      const instance = this.instances.get(row.instance_id);
      if (!instance) continue;
      instance.inflight = row.n;
      const service = this.services.get(instance.service);
      if (service) service.activeRetries += row.retries;
    }
  }

  /**
   * The seed services always exist; instances declared in configuration (the
   * seed services' bindings and STATIC_INSTANCES) are brought in line with the
   * configuration on every start: added, re-weighted, or removed when gone.
   */
  private syncSeedAndStaticInstances(now: number): void {
    for (const name of this.config.seedServices) this.ensureService(name, true, now);
    const wanted = new Map<string, { service: string; target: Target; weight: number }>();
    for (const name of this.config.seedServices) {
      const binding = bindingNameForService(name);
      if (isFetcher(this.bindingOf(binding))) {
        wanted.set(staticId(name, { kind: "binding", binding }), { service: name, target: { kind: "binding", binding }, weight: 1 });
      }
    }
    for (const declared of this.config.staticInstances) {
      const target: Target | null = declared.binding ? { kind: "binding", binding: declared.binding } : declared.url ? { kind: "url", url: declared.url } : null;
      if (!target || this.checkTarget(target) || !isValidServiceName(declared.service)) {
        console.warn(JSON.stringify({ level: "warn", message: "ignoring invalid static instance", service: declared.service }));
        continue;
      }
      wanted.set(staticId(declared.service, target), { service: declared.service, target, weight: declared.weight ?? 1 });
    }
    for (const instance of [...this.instances.values()]) {
      if (instance.isStatic && !wanted.has(instance.id)) this.removeInstance(instance.id);
    }
    for (const [id, declared] of wanted) {
      const existing = this.instances.get(id);
      if (existing) {
        if (existing.weight !== declared.weight) {
          existing.weight = declared.weight;
          this.writeInstance(existing);
        }
        continue;
      }
      const clash = [...this.instances.values()].find(
        (i) => i.service === declared.service && i.target.kind === declared.target.kind && targetValue(i.target) === targetValue(declared.target),
      );
      if (clash) this.removeInstance(clash.id);
      this.ensureService(declared.service, false, now);
      const instance = this.newInstance({
        id,
        service: declared.service,
        target: declared.target,
        weight: declared.weight,
        isStatic: true,
        ttlSeconds: null,
        lastHeartbeat: null,
        metadata: {},
        now,
      });
      this.indexInstance(instance);
      this.writeInstance(instance);
    }
  }

  /** Returns true when the service was created. */
  private ensureService(name: string, seed: boolean, now: number): boolean {
    const existing = this.services.get(name);
    if (existing) {
      if (seed && !existing.seed) {
        existing.seed = true;
        this.writeService(existing);
      }
      return false;
    }
    const service: ServiceRecord = {
      name,
      strategy: null,
      timeoutMs: null,
      adminState: "active",
      balancer: initialBalancerState,
      seed,
      createdAt: now,
      healthSettings: {},
      lifecycleHook: null,
      autoscalePolicy: null,
      autoscaleState: INITIAL_AUTOSCALE_STATE,
      autoscaleLog: EMPTY_DECISION_LOG,
      activeRetries: 0,
    };
    this.services.set(name, service);
    this.writeService(service);
    return true;
  }

  private removeInstance(id: string): void {
    const instance = this.instances.get(id);
    if (!instance) return;
    this.instances.delete(id);
    const siblings = (this.instancesByService.get(instance.service) ?? []).filter((i) => i.id !== id);
    if (siblings.length > 0) this.instancesByService.set(instance.service, siblings);
    else this.instancesByService.delete(instance.service);
    this.sql.exec("DELETE FROM instances WHERE id = ?", id);
    this.sql.exec("DELETE FROM leases WHERE instance_id = ?", id);
    const service = this.services.get(instance.service);
    // A dynamic service disappears with its last instance; seed services and
    // ones an operator configured stay.
    if (service && !this.hasOperatorSettings(service) && this.instancesOf(service.name).length === 0) {
      this.services.delete(service.name);
      this.sql.exec("DELETE FROM services WHERE name = ?", service.name);
    }
  }

  /** Anything an operator set (or the seed list) keeps a service alive without instances. */
  private hasOperatorSettings(service: ServiceRecord): boolean {
    return (
      service.seed ||
      service.strategy !== null ||
      service.timeoutMs !== null ||
      service.adminState === "stopped" ||
      Object.keys(service.healthSettings).length > 0 ||
      service.lifecycleHook !== null ||
      service.autoscalePolicy !== null
    );
  }

  private writeService(service: ServiceRecord): void {
    this.sql.exec(
      `INSERT INTO services (name, strategy, timeout_ms, admin_state, lb_state, seed, created_at, health_settings, lifecycle_hook,
         autoscale_policy, autoscale_state, autoscale_log)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET strategy = excluded.strategy, timeout_ms = excluded.timeout_ms,
         admin_state = excluded.admin_state, lb_state = excluded.lb_state, seed = excluded.seed,
         health_settings = excluded.health_settings, lifecycle_hook = excluded.lifecycle_hook,
         autoscale_policy = excluded.autoscale_policy, autoscale_state = excluded.autoscale_state, autoscale_log = excluded.autoscale_log`,
      service.name,
      service.strategy,
      service.timeoutMs,
      service.adminState,
      JSON.stringify(service.balancer),
      service.seed ? 1 : 0,
      service.createdAt,
      JSON.stringify(service.healthSettings),
      service.lifecycleHook === null ? null : JSON.stringify(service.lifecycleHook),
      service.autoscalePolicy === null ? null : JSON.stringify(service.autoscalePolicy),
      JSON.stringify(service.autoscaleState),
      JSON.stringify(service.autoscaleLog),
    );
  }

  private writeInstance(instance: InstanceRecord): void {
    this.sql.exec(
      `INSERT INTO instances (id, seq, service, target_kind, target, weight, admin_state, check_status, is_static,
         ttl_seconds, registered_at, last_heartbeat, critical_since, metadata, reported_inflight, reported_cpu,
         active_state, outlier_state, in_rotation_since, pool)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET weight = excluded.weight, admin_state = excluded.admin_state,
         check_status = excluded.check_status, ttl_seconds = excluded.ttl_seconds, last_heartbeat = excluded.last_heartbeat,
         critical_since = excluded.critical_since, metadata = excluded.metadata,
         reported_inflight = excluded.reported_inflight, reported_cpu = excluded.reported_cpu,
         active_state = excluded.active_state, outlier_state = excluded.outlier_state, in_rotation_since = excluded.in_rotation_since,
         pool = excluded.pool`,
      instance.id,
      instance.seq,
      instance.service,
      instance.target.kind,
      targetValue(instance.target),
      instance.weight,
      instance.adminState,
      instance.checkStatus,
      instance.isStatic ? 1 : 0,
      instance.ttlSeconds,
      instance.registeredAt,
      instance.lastHeartbeat,
      instance.criticalSince,
      JSON.stringify(instance.metadata),
      instance.reportedInflight,
      instance.reportedCpu,
      JSON.stringify(instance.active),
      JSON.stringify(instance.outlier),
      instance.inRotationSince,
      instance.pool ? 1 : 0,
    );
  }

  /** Registration order (seq); callers must not modify the returned array. */
  private instancesOf(service: string): readonly InstanceRecord[] {
    return this.instancesByService.get(service) ?? [];
  }

  /** New instances always have the highest seq, so appending keeps each list in order. */
  private indexInstance(instance: InstanceRecord): void {
    this.instances.set(instance.id, instance);
    const list = this.instancesByService.get(instance.service);
    if (list) list.push(instance);
    else this.instancesByService.set(instance.service, [instance]);
  }

  private strategyOf(service: ServiceRecord): Strategy {
    return service.strategy ?? this.config.defaultStrategy;
  }

  /**
   * Routing health: unhealthy when the TTL check is critical, the active check
   * failed, or passive detection ejected it; degraded when either the active
   * check or recent traffic says so.
   */
  private healthOf(instance: InstanceRecord, now: number): HealthStatus {
    if (instance.active.status === "unhealthy" || isEjected(instance.outlier, now)) return "unhealthy";
    const fromTraffic = deriveHealth(instance, { degradedResponseTimeMs: this.config.degradedResponseTimeMs });
    if (fromTraffic === "unhealthy") return "unhealthy";
    return fromTraffic === "degraded" || instance.active.status === "degraded" ? "degraded" : "healthy";
  }

  private candidate(instance: InstanceRecord, now: number): Candidate {
    return {
      id: instance.id,
      weight: scaleWeight(effectiveWeight(instance.weight, instance.inRotationSince, now, this.config.health.slowStartWindowMs)),
      inflight: totalInflight(instance),
      health: this.healthOf(instance, now),
      score: healthScore({ latencyEwmaMs: instance.latencyEwmaMs, errorRate: instance.errorEwma }),
    };
  }

  private serviceView(service: ServiceRecord): ServiceView {
    const now = Date.now();
    const instances = this.instancesOf(service.name);
    const views = instances.map((i) => this.instanceView(i, now));
    const active = views.filter((i) => i.adminState === "active");
    const usable = active.filter((i) => i.health !== "unhealthy").length;
    return {
      name: service.name,
      seed: service.seed,
      strategy: this.strategyOf(service),
      strategyIsDefault: service.strategy === null,
      timeoutMs: service.timeoutMs ?? this.config.upstreamTimeoutMs,
      adminState: service.adminState,
      status: this.statusOf(service, active.map((i) => i.health)),
      panic: active.length > 0 && (usable === 0 || (usable / active.length) * 100 < this.config.health.panicThresholdPercent),
      healthCheck: this.healthSettingsOf(service.name),
      lifecycleHook: service.lifecycleHook,
      autoscale: service.autoscalePolicy,
      inflight: views.reduce((sum, i) => sum + i.inflight, 0),
      instances: views,
    };
  }

  /** A service's status from its active instances' health (a stopped service is stopped whatever they say). */
  private statusOf(service: ServiceRecord, activeHealth: readonly HealthStatus[]): ServiceView["status"] {
    return serviceStatus(service.adminState === "stopped", activeHealth);
  }

  private instanceView(instance: InstanceRecord, now: number): InstanceView {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      id: instance.id,
      service: instance.service,
      target: instance.target,
      weight: instance.weight,
      static: instance.isStatic,
      adminState: instance.adminState,
      pool: instance.pool,
      checkStatus: instance.checkStatus,
      health: this.healthOf(instance, now),
      registeredAt: new Date(instance.registeredAt).toISOString(),
      lastHeartbeatAt: iso(instance.lastHeartbeat),
      ttlSeconds: instance.ttlSeconds,
      criticalSince: iso(instance.criticalSince),
      inflight: totalInflight(instance),
      reportedInflight: instance.reportedInflight,
      cpu: instance.reportedCpu,
      responseTimeMs: instance.latencyEwmaMs === null ? null : Math.round(instance.latencyEwmaMs),
      errorRate: Math.round(instance.errorEwma * 10_000) / 100,
      metadata: instance.metadata,
      activeCheck: {
        status: instance.active.status,
        lastCheckAt: iso(instance.active.lastCheckAt),
        lastResult: instance.active.lastResult,
        lastLatencyMs: instance.active.lastLatencyMs,
        lastError: instance.active.lastError,
        consecutiveFailures: instance.active.consecutiveFailures,
        consecutiveSuccesses: instance.active.consecutiveSuccesses,
      },
      ejectedUntil: isEjected(instance.outlier, now) ? iso(instance.outlier.ejectedUntil) : null,
      ejectionCount: instance.outlier.ejectionCount,
      effectiveWeight: Math.round(effectiveWeight(instance.weight, instance.inRotationSince, now, this.config.health.slowStartWindowMs) * 100) / 100,
    };
  }

  private bindingOf(name: string): unknown {
    return bindingByName(this.env, name);
  }

  /** Returns a failure when the target may not be used, null when it may. */
  private checkTarget(target: Target) {
    if (target.kind === "binding") {
      if (!isFetcher(this.bindingOf(target.binding))) {
        return failure(400, ProblemType.validation, "The request is not valid", `binding: ${target.binding} is not a service binding of this orchestrator`, {
          field: "binding",
        });
      }
      return null;
    }
    const check = checkUpstreamUrl(target.url, upstreamUrlPolicy(this.config));
    if (!check.ok) return failure(400, ProblemType.validation, "The request is not valid", `url: ${check.message}`, { field: "url" });
    return null;
  }
}

function totalInflight(instance: InstanceRecord): number {
  return instance.inflight + instance.edgeInflight;
}

function unknownInstance(id: string) {
  return failure(404, ProblemType.unknownInstance, "Unknown instance", `No instance has the id ${id}; register again.`, { field: "id" });
}

/** The instance's service is not named: a token scoped elsewhere has no business knowing it. */
function outOfTokenScope() {
  return failure(403, ProblemType.forbidden, "Forbidden", "This registration token is not allowed to act for that instance's service.", { field: "id" });
}

function targetValue(target: Target): string {
  return target.kind === "url" ? target.url : target.binding;
}

function staticId(service: string, target: Target): string {
  return `static-${service}-${target.kind === "binding" ? target.binding.toLowerCase() : fnv1a(target.url)}`;
}

/** A short stable hash for ids derived from URLs (not security-relevant). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

function parseJsonObject<T extends object>(json: string | null, fallback: T): T {
  if (json === null) return fallback;
  try {
    const parsed = JSON.parse(json) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as T) : fallback;
  } catch {
    return fallback;
  }
}

function parseTarget(json: string | null): Target | null {
  const parsed = parseJsonObject<Partial<{ kind: string; url: string; binding: string }>>(json, {});
  if (parsed.kind === "url" && typeof parsed.url === "string") return { kind: "url", url: parsed.url };
  if (parsed.kind === "binding" && typeof parsed.binding === "string") return { kind: "binding", binding: parsed.binding };
  return null;
}

function parseBalancerState(json: string): BalancerState {
  try {
    const parsed = JSON.parse(json) as Partial<BalancerState>;
    return {
      cursor: Number.isSafeInteger(parsed.cursor) && (parsed.cursor as number) >= 0 ? (parsed.cursor as number) : 0,
      currentWeights: typeof parsed.currentWeights === "object" && parsed.currentWeights !== null ? parsed.currentWeights : {},
    };
  } catch {
    return initialBalancerState;
  }
}
