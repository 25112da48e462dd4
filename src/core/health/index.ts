/**
 * Health monitoring, modelled on Envoy. All pure; the registry (RegistryDO) owns
 * the state and the clock, the balancer only reads the results.
 *
 * - probe-plan: on each alarm, planSweep picks the instances due for an active
 *   check (interval ± jitter) and when to wake next; mapWithConcurrency runs the
 *   probes within the Workers outbound-connection limit.
 * - active-check: the registry folds each probe into the instance's state with
 *   applyProbe (rise/fall hysteresis, degraded by latency and failure rate) and
 *   forwards the events (alerts at alertThreshold, status changes, recoveries).
 * - outlier: real traffic outcomes go through recordOutcome, which ejects an
 *   instance after consecutive gateway failures, within the mayEject cap; an
 *   active check pass after the ejection ends calls readmit, and each clean sweep
 *   calls decayEjectionCount.
 * - slow-start: when an instance enters rotation (registered, recovered,
 *   readmitted) the registry records the time; effectiveWeight ramps its weight
 *   and scaledWeights makes it an integer for the weighted strategy.
 * - panic: when too few instances are available, the balancer ignores health.
 * - retry-budget: the proxy path asks isRetryable and retryAllowed before retrying.
 *
 * - check-interval: how soon an instance is checked again, by its state (Envoy's
 *   interval, unhealthy_interval and edge intervals).
 * - shards, quorum, sweep-rounds: a sweep split over prober objects (one per
 *   vantage point and shard), their batches collected per round and decided by
 *   majority of the vantage points that answered.
 *
 * The balancer therefore sees, per instance: status (active check), whether it is
 * ejected (outlier), and its effective weight (slow start); per service: panic.
 */
export {
  type ActiveCheckConfig,
  type ActiveCheckState,
  type HealthEvent,
  type Probe,
  type ProbeKind,
  type ProbeOutcome,
  DEFAULT_ACTIVE_CHECK_CONFIG,
  DEGRADED_EXIT_FACTOR,
  LATENCY_WINDOW,
  MIN_ERROR_RATE_SAMPLES,
  MIN_LATENCY_SAMPLES,
  RESULT_WINDOW,
  applyProbe,
  initialActiveState,
  medianProbeLatencyMs,
  probeFailureRate,
  validateActiveCheckConfig,
} from "./active-check";
export {
  type OutlierConfig,
  type OutlierOutcome,
  type OutlierState,
  type RecordResult,
  DEFAULT_OUTLIER_CONFIG,
  decayEjectionCount,
  initialOutlierState,
  isEjected,
  mayEject,
  readmit,
  recordOutcome,
  ejectOnRefusal,
  validateOutlierConfig,
} from "./outlier";
export {
  DEFAULT_MIN_WEIGHT_FRACTION,
  DEFAULT_SLOW_START_WINDOW_MS,
  DEFAULT_WEIGHT_SCALE,
  MIN_WEIGHT_FRACTION_FLOOR,
  effectiveWeight,
  scaleWeight,
  scaledWeights,
} from "./slow-start";
export {
  type FailureKind,
  type RetryBudget,
  type RetryLoad,
  DEFAULT_RETRY_BUDGET,
  isRetryable,
  retryAllowed,
} from "./retry-budget";
export { DEFAULT_PANIC_THRESHOLD_PERCENT, panicMode } from "./panic";
export {
  type DueTargets,
  type SweepInstance,
  type SweepPlan,
  type SweepTarget,
  DEFAULT_JITTER_FRACTION,
  MAX_JITTER_FRACTION,
  MAX_OUTBOUND_CONNECTIONS,
  ROUND_GRACE_MS,
  mapWithConcurrency,
  planDueTargets,
  planSweep,
  roundDeadline,
} from "./probe-plan";
export { type CheckIntervals, type CheckPhase, checkIntervalMs, checkPhase } from "./check-interval";
export { type ShardLoad, MAX_PROBE_SHARDS, PROBE_SHARD_SAFETY, shardCount, shardOf } from "./shards";
export {
  type InstanceVerdict,
  type QuorumDecision,
  type VantageBatch,
  type VantageResult,
  type VerdictKind,
  PARTITION_EVIDENCE,
  decideQuorum,
  passed,
} from "./quorum";
export {
  type BatchOutcome,
  type BatchResult,
  type OpenRound,
  type RoundKey,
  type RoundDecision,
  type RoundPlan,
  type RoundVerdict,
  type VantageBatchIn,
  CLOSED_MEMORY_MS,
  SweepRounds,
  decideRound,
} from "./sweep-rounds";
