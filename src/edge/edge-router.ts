/**
 * The edge's side of the hot path: per isolate, per service.
 *
 * At low load every request takes the exact path: one `acquire` on
 * RegistryDO, one `release` after it (counts exact, as the registry sees every
 * request). Once a service gets more than `lowLoadRps` requests a second in
 * this isolate, the isolate switches to routing from a snapshot: it fetches
 * the service's routing table at most once per `snapshotTtlMs`, picks
 * instances itself with the same strategies, and counts its own requests in
 * flight. Each refresh reports those counts (absolute, so nothing drifts if a
 * report is lost) and the outcomes of finished requests, which feed health
 * scoring and outlier detection in the registry.
 *
 * Consistency at load (what the README promises and the tests check):
 * - a routing table is never older than `snapshotTtlMs` when a pick uses it,
 *   except while another request's refresh is in flight, when it may be up to
 *   REFRESH_STALL_MS older;
 * - least-connections sees this isolate's in-flight counts exactly and every
 *   other isolate's as of their last report (at most one TTL old);
 * - every request started is released exactly once, locally, and the next
 *   report (or the flush after load stops) brings the registry's counts back
 *   to exact.
 *
 * No Durable Object, clock or timer here: the caller injects them.
 */
import { type BalancerState, type Candidate, initialBalancerState, pickInstance } from "../core/balancer";
import { retryAllowed } from "../core/health";
import { type Failure, ProblemType } from "../problem";
import type { EdgeOutcome, EdgeReport, ReleaseOutcome, RoutingTable, RoutingTableResult, Target } from "../registry-contract";
import { RecentTimes } from "./recent-times";

export interface EdgeRouterDeps {
  readonly isolateId: string;
  readonly now: () => number;
  /** RegistryDO.routingTable: a fresh table for `service`, carrying this isolate's report. */
  readonly fetchTable: (service: string, report: EdgeReport) => Promise<RoutingTableResult>;
  /** RegistryDO.edgeReport: the report alone (the flush after load stops). */
  readonly sendReport: (report: EdgeReport) => Promise<void>;
  readonly snapshotTtlMs?: number;
  readonly lowLoadRps?: number;
}

/** A pick made at the edge; released with `release`, never through the registry. */
export interface LocalLease {
  readonly mode: "local";
  readonly service: string;
  readonly instanceId: string;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly panic: boolean;
  readonly retry: boolean;
}

export type EdgePick = { readonly mode: "exact" } | LocalLease | Failure;

export const DEFAULT_SNAPSHOT_TTL_MS = 250;
export const DEFAULT_LOW_LOAD_RPS = 20;
const MAX_PENDING_OUTCOMES = 1_000;
/** A refresh taking longer than this is presumed lost (its request was cancelled) and another starts. */
export const REFRESH_STALL_MS = 1_000;
const MAX_TRACKED_SERVICES = 1_000;
/** How long an isolate skips an instance it could not connect to (then real traffic tries it again). */
export const LOCAL_EJECTION_MS = 1_000;
const MAX_QUARANTINED = 1_000;
const EXACT: EdgePick = { mode: "exact" };

interface ServiceState {
  table: RoutingTable | null;
  /** When `table` was fetched (the edge's clock). */
  fetchedAt: number;
  /** When a refresh started, while one is in flight. */
  refreshStartedAt: number | null;
  balancer: BalancerState;
  /** This isolate's requests for the service in the last second, to tell low load from high (exact up to 4× the threshold). */
  recent: RecentTimes;
  activeRetries: number;
}

export class EdgeRouter {
  private readonly services = new Map<string, ServiceState>();
  /**
   * Instances this isolate just failed to connect to, and until when it skips
   * them. The registry ejects them too, but only once this isolate's report
   * reaches it and the next table comes back (up to two TTLs); meanwhile
   * every request sent there would fail and need a retry, and a burst of
   * those can use up the retry budget. Connection refused is certain enough
   * to act on at once, as Envoy's local-origin outlier detection does.
   */
  private readonly quarantined = new Map<string, number>();
  /** Instances quarantined since the last report (EdgeReport.refused). */
  private refused = new Set<string>();
  /** This isolate's requests in flight per instance id (all services). */
  private readonly inflight = new Map<string, number>();
  private outcomes = new Map<string, EdgeOutcome[]>();
  private readonly ttl: number;
  private readonly lowLoadRps: number;
  /** Whether the registry has not yet heard this isolate's latest counts. */
  private unreported = false;

