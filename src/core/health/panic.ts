/**
 * Envoy's panic threshold: when too few of a service's instances are available,
 * health status is probably wrong (a bad probe path, a network split between the
 * orchestrator and the instances) or the survivors would be overloaded anyway,
 * so the balancer should ignore health and spread traffic over all instances
 * rather than crush the few left.
 */

export const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;

/**
 * True when totalCount > 0 and available / total < thresholdPercent %.
 * Compared as available × 100 < total × threshold so 1 of 3 at 33.3…% does not
 * depend on float rounding. A threshold of 0 (or below) disables panic mode.
 */
export function panicMode(
  availableCount: number,
  totalCount: number,
  thresholdPercent: number = DEFAULT_PANIC_THRESHOLD_PERCENT,
): boolean {
  if (!(totalCount > 0)) return false;
  const available = Math.min(totalCount, Math.max(0, Number.isNaN(availableCount) ? 0 : availableCount));
  return available * 100 < totalCount * thresholdPercent;
}
