/**
 * A lease is one proxied request routed through the registry: acquiring picks
 * an instance with the service's strategy and counts the request in flight;
 * releasing ends the count and learns from the outcome. The lease rows (ids,
 * expiry) live in storage; this decides, inflight.ts counts.
 */
import { pickInstance } from "../balancer";
import type { Candidate } from "../balancer/types";
import { retryAllowed } from "../health";
import type { RegistryConfig } from "./config";
import { type LeaseEntry, leaseEnded, leaseStarted, totalInflight } from "./inflight";
import type { AcquireOptions, ReleaseOutcome } from "./inputs";
import { learnFromOutcome } from "./outcomes";
import type { InstanceRecord, ServiceRecord } from "./records";
import type { Refusal } from "./refusals";
import { routingCandidate, strategyOf, timeoutOf } from "./routing";
import { instancesOf, type RegistryState } from "./state";
import { NO_WRITES, type RegistryWrite } from "./writes";

export interface LeaseGranted {
  readonly ok: true;
  readonly service: ServiceRecord;
  readonly instance: InstanceRecord;
  readonly isRetry: boolean;
  /** When the lease expires if it is never released (a Worker died mid-request). */
  readonly expiresAt: number;
  readonly timeoutMs: number;
  /** Every instance was unhealthy (or too few were healthy) and one was picked anyway. */
  readonly panic: boolean;
  readonly writes: readonly RegistryWrite[];
}

/**
 * Picks an instance for one request and counts it in flight. A retry passes
 * the instances already tried (never picked again) and counts against the
 * service's retry budget.
 */
export function acquireLease(state: RegistryState, serviceName: string, options: AcquireOptions, now: number, config: RegistryConfig): LeaseGranted | Refusal {
  const service = state.services.get(serviceName);
  if (!service) return { ok: false, reason: "unknown-service", service: serviceName, field: null };
  if (service.adminState === "stopped") return { ok: false, reason: "service-stopped", service: serviceName };
  const active = instancesOf(state, serviceName).filter((i) => i.adminState === "active");
  const isRetry = options.retry === true;
  if (isRetry) {
    const activeRequests = active.reduce((sum, i) => sum + totalInflight(i), 0);
    if (!retryAllowed({ activeRequests, activeRetries: service.activeRetries }, config.health.retryBudget)) {
      return { ok: false, reason: "retry-budget-exhausted", service: serviceName };
    }
  }
  const exclude = new Set(options.exclude ?? []);
  const candidates: Candidate[] = active.filter((i) => !exclude.has(i.id)).map((i) => routingCandidate(i, now, config));
  const picked = pickInstance(strategyOf(service, config), candidates, service.balancer, config.health.panicThresholdPercent);
  if (!picked) return { ok: false, reason: "no-instance-in-rotation", service: serviceName };
  service.balancer = picked.state;
  const instance = state.instances.get(picked.id) as InstanceRecord;
  leaseStarted(state, instance, isRetry);
  return {
    ok: true,
    service,
    instance,
    isRetry,
    expiresAt: now + config.leaseTtlSeconds * 1000,
    timeoutMs: timeoutOf(service, config),
    panic: picked.panic,
    writes: [{ kind: "balancer", service }],
  };
}

/** A lease storage has just given up (released once: a second release never gets here). */
export function releaseLease(state: RegistryState, lease: LeaseEntry, outcome: ReleaseOutcome, now: number, config: RegistryConfig): readonly RegistryWrite[] {
  const instance = leaseEnded(state, lease);
  if (!instance) return NO_WRITES;
  return learnFromOutcome(state, instance, outcome, now, config) ? [{ kind: "outlier", instance }] : NO_WRITES;
}

/** Leases past their expiry, which storage has just deleted: their requests are no longer counted. */
export function expireLeases(state: RegistryState, expired: Iterable<LeaseEntry>): void {
  for (const lease of expired) leaseEnded(state, lease);
}