  constructor(private readonly deps: EdgeRouterDeps) {
    this.ttl = deps.snapshotTtlMs ?? DEFAULT_SNAPSHOT_TTL_MS;
    this.lowLoadRps = deps.lowLoadRps ?? DEFAULT_LOW_LOAD_RPS;
  }

  /**
   * Picks for one request. `{mode: "exact"}` tells the caller to use the
   * registry's acquire/release, because this isolate is not busy enough for a
   * snapshot to be worth it.
   */
  pick(service: string, options: { exclude?: readonly string[]; retry?: boolean } = {}): EdgePick | Promise<EdgePick> {
    const state = this.stateOf(service);
    const now = this.deps.now();
    if (!options.retry && !this.isBusy(state, now)) return EXACT;
    // The common case at load answers synchronously: no promise, no microtask.
    const table = this.currentTable(state, now);
    if (table !== null) return this.pickFrom(service, state, table, options);
    return this.refreshAndPick(service, state, options);
  }

  private async refreshAndPick(service: string, state: ServiceState, options: { exclude?: readonly string[]; retry?: boolean }): Promise<EdgePick> {
    const table = await this.refreshTable(service, state);
    if (!table.ok) return table;
    return this.pickFrom(service, state, table, options);
  }

  private pickFrom(service: string, state: ServiceState, table: RoutingTable, options: { exclude?: readonly string[]; retry?: boolean }): EdgePick {
    if (options.retry) {
      const activeRequests = table.instances.reduce((sum, i) => sum + (this.inflight.get(i.id) ?? 0), 0);
      if (!retryAllowed({ activeRequests, activeRetries: state.activeRetries }, table.retryBudget)) {
        return noInstance(service, "Retry budget exhausted", 1);
      }
    }
    const exclude = options.exclude;
    const candidates: Candidate[] = [];
    let skipped: Candidate[] | null = null;
    const now = this.deps.now();
    for (const i of table.instances) {
      if (exclude !== undefined && exclude.includes(i.id)) continue;
      const candidate: Candidate = { id: i.id, weight: i.weight, health: i.health, score: i.score, inflight: i.othersInflight + (this.inflight.get(i.id) ?? 0) };
      if (this.quarantined.size > 0 && this.isQuarantined(i.id, now)) (skipped ??= []).push(candidate);
      else candidates.push(candidate);
    }
    // When every candidate is quarantined, try them anyway: a likely failure beats certain refusal.
    const picked = pickInstance(table.strategy, candidates.length > 0 ? candidates : (skipped ?? candidates), state.balancer, table.panicThresholdPercent);
    if (!picked) return noInstance(service, "No available instance", 5);
    state.balancer = picked.state;
    const instance = table.instances.find((i) => i.id === picked.id) as RoutingTable["instances"][number];
    this.inflight.set(instance.id, (this.inflight.get(instance.id) ?? 0) + 1);
    if (options.retry) state.activeRetries++;
    this.unreported = true;
    return { mode: "local", service, instanceId: instance.id, target: instance.target, timeoutMs: table.timeoutMs, panic: picked.panic, retry: options.retry ?? false };
  }

