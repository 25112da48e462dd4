/**
 * The edge's side of the hot path: one per isolate, for every service.
 *
 * Every proxied request is routed from the isolate's copy of the fleet's
 * routing table (RegistryDO.edgeSync: every service in one table), whatever
 * the load, and counted in flight here. RegistryDO stays the source of truth
 * and the control plane; it is not asked per request:
 *
 * - a table older than `softTtlMs` is refreshed in the background (one sync at
 *   a time, kept alive by the request's ctx.waitUntil) while requests keep
 *   using it; first from the location's shared copy (the Cache API) when that
 *   is newer and fresh and no report is due, else from the registry;
 * - a request waits for the registry only when the isolate has no table yet,
 *   when its table is older than `hardTtlMs`, right after an operator changed
 *   routing through this isolate (`invalidate`), or for a service name the
 *   table does not know (at most once per soft TTL: it may have just been
 *   registered); if that sync fails, a table it still has is used rather
 *   than failing the request;
 * - each sync carries the isolate's report: its in-flight counts (absolute,
 *   so a lost report drifts nothing) and the outcomes of finished requests,
 *   which feed health scoring and outlier ejection in the registry. Reports
 *   go every `reportIntervalMs` while there is traffic, and within a soft TTL
 *   when something is urgent: a failure, a local ejection, a request on an
 *   instance the registry believes idle, requests piling up on an instance, a
 *   request ending on an instance that left rotation (a drain is waiting for
 *   it), or the last request in flight ending. An isolate calls RegistryDO at
 *   most once per soft TTL.
 *
 * Consistency (what docs/architecture.md promises and the tests check): a pick uses a
 * table at most `softTtlMs` old plus one sync's duration (and never past
 * `hardTtlMs` while the registry answers); least-connections sees this
 * isolate's counts exactly and the others' as of their last report; every
 * request started is released exactly once, locally.
 *
 * No Durable Object, clock or timer here: the caller injects them.
 */
import { type BalancerState, type Candidate, initialBalancerState, pickInstance } from "../core/balancer";
import { type AffinityRequest, affinityKey } from "../core/balancer/affinity";
import { AffinityRings, pickByAffinity } from "../core/balancer/affinity-pick";
import { chooseSide, type SideChoice } from "../core/balancer/version-split";
import { retryAllowed } from "../core/health";
import { type Failure, failure, ProblemType } from "../http/problem";
import type { EdgeOutcome, EdgeReport, FleetTable, ReleaseOutcome, RoutingInstance, ServiceRoute, Target } from "../contracts/registry";

/** Where a location's isolates share the latest table (the Cache API); reads and writes may fail. */
export interface SharedTableStore {
  read(): Promise<FleetTable | null>;
  write(table: FleetTable): Promise<void>;
}

/** Keeps background work alive after the request that started it has its answer (ctx.waitUntil). */
export type KeepAlive = (work: Promise<unknown>) => void;

export interface EdgeRouterDeps {
  readonly isolateId: string;
  readonly now: () => number;
  /** RegistryDO.edgeSync: applies the report, returns the fleet's table. `awaited`: a request is waiting for it. */
  readonly sync: (report: EdgeReport, awaited: boolean) => Promise<FleetTable>;
  readonly shared?: SharedTableStore;
  readonly softTtlMs?: number;
  readonly hardTtlMs?: number;
  readonly reportIntervalMs?: number;
  /** A timer, for requests polling for another request's sync (setTimeout by default). */
  readonly wait?: (ms: number) => Promise<void>;
}

/** A pick made at the edge; released with `release`. */
export interface LocalLease {
  readonly service: string;
  readonly instanceId: string;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly panic: boolean;
  readonly retry: boolean;
  /** A release mirrors this request to its canary: the version to send a copy to, or null. */
  readonly mirrorTo: string | null;
}

export type EdgePick = LocalLease | Failure;

