/**
 * The registry's decisions (src/core/registry) without the object: a config,
 * a target policy, and a stand-in for the store's lease table, which keeps
 * leases the way RegistryDO's SQLite does (ids from a counter, deleted with
 * their instance, a second delete finds nothing).
 */
import { DEFAULT_OUTLIER_CONFIG, DEFAULT_RETRY_BUDGET } from "../../../src/core/health";
import type { RegistryConfig } from "../../../src/core/registry/config";
import type { LeaseEntry } from "../../../src/core/registry/inflight";
import type { TargetPolicy } from "../../../src/core/registry/target-policy";
import type { RegistryWrite } from "../../../src/core/registry/writes";

/** The settings' defaults (src/config.ts). */
export const REGISTRY_CONFIG: RegistryConfig = {
  defaultStrategy: "round-robin",
  upstreamTimeoutMs: 30_000,
  instanceTtlSeconds: 30,
  deregisterCriticalAfterSeconds: 60,
  leaseTtlSeconds: 60,
  degradedResponseTimeMs: 2_000,
  health: {
    intervalMs: 30_000,
    unhealthyIntervalMs: 5_000,
    unhealthyEdgeIntervalMs: 5_000,
    healthyEdgeIntervalMs: 5_000,
    timeoutMs: 5_000,
    retries: 3,
    rise: 2,
    alertThreshold: 2,
    path: "/health",
    outlier: DEFAULT_OUTLIER_CONFIG,
    slowStartWindowMs: 30_000,
    retryBudget: DEFAULT_RETRY_BUDGET,
    panicThresholdPercent: 50,
  },
  edge: { reportIntervalMs: 5_000 },
};

/** Every URL and no binding, as in development. */
export const ANY_URL: TargetPolicy = { isServiceBinding: () => false, url: { allowPrivateNetworks: true, allowedHosts: [] } };

export class LeaseBook {
  private nextId = 1;
  private readonly leases = new Map<number, LeaseEntry & { readonly expiresAt: number }>();

  insert(instanceId: string, expiresAt: number, isRetry: boolean): number {
    const id = this.nextId++;
    this.leases.set(id, { instanceId, isRetry, expiresAt });
    return id;
  }

  delete(id: number): LeaseEntry | null {
    const lease = this.leases.get(id);
    if (!lease) return null;
    this.leases.delete(id);
    return lease;
  }

  deleteExpired(now: number): LeaseEntry[] {
    const expired: LeaseEntry[] = [];
    for (const [id, lease] of this.leases) {
      if (lease.expiresAt > now) continue;
      this.leases.delete(id);
      expired.push(lease);
    }
    return expired;
  }

  /** What the store does with the writes that concern leases: a removed instance takes its leases along. */
  apply(writes: readonly RegistryWrite[]): void {
    for (const write of writes) {
      if (write.kind !== "instance-removed") continue;
      for (const [id, lease] of this.leases) if (lease.instanceId === write.id) this.leases.delete(id);
    }
  }
}
