/**
 * When the registry's alarm must next run: the earliest of every pending
 * deadline (a heartbeat due, a critical instance's removal, a lease expiry, an
 * isolate report going stale, a release's evaluation). RegistryDO keeps one
 * alarm at that moment.
 */
import type { RegistryConfig } from "./config";
import { isolateReportsExpireAt } from "./inflight";
import { releasesDueAt } from "./releases";
import type { RegistryState } from "./state";
import { ttlPlan } from "./ttl-expiry";

/** Null when nothing is pending; never earlier than now. `earliestLeaseExpiry` comes from storage. */
export function nextAlarmAt(
  state: RegistryState,
  earliestLeaseExpiry: number | null,
  now: number,
  config: Pick<RegistryConfig, "deregisterCriticalAfterSeconds" | "edge">,
): number | null {
  const plan = ttlPlan(state, now, config);
  let next = plan.markCritical.length > 0 || plan.remove.length > 0 ? now : plan.nextDeadlineMs;
  for (const deadline of [earliestLeaseExpiry, isolateReportsExpireAt(state, config), releasesDueAt(state)]) {
    if (deadline !== null && (next === null || deadline < next)) next = deadline;
  }
  return next === null ? null : Math.max(next, now);
}