export interface PickOptions {
  /** Instances already tried for this request: never picked again. */
  readonly exclude?: readonly string[];
  /** A retry: counts against the service's retry budget. */
  readonly retry?: boolean;
  /** A WebSocket upgrade: refused (403) for a service that does not allow them. */
  readonly websocket?: boolean;
  /**
   * Where a service with affinity or a release reads the request's key, pin
   * header and client IP; without it, the strategy picks over every version.
   */
  readonly request?: AffinityRequest;
  /** Only instances of this version (a mirrored copy of a request, sent to the canary). */
  readonly version?: string;
}

export const DEFAULT_SOFT_TTL_MS = 1_000;
export const DEFAULT_HARD_TTL_MS = 30_000;
export const DEFAULT_REPORT_INTERVAL_MS = 5_000;
/** A sync taking longer than this is presumed lost (its request was cancelled) and another may start. */
export const SYNC_STALL_MS = 2_000;
/** How long a request waits for the registry when the isolate still has a table to fall back on. */
export const AWAITED_SYNC_TIMEOUT_MS = 1_000;
/** How long it waits when the isolate has no table at all. */
export const FIRST_SYNC_TIMEOUT_MS = 5_000;
/** How often a request for an unknown name looks whether another request's sync has answered. */
const UNKNOWN_SYNC_POLL_MS = 5;
/** After a failed background sync, none before this (requests keep the table they have). */
const SYNC_BACKOFF_MS = 1_000;
/** The soonest a report goes after the release that made it due. */
export const MIN_FLUSH_DELAY_MS = 250;
const MAX_PENDING_OUTCOMES = 1_000;
/** Growth of one instance's in-flight count here since the last report that makes the next report urgent (and at least half the count). */
const QUEUE_GROWTH_WORTH_REPORTING = 3;
/** How long an isolate skips an instance it could not connect to (then real traffic tries it again). */
export const LOCAL_EJECTION_MS = 1_000;
const MAX_QUARANTINED = 1_000;

/** A table as this isolate routes from it. */
interface RoutedTable {
  readonly table: FleetTable;
  /** When it was made, on this isolate's clock (for a shared copy: its age as the registry's clock tells it). */
  readonly madeAt: number;
  readonly routes: ReadonlyMap<string, ServiceRoute>;
  /** Instances in rotation, by id. */
  readonly active: ReadonlyMap<string, RoutingInstance>;
}

class SyncTimeout extends Error {}

export class EdgeRouter {
  private current: RoutedTable | null = null;
  private readonly balancers = new Map<string, BalancerState>();
  private readonly affinityRings = new AffinityRings();
  private readonly activeRetries = new Map<string, number>();
  /** This isolate's requests in flight per instance id (all services), open WebSocket connections included. */
  private readonly inflight = new Map<string, number>();
  /**
   * Of those, open WebSocket connections per instance id. While any is open the
   * isolate reports every report interval even with nothing new to say: the
   * registry stops counting an isolate that goes quiet (inflight.ts), so the
   * reports are the connections' lease, renewed while they live.
   */
  private readonly sockets = new Map<string, number>();
  private openSockets = 0;
  /**
   * The in-flight counts of the last report the registry took: already inside its tables' counts.
   * A Map like the live counts (one copy per sync, none per request): as a plain object, an
   * instance id such as "constructor" read Object.prototype's member and made the count NaN.
   */
  private reportedInflight: ReadonlyMap<string, number> = new Map();
  private outcomes = new Map<string, EdgeOutcome[]>();
  /**
   * Instances this isolate just failed to connect to, and until when it skips
   * them. The registry ejects them too, but only once this isolate's report
   * reaches it and the next table comes back; meanwhile every request sent
   * there would fail and need a retry, and a burst of those can use up the
   * retry budget. Connection refused is certain enough to act on at once, as
   * Envoy's local-origin outlier detection does.
   */
  private readonly quarantined = new Map<string, number>();
  /** Instances quarantined since the last report (EdgeReport.refused). */
  private refused = new Set<string>();
  /** Whether the registry has not yet heard this isolate's latest counts, and whether that cannot wait. */
  private unreported = false;
  private urgent = false;
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private lastRegistryCallAt = Number.NEGATIVE_INFINITY;
  private syncStartedAt: number | null = null;
  private syncAgainAt = 0;
  /** An operator changed routing through this isolate: the next pick waits for the registry's table. */
  private mustSync = false;
  private lastUnknownSyncAt = Number.NEGATIVE_INFINITY;
  private unknownSyncStartedAt: number | null = null;
  private readonly wait: (ms: number) => Promise<void>;
  private readonly softTtl: number;
  private readonly hardTtl: number;
  private readonly reportInterval: number;

