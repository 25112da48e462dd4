/**
 * RegistryDO: the single source of truth for services, instances, admin state,
 * in-flight counts and load-balancer cursors. One instance, named "global".
 *
 * A thin shell. Each RPC method reads the clock once, hands the registry in
 * memory to a decision in src/core/registry/ (which changes it and says what
 * storage must learn), writes that through its store (store.ts, every SQL
 * statement) and answers with a view (views.ts, fleet-table.ts) or a Failure
 * (failures.ts). The whole registry fits in memory: it is loaded once at
 * construction, and reads and picks never touch storage.
 *
 * Where things change: registration.ts (instances joining and leaving),
 * ttl-expiry.ts, inflight.ts (every in-flight count), leases.ts,
 * edge-reports.ts, ejection.ts, active-checks.ts, admin-state.ts,
 * service-settings.ts, autoscale-actuator.ts, declared-instances.ts,
 * releases.ts (progressive delivery: the alarm is the release controller);
 * deadlines.ts decides when the alarm runs.
 */
import { DurableObject } from "cloudflare:workers";
import type { AutoscalePolicy } from "../../src/core/autoscale";
import type { ServiceScope } from "../../src/core/credentials";
import type { MetricsExtras } from "../../src/core/metrics/view";
import { recordProbeResults, requestImmediateProbe } from "../../src/core/registry/active-checks";
import { changeAdminState, forgetHealth, lifecycleTarget } from "../../src/core/registry/admin-state";
import { actuateAutoscale, type TrafficObservation } from "../../src/core/registry/autoscale-actuator";
import { nextAlarmAt } from "../../src/core/registry/deadlines";
import { syncDeclaredInstances } from "../../src/core/registry/declared-instances";
import { applyEdgeReport } from "../../src/core/registry/edge-reports";
import { expireIsolateReports } from "../../src/core/registry/inflight";
import { acquireLease, expireLeases, releaseLease } from "../../src/core/registry/leases";
import { deregisterInstance, recordHeartbeat, registerInstance } from "../../src/core/registry/registration";
import { actOnRelease, findRelease, releasesOf, runDueReleases, startRelease } from "../../src/core/registry/releases";
import { invalidField, type Refusal } from "../../src/core/registry/refusals";
import type { OperatorAction } from "../../src/core/release/controller";
import { normalizeReleaseSpec, type ReleaseSpecInput } from "../../src/core/release/spec";
import { applyServiceSettings, changeAutoscalePolicy } from "../../src/core/registry/service-settings";
import { emptyRegistry, type RegistryState } from "../../src/core/registry/state";
import type { TargetPolicy } from "../../src/core/registry/target-policy";
import { expireSilentInstances } from "../../src/core/registry/ttl-expiry";
import { type Config, configFor, upstreamUrlPolicy } from "../../src/config";
import { bindingByName, isFetcher } from "../../src/platform/bindings";
import { metricsStub, REGISTRY_NAME } from "../../src/platform/stubs";
import type { Failure } from "../../src/contracts/problem";
import type {
  AcquireOptions,
  AcquireResult,
  AuditEntry,
  AuditInput,
  AutoscaleResult,
  AutoscaleView,
  DeregisterResult,
  EdgeReport,
  FleetTable,
  HealthTarget,
  HeartbeatInput,
  HeartbeatResult,
  InstanceHealthEvent,
  LifecycleResult,
  ProbeReport,
  RegisterInput,
  RegisterResult,
  RegistrySnapshot,
  ReleaseFact,
  ReleaseListResult,
  ReleaseOutcome,
  ReleaseResult,
  ReleaseSummary,
  ServiceResult,
  ServiceSettingsInput,
  ServiceView,
} from "../../src/contracts/registry";
import { failureFor } from "./failures";
import { releaseTarget, type ReleaseRequester, requestedAction, transitionAudit } from "./release-audit";
import { releaseFacts, releaseSummaries, releaseView } from "./release-views";
import { buildFleetTable } from "./fleet-table";
import { RegistryStore } from "./store";
import * as views from "./views";

