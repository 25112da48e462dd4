/**
 * A model of the registry and the location cache for EdgeRouter unit tests,
 * with a fake clock: the registry sums every isolate's last reported counts
 * (sockets too), keeps every outcome, and serves a table from its routing state.
 */
import { type EdgePick, EdgeRouter, type KeepAlive, type LocalLease, type SharedTableStore } from "../../../src/edge/edge-router";
import type { Strategy } from "../../../src/core/balancer/types";
import type { AffinitySetting, EdgeReport, FleetTable, RouteRelease, ServiceRoute } from "../../../src/contracts/registry";

export const SOFT = 1_000;
export const HARD = 30_000;
export const REPORT = 5_000;

/** Registry model: the sum of every isolate's last reported in-flight counts, every outcome received, its routing state. */
export class ModelRegistry {
  reports = new Map<string, Record<string, number>>();
  socketReports = new Map<string, Record<string, number>>();
  outcomes: Record<string, number> = {};
  refused: string[] = [];
  syncs = 0;
  version = 0;
  /** How the next syncs behave, one entry per call. */
  plan: ("fail" | "hang")[] = [];
  stopped = new Set<string>();
  stoppedInstances = new Set<string>();
  noWebsockets = new Set<string>();
  affinity = new Map<string, AffinitySetting>();
  releases = new Map<string, RouteRelease>();
  versions = new Map<string, string>();
  unhealthy = new Set<string>();
  services: Record<string, string[]>;
  hung: (() => void)[] = [];

  constructor(
    instances: string[],
    readonly strategy: Strategy = "round-robin",
  ) {
    this.services = { svc: instances };
  }

  sockets(id: string): number {
    let sum = 0;
    for (const r of this.socketReports.values()) sum += r[id] ?? 0;
    return sum;
  }

  total(id: string): number {
    let sum = 0;
    for (const r of this.reports.values()) sum += r[id] ?? 0;
    return sum;
  }

  table(now: number): FleetTable {
    this.version++;
    const services: ServiceRoute[] = Object.entries(this.services).map(([service, ids]) => ({
      service,
      stopped: this.stopped.has(service),
      strategy: this.strategy,
      timeoutMs: 1000,
      websockets: !this.noWebsockets.has(service),
      affinity: this.affinity.get(service) ?? null,
      release: this.releases.get(service) ?? null,
      instances: this.stopped.has(service)
        ? []
        : ids.filter((id) => !this.stoppedInstances.has(id)).map((id) => ({ id, target: { kind: "url", url: `https://${id}.example.com/` }, weight: 100, health: this.unhealthy.has(id) ? "unhealthy" : "healthy", score: 100, inflight: this.total(id), version: this.versions.get(id) ?? null })),
    }));
    return { version: this.version, generatedAt: now, panicThresholdPercent: 0, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 }, services };
  }

  async sync(report: EdgeReport, clock: { now: number }): Promise<FleetTable> {
    this.syncs++;
    const step = this.plan.shift();
    if (step === "fail") throw new Error("registry unreachable");
    if (step === "hang") await new Promise<void>((resolve) => this.hung.push(resolve));
    this.reports.set(report.isolateId, { ...report.inflight });
    this.socketReports.set(report.isolateId, { ...(report.sockets ?? {}) });
    this.refused.push(...(report.refused ?? []));
    for (const [id, list] of Object.entries(report.outcomes)) this.outcomes[id] = (this.outcomes[id] ?? 0) + list.length;
    return this.table(clock.now);
  }
}

/** The location cache: one entry, with the max-age the store gives it. */
export class ModelCache implements SharedTableStore {
  entry: FleetTable | null = null;
  reads = 0;
  async read() {
    this.reads++;
    return this.entry;
  }
  async write(table: FleetTable) {
    this.entry = table;
  }
}

/** Background work the router hands to ctx.waitUntil, run to completion on demand. */
export class Background {
  tasks: Promise<unknown>[] = [];
  readonly keepAlive: KeepAlive = (work) => {
    this.tasks.push(work);
  };
  async settle() {
    while (this.tasks.length > 0) await Promise.all(this.tasks.splice(0));
  }
}

export function routerFor(registry: ModelRegistry, clock: { now: number }, options: { isolateId?: string; shared?: SharedTableStore } = {}) {
  return new EdgeRouter({
    isolateId: options.isolateId ?? "iso-1",
    now: () => clock.now,
    sync: (report) => registry.sync(report, clock),
    ...(options.shared ? { shared: options.shared } : {}),
    softTtlMs: SOFT,
    hardTtlMs: HARD,
    reportIntervalMs: REPORT,
  });
}

export const ok = { status: 200, durationMs: 5, failure: null } as const;

export function lease(pick: EdgePick): LocalLease {
  if ("ok" in pick) throw new Error(`expected a pick, got ${pick.problem.title}`);
  return pick;
}