  constructor(private readonly deps: EdgeRouterDeps) {
    this.softTtl = deps.softTtlMs ?? DEFAULT_SOFT_TTL_MS;
    this.hardTtl = Math.max(this.softTtl, deps.hardTtlMs ?? DEFAULT_HARD_TTL_MS);
    this.reportInterval = deps.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS;
    this.wait = deps.wait ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Picks for one request: synchronously from the table in steady state (no
   * promise, no microtask), as a promise only when the request has to wait
   * for the registry. `keepAlive` lets a background refresh outlive the request.
   */
  pick(service: string, options: PickOptions = {}, keepAlive?: KeepAlive): EdgePick | Promise<EdgePick> {
    const now = this.deps.now();
    const current = this.current;
    const mustWait = current === null || this.mustSync || now - current.madeAt >= this.hardTtl;
    // Right after the registry failed to answer, a request that has a table does not wait for it again.
    if (mustWait && (current === null || now >= this.syncAgainAt)) return this.syncThenPick(service, options, current);
    // A name the table does not know may have just been registered elsewhere: one request asks the
    // registry, at most once per soft TTL, and requests for unknown names arriving meanwhile wait for
    // its answer (polling, not sharing its promise); after that, unknown names get 404 from the table.
    if (!current.routes.has(service)) {
      if (this.unknownSyncStartedAt !== null && now - this.unknownSyncStartedAt < AWAITED_SYNC_TIMEOUT_MS) return this.pickAfterUnknownSync(service, options);
      if (now - this.lastUnknownSyncAt >= this.softTtl && now >= this.syncAgainAt) return this.syncForUnknown(service, options, current, now);
    }
    if (keepAlive) this.refreshInBackground(now, current, keepAlive);
    return this.pickFrom(current, service, options);
  }

  private async syncThenPick(service: string, options: PickOptions, fallback: RoutedTable | null): Promise<EdgePick> {
    try {
      const timeout = fallback === null ? FIRST_SYNC_TIMEOUT_MS : AWAITED_SYNC_TIMEOUT_MS;
      const synced = await this.syncWithRegistry(true, fallback === null && !this.mustSync, timeout);
      return this.pickFrom(synced, service, options);
    } catch (error) {
      // The registry did not answer in time: the table this isolate has beats refusing the request.
      this.syncAgainAt = this.deps.now() + SYNC_BACKOFF_MS;
      const usable = this.current ?? fallback;
      if (usable !== null) return this.pickFrom(usable, service, options);
      console.error(JSON.stringify({ level: "error", message: "no routing table", error: String(error) }));
      return failure(503, ProblemType.noAvailableInstance, "Routing unavailable", `${service} cannot be routed: the registry did not answer.`, { service, retryAfterSeconds: 1 });
    }
  }

  private async syncForUnknown(service: string, options: PickOptions, current: RoutedTable, now: number): Promise<EdgePick> {
    this.lastUnknownSyncAt = now;
    this.unknownSyncStartedAt = now;
    try {
      return await this.syncThenPick(service, options, current);
    } finally {
      if (this.unknownSyncStartedAt === now) this.unknownSyncStartedAt = null;
    }
  }

  private async pickAfterUnknownSync(service: string, options: PickOptions): Promise<EdgePick> {
    const startedAt = this.deps.now();
    while (this.unknownSyncStartedAt !== null && this.deps.now() - startedAt < AWAITED_SYNC_TIMEOUT_MS) await this.wait(UNKNOWN_SYNC_POLL_MS);
    return this.pickFrom(this.current as RoutedTable, service, options);
  }

  private refreshInBackground(now: number, current: RoutedTable, keepAlive: KeepAlive): void {
    if (this.syncInFlight(now) || now < this.syncAgainAt) return;
    const stale = now - current.madeAt >= this.softTtl;
    const reportDue = this.reportDue(now);
    if (!stale && !(reportDue && now - this.lastRegistryCallAt >= this.softTtl)) return;
    keepAlive(
      (async () => {
        try {
          // A newer table another isolate of this location already fetched costs no registry call.
          if (!reportDue && this.deps.shared && (await this.adoptShared())) return;
          await this.syncWithRegistry(false, false);
        } catch (error) {
          this.syncAgainAt = this.deps.now() + SYNC_BACKOFF_MS;
          console.error(JSON.stringify({ level: "error", message: "routing table refresh failed", error: String(error) }));
        }
      })(),
    );
  }

  private reportDue(now: number): boolean {
    if (!this.unreported) return this.openSockets > 0 && now - this.lastReportAt >= this.reportInterval;
    return this.urgent || now - this.lastReportAt >= this.reportInterval;
  }

  private syncInFlight(now: number): boolean {
    return this.syncStartedAt !== null && now - this.syncStartedAt < SYNC_STALL_MS;
  }

  /** Takes the shared copy if it is newer than ours and still fresh. True when it did. */
  private async adoptShared(): Promise<boolean> {
    this.syncStartedAt = this.deps.now();
    const startedAt = this.syncStartedAt;
    try {
      const shared = await (this.deps.shared as SharedTableStore).read().catch(() => null);
      const now = this.deps.now();
      if (shared === null || (this.current !== null && shared.version <= this.current.table.version)) return false;
      const madeAt = Math.min(now, shared.generatedAt);
      if (now - madeAt >= this.softTtl) return false;
      this.adopt(shared, madeAt);
      return true;
    } finally {
      if (this.syncStartedAt === startedAt) this.syncStartedAt = null;
    }
  }

  /**
   * One call to the registry with this isolate's report; its table becomes the
   * current one and is offered to the location's other isolates. `sharedFirst`:
   * a cold isolate tries the shared copy before the registry.
   */
  private async syncWithRegistry(awaited: boolean, sharedFirst: boolean, timeoutMs?: number): Promise<RoutedTable> {
    if (sharedFirst && this.deps.shared && (await this.adoptShared()) && this.current !== null) return this.current;
    const startedAt = this.deps.now();
    this.syncStartedAt = startedAt;
    this.lastRegistryCallAt = startedAt;
    const forced = this.mustSync;
    const reportedInflight: ReadonlyMap<string, number> = new Map(this.inflight);
    const report = this.takeReport();
    try {
      const table = await withTimeout(this.deps.sync(report, awaited), timeoutMs);
      this.reportedInflight = reportedInflight;
      this.lastReportAt = startedAt;
      if (forced) this.mustSync = false;
      const routed = this.adopt(table, this.deps.now());
      if (this.deps.shared) {
        const shared = this.deps.shared;
        // Best effort: a location without a working cache just asks the registry more often.
        await shared.write(table).catch(() => undefined);
      }
      return routed;
    } catch (error) {
      // The report did not arrive (or its answer was lost): it goes with the next sync.
      this.restoreReport(report);
      throw error;
    } finally {
      if (this.syncStartedAt === startedAt) this.syncStartedAt = null;
    }
  }

  private adopt(table: FleetTable, madeAt: number): RoutedTable {
    if (this.current !== null && table.version < this.current.table.version) return this.current;
    const routes = new Map<string, ServiceRoute>();
    const active = new Map<string, RoutingInstance>();
    for (const route of table.services) {
      routes.set(route.service, route);
      for (const instance of route.instances) active.set(instance.id, instance);
    }
    this.current = { table, madeAt, routes, active };
    this.affinityRings.retain(routes);
    return this.current;
  }

  private pickFrom(current: RoutedTable, service: string, options: PickOptions): EdgePick {
    const route = current.routes.get(service);
    if (route === undefined) return failure(404, ProblemType.unknownService, "Unknown service", `No service is named ${service}.`, { service });
    if (route.stopped) return failure(503, ProblemType.serviceStopped, "Service stopped", `An operator stopped ${service}.`, { service, retryAfterSeconds: 30 });
    if (route.instances.length === 0 && (route.stoppedInstances ?? 0) > 0) return allInstancesStopped(service, route.stoppedInstances as number);
    if (options.websocket && route.websockets === false) {
      return failure(403, ProblemType.websocketNotAllowed, "WebSockets not allowed", `${service} does not accept WebSocket connections through the orchestrator (its websockets setting is off).`, { service, field: "upgrade" });
    }
    const retries = this.activeRetries.get(service) ?? 0;
    if (options.retry) {
      let activeRequests = 0;
      for (const i of route.instances) activeRequests += this.inflight.get(i.id) ?? 0;
      if (!retryAllowed({ activeRequests, activeRetries: retries }, current.table.retryBudget)) {
        return noInstance(service, "Retry budget exhausted", 1);
      }
    }
    const side = this.sideFor(route, options);
    if (side !== null && side.kind === "unknown-version") {
      return failure(400, ProblemType.validation, "Unknown version", `No instance of ${service} has version ${JSON.stringify(side.value)}.`, {
        field: side.header,
        errors: [{ field: side.header, message: `no instance of ${service} in rotation has this version` }],
      });
    }
    const exclude = options.exclude;
    let candidates: Candidate[] = [];
    let skipped: Candidate[] | null = null;
    let otherSide: Candidate[] | null = null;
    const now = this.deps.now();
    for (const i of route.instances) {
      if (exclude !== undefined && exclude.includes(i.id)) continue;
      const onSide = side === null || (side.kind === "version" ? i.version === side.version : i.version !== side.version);
      const own = this.inflight.get(i.id) ?? 0;
      // The table counts this isolate's last report too: what others have is the rest.
      const others = Math.max(0, i.inflight - (this.reportedInflight.get(i.id) ?? 0));
      const candidate: Candidate = { id: i.id, weight: i.weight, health: i.health, score: i.score, inflight: others + own };
      if (!onSide) (otherSide ??= []).push(candidate);
      else if (this.quarantined.size > 0 && this.isQuarantined(i.id, now)) (skipped ??= []).push(candidate);
      else candidates.push(candidate);
    }
    if (candidates.length === 0 && skipped === null && side !== null) {
      // A pinned version (or a mirror's) with no instance in rotation cannot be served by another.
      if (side.kind === "version" && side.pinned) return noInstance(service, `No instance of version ${side.version} available`, 5);
      // A release's side with nothing left in rotation: the other side serves rather than nobody.
      candidates = otherSide ?? [];
    }
    // When every candidate is quarantined, try them anyway: a likely failure beats certain refusal.
    const pool = candidates.length > 0 ? candidates : (skipped ?? candidates);
    const state = this.balancers.get(service) ?? initialBalancerState;
    const panicThreshold = current.table.panicThresholdPercent;
    // A request carrying the service's affinity key goes where its key hashes; the others, and a
    // ring with no member to give, fall back to the strategy.
    // A table written by an older deploy (a location's shared copy) may lack the newer members: read as absent.
    const affinity = route.affinity ?? null;
    const key = affinity !== null && options.request !== undefined ? affinityKey(affinity, options.request) : null;
    // One ring per side of a release, so requests alternating sides do not rebuild one ring back and forth.
    const ringName = side === null ? service : `${service}\u0000${side.kind}\u0000${side.version}`;
    const picked = (key !== null ? pickByAffinity(ringName, key, pool, state, panicThreshold, this.affinityRings) : null) ?? pickInstance(route.strategy, pool, state, panicThreshold);
    if (!picked) return noInstance(service, "No available instance", 5);
    this.balancers.set(service, picked.state);
    const instance = current.active.get(picked.id) as RoutingInstance;
    const inflight = (this.inflight.get(instance.id) ?? 0) + 1;
    this.inflight.set(instance.id, inflight);
    // The registry should hear within a soft TTL of a request on an instance it believes idle (a
    // drain must wait for it) and of requests piling up (queue depth, which autoscaling and other
    // isolates' least-connections read).
    const reported = this.reportedInflight.get(instance.id) ?? 0;
    if (!this.urgent && (reported === 0 || inflight - reported >= Math.max(QUEUE_GROWTH_WORTH_REPORTING, inflight / 2))) this.urgent = true;
    if (options.retry) this.activeRetries.set(service, retries + 1);
    this.unreported = true;
    return { service, instanceId: instance.id, target: instance.target, timeoutMs: route.timeoutMs, panic: picked.panic, retry: options.retry ?? false, mirrorTo: this.mirrorFor(route, side, instance) };
  }

  /** The release side of one request (pinned, canary or stable), or null when the service has no release split (or the request is a mirror: its version is given). */
  private sideFor(route: ServiceRoute, options: PickOptions): SideChoice | null {
    if (options.version !== undefined) return { kind: "version", version: options.version, pinned: true };
    const release = route.release ?? null;
    if (release === null || options.request === undefined) return null;
    return chooseSide(release, options.request, versionsOf(route), Math.random);
  }

  /**
   * Whether to copy a request served by the stable side to the canary, and to which version. Not at
   * weight 0: a rolled-back or aborted release stays in the table while its canary's instances
   * remain, and they must get no traffic, copies included.
   */
  private mirrorFor(route: ServiceRoute, side: SideChoice | null, instance: RoutingInstance): string | null {
    const release = route.release ?? null;
    if (release === null || release.mirrorPercent <= 0 || release.weightPercent <= 0 || side === null || side.kind !== "not-version") return null;
    if (instance.version === release.version) return null;
    return Math.random() * 100 < release.mirrorPercent ? release.version : null;
  }

  /**
   * Ends a pick. Returns how long from now this isolate should report if no
   * sync carries the report sooner (the caller schedules a flush), or null
   * when nothing is owed.
   */
  release(lease: LocalLease, outcome: ReleaseOutcome): number | null {
    this.endRetry(lease);
    this.learn(lease.instanceId, outcome);
    return this.endInflight(lease.instanceId);
  }

  /**
   * A pick whose upgrade succeeded becomes an open WebSocket connection: the
   * handshake's outcome is learnt now (its duration is the handshake's, not the
   * connection's), and the connection stays counted in flight until `closeSocket`.
   * A retried upgrade gives its retry back now: the retry was the handshake.
   */
  openSocket(lease: LocalLease, handshake: ReleaseOutcome): number | null {
    this.endRetry(lease);
    this.learn(lease.instanceId, handshake);
    this.sockets.set(lease.instanceId, (this.sockets.get(lease.instanceId) ?? 0) + 1);
    this.openSockets++;
    this.unreported = true;
    return this.flushDelay(this.deps.now());
  }

  /** An open connection ended (either side closed it, it died, or a drain closed it). Call once per `openSocket`. */
  closeSocket(lease: LocalLease): number | null {
    const count = this.sockets.get(lease.instanceId) ?? 0;
    if (count === 0) return null;
    if (count === 1) this.sockets.delete(lease.instanceId);
    else this.sockets.set(lease.instanceId, count - 1);
    this.openSockets--;
    return this.endInflight(lease.instanceId);
  }

  /**
   * Whether an instance is still in rotation in the table this isolate routes
   * from: an open connection to one that left (stopped, restarted, deregistered)
   * is drained. True while the isolate has no table.
   */
  inRotation(instanceId: string): boolean {
    return this.current === null || this.current.active.has(instanceId);
  }

  /** Open WebSocket connections in this isolate, per instance id (tests, debugging). */
  localSockets(): Record<string, number> {
    return Object.fromEntries(this.sockets);
  }

  /**
   * Keeps an isolate that holds open connections informed without traffic:
   * called on each connection's tick. Takes the location's shared table when
   * this one is a soft TTL old (no registry call), and calls the registry when
   * a report is due, which for open connections is every report interval (their
   * lease). At most one sync at a time, as for requests.
   */
  maintain(keepAlive: KeepAlive): void {
    const now = this.deps.now();
    if (this.syncInFlight(now) || now < this.syncAgainAt) return;
    const reportDue = this.reportDue(now) && now - this.lastRegistryCallAt >= this.softTtl;
    const stale = this.current === null || now - this.current.madeAt >= this.softTtl;
    if (!reportDue && !stale) return;
    keepAlive(
      (async () => {
        try {
          if (!reportDue) {
            if (this.deps.shared && (await this.adoptShared())) return;
            // Without a fresh shared copy, a quiet isolate asks the registry only at report cadence.
            if (this.current !== null && now - this.current.madeAt < this.reportInterval) return;
          }
          await this.syncWithRegistry(false, false);
        } catch (error) {
          this.syncAgainAt = this.deps.now() + SYNC_BACKOFF_MS;
          console.error(JSON.stringify({ level: "error", message: "routing table refresh for open connections failed", error: String(error) }));
        }
      })(),
    );
  }

  private endRetry(lease: LocalLease): void {
    if (!lease.retry) return;
    const retries = this.activeRetries.get(lease.service) ?? 0;
    if (retries <= 1) this.activeRetries.delete(lease.service);
    else this.activeRetries.set(lease.service, retries - 1);
  }

  /** What one outcome teaches: kept for the registry's health scoring, and a refused connection quarantines here at once. */
  private learn(instanceId: string, outcome: ReleaseOutcome): void {
    if (outcome.failure === "connect") this.quarantine(instanceId);
    if (outcome.failure !== "aborted") {
      const list = this.outcomes.get(instanceId) ?? [];
      if (list.length < MAX_PENDING_OUTCOMES) list.push([outcome.status, outcome.durationMs, outcome.failure]);
      this.outcomes.set(instanceId, list);
    }
    const failed = outcome.failure === "connect" || outcome.failure === "timeout" || (outcome.status !== null && outcome.status >= 500);
    if (failed) this.urgent = true;
    this.unreported = true;
  }

  /** One less in flight on an instance (a request's end, or a connection's). */
  private endInflight(instanceId: string): number | null {
    const count = this.inflight.get(instanceId) ?? 0;
    if (count <= 1) this.inflight.delete(instanceId);
    else this.inflight.set(instanceId, count - 1);
    // The registry should learn soon of a request ending on an instance out of rotation (a drain
    // may be waiting for it), or of the end of what it believes is in flight here.
    const drained = this.inflight.size === 0 && this.reportedInflight.size > 0;
    if (!this.current?.active.has(instanceId) || drained) this.urgent = true;
    this.unreported = true;
    return this.flushDelay(this.deps.now());
  }

  /** How long from now an urgent report is due (for a flush after a pick), or null when none is urgent. */
  urgentReportDelay(): number | null {
    return this.urgent ? this.flushDelay(this.deps.now()) : null;
  }

  /** When the owed report is due: an urgent one a soft TTL after the last registry call, others a report interval after the last report. */
  private reportDueAt(): number | null {
    // Open connections renew their lease (this isolate's report) every report interval.
    if (!this.unreported) return this.openSockets > 0 ? this.lastReportAt + this.reportInterval : null;
    return this.urgent ? this.lastRegistryCallAt + this.softTtl : this.lastReportAt + this.reportInterval;
  }

  private flushDelay(now: number): number | null {
    const dueAt = this.reportDueAt();
    return dueAt === null ? null : Math.max(MIN_FLUSH_DELAY_MS, dueAt - now);
  }

  /**
   * Sends the owed report if it is due and no sync is carrying it already.
   * Returns how long from now the next flush is due, or null when nothing is owed.
   */
  async flush(): Promise<number | null> {
    const now = this.deps.now();
    const dueAt = this.reportDueAt();
    if (dueAt === null) return null;
    if (now < dueAt || this.syncInFlight(now)) return this.flushDelay(now);
    await this.syncWithRegistry(false, false);
    return this.flushDelay(this.deps.now());
  }

  /** Sends what is owed now, whatever its schedule (a drain in this isolate polls the registry's counts). */
  async reportNow(): Promise<void> {
    if (!this.unreported && this.openSockets === 0) return;
    await this.syncWithRegistry(false, false);
  }

  private quarantine(instanceId: string): void {
    const now = this.deps.now();
    // Told to the registry with the next report, which ejects it for every isolate.
    if (!this.isQuarantined(instanceId, now)) this.refused.add(instanceId);
    // Bounded: instances that left every table would otherwise stay here.
    if (this.quarantined.size >= MAX_QUARANTINED) for (const [id, until] of this.quarantined) if (until <= now) this.quarantined.delete(id);
    if (this.quarantined.size < MAX_QUARANTINED) this.quarantined.set(instanceId, now + LOCAL_EJECTION_MS);
  }

  private isQuarantined(instanceId: string, now: number): boolean {
    const until = this.quarantined.get(instanceId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.quarantined.delete(instanceId);
    return false;
  }

  /** An operator changed routing through this isolate: the next request waits for the registry's table, so the change applies here at once. */
  invalidate(): void {
    this.mustSync = true;
  }

  /** This isolate's in-flight counts, for tests and debugging. */
  localInflight(): Record<string, number> {
    return Object.fromEntries(this.inflight);
  }

  /** How old the table a pick would use right now is, or null when there is none. */
  tableAge(): number | null {
    return this.current === null ? null : this.deps.now() - this.current.madeAt;
  }

  /** The version of the table in use, or null. */
  tableVersion(): number | null {
    return this.current?.table.version ?? null;
  }

  private takeReport(): EdgeReport {
    const outcomes = Object.fromEntries(this.outcomes);
    this.outcomes = new Map();
    this.unreported = false;
    this.urgent = false;
    const base: EdgeReport = { isolateId: this.deps.isolateId, inflight: Object.fromEntries(this.inflight), outcomes };
    const report: EdgeReport = this.openSockets > 0 ? { ...base, sockets: Object.fromEntries(this.sockets) } : base;
    if (this.refused.size === 0) return report;
    const refused = [...this.refused];
    this.refused = new Set();
    return { ...report, refused };
  }

  private restoreReport(report: EdgeReport): void {
    for (const [id, list] of Object.entries(report.outcomes)) {
      this.outcomes.set(id, [...list, ...(this.outcomes.get(id) ?? [])].slice(0, MAX_PENDING_OUTCOMES));
    }
    for (const id of report.refused ?? []) this.refused.add(id);
    this.unreported = true;
    this.urgent = true;
  }
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (timeoutMs === undefined) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SyncTimeout(`the registry did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/**
 * Nothing in rotation because an operator stopped each instance: said so, with the count and
 * the action that undoes it (in the detail: the documented problem schema has no member for the count).
 */
function allInstancesStopped(service: string, stoppedInstances: number): Failure {
  const detail = `No instance of ${service} is in rotation: an operator stopped ${stoppedInstances === 1 ? "its instance" : `its ${stoppedInstances} instances one by one`}. POST /admin/workers/${service}/start starts them all again.`;
  return failure(503, ProblemType.serviceStopped, "All instances stopped", detail, { service, retryAfterSeconds: 30 });
}

/** The versions of a route's instances in rotation, for pinning; kept per route object (one per table). */
const versionsByRoute = new WeakMap<ServiceRoute, ReadonlySet<string>>();

function versionsOf(route: ServiceRoute): ReadonlySet<string> {
  let versions = versionsByRoute.get(route);
  if (versions === undefined) {
    versions = new Set(route.instances.flatMap((i) => (i.version === null ? [] : [i.version])));
    versionsByRoute.set(route, versions);
  }
  return versions;
}

function noInstance(service: string, title: string, retryAfterSeconds: number): Failure {
  return failure(503, ProblemType.noAvailableInstance, title, `${service} has no instance available for this request.`, { service, retryAfterSeconds });
}
