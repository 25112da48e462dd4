/**
 * The settings the registry's decisions read: a slice of the orchestrator's
 * Config (src/config.ts), which satisfies it as it is. Declared here because
 * core may not import src/config.ts.
 */
import type { Strategy } from "../balancer/types";
import type { OutlierConfig, RetryBudget } from "../health";

export interface RegistryConfig {
  readonly defaultStrategy: Strategy;
  readonly upstreamTimeoutMs: number;
  readonly instanceTtlSeconds: number;
  readonly deregisterCriticalAfterSeconds: number;
  readonly leaseTtlSeconds: number;
  readonly degradedResponseTimeMs: number;
  readonly health: {
    readonly intervalMs: number;
    /** Check intervals by state (core/health/check-interval.ts); each capped at the service's interval. */
    readonly unhealthyIntervalMs: number;
    readonly unhealthyEdgeIntervalMs: number;
    readonly healthyEdgeIntervalMs: number;
    readonly timeoutMs: number;
    readonly retries: number;
    readonly rise: number;
    readonly alertThreshold: number;
    readonly path: string;
    readonly outlier: OutlierConfig;
    readonly slowStartWindowMs: number;
    readonly retryBudget: RetryBudget;
    readonly panicThresholdPercent: number;
  };
  readonly edge: { readonly reportIntervalMs: number };
}