  /** Ends a local pick. Returns true when a report is now owed to the registry. */
  release(lease: LocalLease, outcome: ReleaseOutcome): boolean {
    const count = this.inflight.get(lease.instanceId) ?? 0;
    if (count <= 1) this.inflight.delete(lease.instanceId);
    else this.inflight.set(lease.instanceId, count - 1);
    if (lease.retry) {
      const state = this.stateOf(lease.service);
      state.activeRetries = Math.max(0, state.activeRetries - 1);
    }
    if (outcome.failure === "connect") this.quarantine(lease.instanceId);
    if (outcome.failure !== "aborted") {
      const list = this.outcomes.get(lease.instanceId) ?? [];
      if (list.length < MAX_PENDING_OUTCOMES) list.push([outcome.status, outcome.durationMs, outcome.failure]);
      this.outcomes.set(lease.instanceId, list);
    }
    this.unreported = true;
    return true;
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

  /** Sends what the registry has not heard yet (called a moment after releases, so a quiet isolate still converges). */
  async flush(): Promise<void> {
    if (!this.unreported) return;
    const report = this.takeReport();
    try {
      await this.deps.sendReport(report);
    } catch (error) {
      this.restoreOutcomes(report);
      throw error;
    }
  }

  /** Forget a service's table (e.g. after an operator changed it from this isolate). */
  invalidate(service: string): void {
    const state = this.services.get(service);
    if (state) state.table = null;
  }

  /** This isolate's in-flight counts, for tests and debugging. */
  localInflight(): Record<string, number> {
    return Object.fromEntries(this.inflight);
  }

  /** How old the table a pick would use right now is, or null when there is none. */
  tableAge(service: string): number | null {
    const state = this.services.get(service);
    return state?.table ? this.deps.now() - state.fetchedAt : null;
  }

  private stateOf(service: string): ServiceState {
    let state = this.services.get(service);
    if (!state) {
      // Bounded: any client can name any service in a path. The oldest tracked service goes first.
      if (this.services.size >= MAX_TRACKED_SERVICES) {
        const oldest = this.services.keys().next().value;
        if (oldest !== undefined) this.services.delete(oldest);
      }
      state = { table: null, fetchedAt: 0, refreshStartedAt: null, balancer: initialBalancerState, recent: new RecentTimes(this.lowLoadRps * 4), activeRetries: 0 };
      this.services.set(service, state);
    }
    return state;
  }

  private isBusy(state: ServiceState, now: number): boolean {
    // Bounded: only the count matters, and beyond the threshold the answer is the same.
    state.recent.note(now);
    return state.recent.count > this.lowLoadRps;
  }

  /**
   * The table a pick may use right now without a refresh, or null when one is
   * needed. One request refreshes; while it does, the others keep using the
   * table they have (stale by at most REFRESH_STALL_MS more). Requests never
   * await each other's refresh: in Workers an I/O started by one request is
   * cancelled when that request ends, so a promise shared across requests can
   * leave the others waiting forever.
   */
  private currentTable(state: ServiceState, now: number): RoutingTable | null {
    if (state.table === null) return null;
    if (now - state.fetchedAt < this.ttl) return state.table;
    const refreshInFlight = state.refreshStartedAt !== null && now - state.refreshStartedAt < REFRESH_STALL_MS;
    if (refreshInFlight && now - state.fetchedAt < this.ttl + REFRESH_STALL_MS) return state.table;
    return null;
  }

  private async refreshTable(service: string, state: ServiceState): Promise<RoutingTable | Failure> {
    state.refreshStartedAt = this.deps.now();
    const report = this.takeReport();
    try {
      const result = await this.deps.fetchTable(service, report);
      if (result.ok) {
        state.table = result;
        state.fetchedAt = this.deps.now();
      } else {
        state.table = null;
      }
      return result;
    } catch (error) {
      // The report did not arrive: put its outcomes back so they are sent with the next one.
      this.restoreOutcomes(report);
      throw error;
    } finally {
      state.refreshStartedAt = null;
    }
  }

  private takeReport(): EdgeReport {
    const outcomes = Object.fromEntries(this.outcomes);
    this.outcomes = new Map();
    this.unreported = false;
    const report: EdgeReport = { isolateId: this.deps.isolateId, inflight: Object.fromEntries(this.inflight), outcomes };
    if (this.refused.size === 0) return report;
    const refused = [...this.refused];
    this.refused = new Set();
    return { ...report, refused };
  }

  private restoreOutcomes(report: EdgeReport): void {
    for (const [id, list] of Object.entries(report.outcomes)) {
      this.outcomes.set(id, [...list, ...(this.outcomes.get(id) ?? [])].slice(0, MAX_PENDING_OUTCOMES));
    }
    for (const id of report.refused ?? []) this.refused.add(id);
    this.unreported = true;
  }
}

function noInstance(service: string, title: string, retryAfterSeconds: number): Failure {
  return {
    ok: false,
    problem: {
      type: ProblemType.noAvailableInstance,
      title,
      status: 503,
      detail: `${service} has no instance available for this request.`,
      service,
      retryAfterSeconds,
    },
  };
}