export class RegistryDO extends DurableObject<Env> {
  private readonly config: Config;
  private readonly store: RegistryStore;
  private readonly targets: TargetPolicy;
  /** Replaced by what storage holds before any call is let in (see the constructor). */
  private state: RegistryState = emptyRegistry();
  /** The last FleetTable's version. */
  private tableVersion = 0;
  private scheduledAlarmAt: number | null = null;
  /** The production singleton (not a test's own registry): only it drives the background loop. */
  private readonly isGlobal: boolean;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    this.store = new RegistryStore(ctx.storage.sql);
    this.targets = { isServiceBinding: (name) => isFetcher(bindingByName(env, name)), url: upstreamUrlPolicy(this.config) };
    void ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      this.state = this.store.load(Date.now());
      const now = Date.now();
      const synced = syncDeclaredInstances(this.state, this.config, now, this.targets);
      for (const entry of synced.ignored) console.warn(JSON.stringify({ level: "warn", message: "ignoring invalid static instance", service: entry.service }));
      this.store.apply(synced.writes);
      this.scheduledAlarmAt = await ctx.storage.getAlarm();
      this.rearmAlarm(now);
    });
    // The background loop (health sweeps, alerts) lives in MetricsDO; make sure it is running
    // whenever the registry is. Only the production singleton does this, not test instances.
    this.isGlobal = ctx.id.equals(env.REGISTRY.idFromName(REGISTRY_NAME));
    if (this.isGlobal) {
      ctx.waitUntil(metricsStub(env).ensureRunning().catch((error: unknown) => console.error(JSON.stringify({ level: "error", message: "could not start the background loop", error: String(error) }))));
    }
  }

  // ------------------------------------------------------------------ RPC: discovery

  register(input: RegisterInput): RegisterResult {
    const now = Date.now();
    const registered = registerInstance(this.state, input, crypto.randomUUID(), now, this.config, this.targets);
    if (!registered.ok) {
      // The 409 that hands a restarted instance its old id: it is probably back, so check it now.
      if (registered.reason === "already-registered") this.probeSoon(registered.existingId, "registered", now);
      return failureFor(registered);
    }
    this.store.apply(registered.writes);
    this.rearmAlarm(now);
    this.probeSoon(registered.instance.id, "registered", now);
    return { ok: true, id: registered.instance.id, ttlSeconds: registered.ttlSeconds, service: registered.instance.service };
  }

  /** `scope`: the services the caller's registration token covers (null: all); another service's instance is refused. */
  heartbeat(id: string, report: HeartbeatInput, scope: ServiceScope = null): HeartbeatResult {
    const now = Date.now();
    const beat = recordHeartbeat(this.state, id, report, scope, now, this.config);
    if (!beat.ok) return failureFor(beat);
    this.store.apply(beat.writes);
    this.rearmAlarm(now);
    this.probeSoon(id, "heartbeat", now);
    return { ok: true, id, checkStatus: beat.instance.checkStatus, ttlSeconds: beat.ttlSeconds };
  }

  deregister(id: string, scope: ServiceScope = null): DeregisterResult {
    const removed = deregisterInstance(this.state, id, scope);
    if (!removed.ok) return failureFor(removed);
    this.store.apply(removed.writes);
    return { ok: true, id };
  }

  snapshot(): RegistrySnapshot {
    return views.registrySnapshot(this.state, Date.now(), this.config);
  }

  /** Each service's status and each instance's health and in-flight count, for /metrics (smaller than a snapshot). */
  metricsExtras(): MetricsExtras {
    return views.metricsExtras(this.state, Date.now(), this.config);
  }

  service(name: string): ServiceView | null {
    const service = this.state.services.get(name);
    return service ? views.serviceView(this.state, service, Date.now(), this.config) : null;
  }

  configureService(name: string, settings: ServiceSettingsInput): ServiceResult {
    const now = Date.now();
    const configured = applyServiceSettings(this.state, name, settings, now, this.targets);
    if (!configured.ok) return failureFor(configured);
    this.store.apply(configured.writes);
    return { ok: true, created: configured.created, service: views.serviceView(this.state, configured.service, now, this.config) };
  }

  // ------------------------------------------------------------------ RPC: the proxied request

  /**
   * Picks an instance for one request and records it as in flight: the only
   * registry call on a proxied request's critical path when the edge has no
   * table to route from. A retry passes the instances already tried.
   */
  acquire(serviceName: string, options: AcquireOptions = {}): AcquireResult {
    const now = Date.now();
    const granted = acquireLease(this.state, serviceName, options, now, this.config);
    if (!granted.ok) return failureFor(granted);
    this.store.apply(granted.writes);
    const leaseId = this.store.insertLease(granted.instance.id, granted.expiresAt, granted.isRetry);
    // Leases expire in the order they were handed out, so only an idle alarm needs arming.
    this.armAt(granted.expiresAt);
    return { ok: true, leaseId, instanceId: granted.instance.id, target: granted.instance.target, timeoutMs: granted.timeoutMs, panic: granted.panic };
  }

  /**
   * Ends a lease and learns from its outcome (latency, errors, passive outlier
   * detection). Idempotent: a second release of the same lease, or one for a
   * lease the reaper already expired, changes nothing, so counts never go negative.
   */
  release(leaseId: number, outcome: ReleaseOutcome): boolean {
    const now = Date.now();
    const lease = this.store.deleteLease(leaseId);
    if (!lease) return false;
    this.store.apply(releaseLease(this.state, lease, outcome, now, this.config));
    return true;
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
    const applied = applyEdgeReport(this.state, report, now, this.config);
    this.store.apply(applied.writes);
    if (applied.wakeAt !== null) this.armAt(applied.wakeAt);
    const table = buildFleetTable(this.state, this.tableVersion, now, this.config);
    this.tableVersion = table.version;
    return table;
  }

  // ------------------------------------------------------------------ RPC: operator control

  /**
   * Takes a service (or one instance) out of rotation or puts it back. Stopping
   * is immediate for new requests; requests already in flight finish (the edge
   * waits for them, see routes/lifecycle.ts). Starting begins slow start.
   */
  setAdminState(serviceName: string, instanceId: string | null, state: "active" | "stopped", audit?: Omit<AuditInput, "status">): LifecycleResult {
    const now = Date.now();
    const target = lifecycleTarget(this.state, serviceName, instanceId);
    // Audited in the same turn as the change, so the log's order is the order changes took effect.
    if (!target.ok) {
      const refused = failureFor(target);
      if (audit) this.store.insertAudit({ ...audit, status: refused.problem.status }, now);
      return refused;
    }
    const changed = changeAdminState(this.state, target, state, now);
    if (audit) this.store.insertAudit({ ...audit, status: 200, ...(changed.detail === null ? {} : { detail: changed.detail }) }, now);
    this.store.apply(changed.writes);
    return views.lifecycleState(this.state, target, changed.changed);
  }

  /** Current lifecycle view, polled by the edge while a stop drains. */
  lifecycle(serviceName: string, instanceId: string | null): LifecycleResult {
    const target = lifecycleTarget(this.state, serviceName, instanceId);
    return target.ok ? views.lifecycleState(this.state, target, false) : failureFor(target);
  }

  /** A restart forgets what health checks and outlier detection had concluded. */
  resetHealth(serviceName: string, instanceId: string | null): LifecycleResult {
    const target = lifecycleTarget(this.state, serviceName, instanceId);
    if (!target.ok) return failureFor(target);
    this.store.apply(forgetHealth(this.state, target));
    return views.lifecycleState(this.state, target, true);
  }

  recordAudit(entry: AuditInput): number {
    return this.store.insertAudit(entry, Date.now());
  }

  /** Newest first; `before` pages backwards by sequence number. */
  audit(limit: number, before: number | null): AuditEntry[] {
    return this.store.auditPage(limit, before);
  }

  // ------------------------------------------------------------------ RPC: releases (issue #20)

  /**
   * Starts a release of a version against the rest of the service. Audited in the same turn,
   * like every transition after it, so the log's order is the order they took effect.
   */
  startRelease(serviceName: string, input: ReleaseSpecInput, requester: ReleaseRequester): ReleaseResult {
    const now = Date.now();
    // The edge checked the spec already; RPC callers get the same rules.
    const spec = normalizeReleaseSpec(input);
    const started = spec.ok
      ? startRelease(this.state, serviceName, spec.spec, crypto.randomUUID(), requester.actor, now)
      : invalidField(spec.problems[0]?.field ?? "(body)", spec.problems.map((p) => `${p.field}: ${p.message}`).join("; "));
    if (!started.ok) return this.refusedRelease(started, requestedAction("start"), serviceName, null, requester, now);
    this.store.insertAudit(transitionAudit(started.release, started.transition, requester), now);
    this.store.apply(started.writes);
    this.rearmAlarm(now);
    return { ok: true, release: releaseView(this.state, started.release, now) };
  }

  /** Newest first; 404 for an unknown service. */
  listReleases(serviceName: string): ReleaseListResult {
    if (!this.state.services.has(serviceName)) return failureFor({ ok: false, reason: "unknown-service", service: serviceName, field: "name" });
    const now = Date.now();
    return { ok: true, service: serviceName, releases: releasesOf(this.state, serviceName).map((r) => releaseView(this.state, r, now)) };
  }

  getRelease(serviceName: string, id: string): ReleaseResult {
    if (!this.state.services.has(serviceName)) return failureFor({ ok: false, reason: "unknown-service", service: serviceName, field: "name" });
    const release = findRelease(this.state, serviceName, id);
    if (release === null) return failureFor({ ok: false, reason: "unknown-release", service: serviceName, id });
    return { ok: true, release: releaseView(this.state, release, Date.now()) };
  }

  /** promote, abort, pause or resume; 409 when the action does not apply to the release's state. */
  actOnRelease(serviceName: string, id: string, action: OperatorAction, requester: ReleaseRequester): ReleaseResult {
    const now = Date.now();
    const acted = actOnRelease(this.state, serviceName, id, action, requester.actor, now);
    if (!acted.ok) return this.refusedRelease(acted, requestedAction(action), serviceName, id, requester, now);
    this.store.insertAudit(transitionAudit(acted.release, acted.transition, requester), now);
    this.store.apply(acted.writes);
    this.rearmAlarm(now);
    return { ok: true, release: releaseView(this.state, acted.release, now) };
  }

  /** Recent promotions and rollbacks and stalled releases, for MetricsDO's alert rules. */
  releaseFacts(): ReleaseFact[] {
    return releaseFacts(this.state, Date.now());
  }

  /** Each service's newest release while active and for an hour after it ended, for the dashboard (one call per state build). */
  releaseSummaries(): ReleaseSummary[] {
    return releaseSummaries(this.state, Date.now());
  }

  /** A refused release request, audited like the transitions it did not make. */
  private refusedRelease(refusal: Refusal, action: string, serviceName: string, id: string | null, requester: ReleaseRequester, now: number): ReleaseResult {
    const refused = failureFor(refusal);
    this.store.insertAudit(
      { action, target: id === null ? serviceName : releaseTarget(serviceName, id), status: refused.problem.status, actor: requester.actor, role: requester.role, requestId: requester.requestId, detail: refused.problem.type },
      now,
    );
    return refused;
  }

  // ------------------------------------------------------------------ RPC: dashboard sessions

  /** Signs a session out everywhere; kept until it would have expired anyway. */
  revokeSession(id: string, expiresAt: number): void {
    this.store.revokeSession(id, expiresAt, Date.now());
  }

  isSessionRevoked(id: string): boolean {
    return this.store.isSessionRevoked(id);
  }

  // ------------------------------------------------------------------ RPC: autoscaling

  setAutoscalePolicy(serviceName: string, policy: AutoscalePolicy | null): { ok: true; policy: AutoscalePolicy | null } | Failure {
    const changed = changeAutoscalePolicy(this.state, serviceName, policy);
    if (!changed.ok) return failureFor(changed);
    this.store.apply(changed.writes);
    return { ok: true, policy };
  }

  /** Services with an autoscaling policy, for MetricsDO's loop. */
  autoscaledServices(): string[] {
    return views.autoscaledServices(this.state);
  }

  autoscaleViews(): AutoscaleView[] {
    return views.autoscaleViews(this.state);
  }

  /** One autoscaling evaluation for a service, when its period is due (core/registry/autoscale-actuator.ts). */
  autoscale(serviceName: string, traffic: TrafficObservation): AutoscaleResult {
    const actuated = actuateAutoscale(this.state, serviceName, traffic, Date.now(), this.config);
    if (!actuated.ok) return failureFor(actuated);
    if (actuated.decision === null) return { ok: true, decision: null };
    this.store.apply(actuated.writes);
    return { ok: true, decision: actuated.decision, moved: actuated.moved, shortBy: actuated.shortBy };
  }

  // ------------------------------------------------------------------ RPC: active health checks

  /** What the health sweeper should probe: every instance not stopped, with its service's check settings. */
  healthTargets(): HealthTarget[] {
    return views.healthTargets(this.state, this.config);
  }

  /**
   * Folds a sweep's probe results into each instance's active-check state and
   * returns what changed, for alerting.
   */
  applyProbeResults(reports: readonly ProbeReport[]): InstanceHealthEvent[] {
    const applied = recordProbeResults(this.state, reports, Date.now(), this.config);
    this.store.apply(applied.writes);
    return applied.events;
  }

  /** In-flight count per instance id, for tests and the dashboard. */
  inflightCounts(): Record<string, number> {
    return views.inflightCounts(this.state);
  }

  // ------------------------------------------------------------------ alarm: TTL expiry and lease reaping

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.scheduledAlarmAt = null;
    try {
      expireIsolateReports(this.state, now, this.config);
      this.store.apply(expireSilentInstances(this.state, now, this.config));
      expireLeases(this.state, this.store.deleteExpiredLeases(now));
      this.controlReleases(now);
    } finally {
      // Re-armed whatever happened above, so one bad sweep cannot stop expiry for good.
      this.rearmAlarm(now);
    }
  }

  /**
   * The release controller: each active release whose evaluation is due is judged, and each
   * transition is written and audited in this turn. The edge sees a new weight with its next
   * table (within its soft TTL); nothing else needs telling.
   */
  private controlReleases(now: number): void {
    const round = runDueReleases(this.state, now);
    for (const { release, transition } of round.transitions) {
      this.store.insertAudit(transitionAudit(release, transition, null), now);
      console.log(JSON.stringify({ level: transition.kind === "rolled-back" ? "warn" : "info", message: "release transition", service: release.service, release: release.id, version: release.spec.version, kind: transition.kind, weightPercent: transition.weightPercent, detail: transition.detail }));
    }
    this.store.apply(round.writes);
  }

  /**
   * Asks for a probe of the instance before its interval is up (core: requestImmediateProbe) and,
   * on a new request, tells the sweeper in the background: the caller's answer does not wait.
   */
  private probeSoon(id: string, why: "registered" | "heartbeat", now: number): void {
    const instance = this.state.instances.get(id);
    if (!instance || !requestImmediateProbe(this.state, instance, why, now) || !this.isGlobal) return;
    this.ctx.waitUntil(
      metricsStub(this.env)
        .probeSoon()
        .catch((error: unknown) => console.error(JSON.stringify({ level: "error", message: "could not ask for an immediate probe", error: String(error) }))),
    );
  }

  private rearmAlarm(now: number): void {
    const at = nextAlarmAt(this.state, this.store.earliestLeaseExpiry(), now, this.config);
    if (at !== null) this.armAt(at);
  }

  /** Keeps one alarm scheduled at the earliest pending deadline; a later one never postpones it. */
  private armAt(at: number): void {
    if (this.scheduledAlarmAt !== null && this.scheduledAlarmAt <= at) return;
    this.scheduledAlarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
