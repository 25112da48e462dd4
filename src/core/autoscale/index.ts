/**
 * Autoscaling policy engine, modelled on the Kubernetes HorizontalPodAutoscaler
 * (autoscaling/v2) algorithm and behavior defaults. All pure; the owner of a
 * service's state calls evaluate every evaluationPeriodMs with the ready
 * instance count and the latest metrics, persists the returned state, appends
 * the decision to the log, and (in enforce mode) acts on decision.desired.
 *
 * - policy:    the per-service policy, validatePolicy and withDefaults.
 * - recommend: each metric's ceil(current × observed / target) with tolerance;
 *              the largest wins; missing metrics never cause a scale-down.
 * - behavior:  HPA's stabilization windows and per-15 s rate limits.
 * - history:   the bounded state (recommendations, scale events).
 * - engine:    evaluate, the whole pipeline, and the Decision it explains.
 * - log:       a bounded decision log that does not flood in steady state.
 */
export {
  type AutoscaleMode,
  type AutoscalePolicy,
  type AutoscaleTargets,
  type MetricName,
  type PolicyProblem,
  type ResolvedAutoscalePolicy,
  type ScaleDownRules,
  type ScaleUpRules,
  DEFAULT_EVALUATION_PERIOD_MS,
  DEFAULT_SCALE_DOWN,
  DEFAULT_SCALE_UP,
  DEFAULT_TOLERANCE,
  MAX_EVALUATION_PERIOD_MS,
  MAX_INSTANCES_LIMIT,
  MAX_STABILIZATION_MS,
  METRIC_NAMES,
  MIN_EVALUATION_PERIOD_MS,
  validatePolicy,
  withDefaults,
} from "./policy";
export {
  type MetricRecommendation,
  type Observation,
  type Recommendation,
  type SkipReason,
  proportionalDesired,
  recommend,
  recommendForMetric,
  withinTolerance,
} from "./recommend";
export {
  type AutoscaleState,
  type ScaleEvent,
  type TimedRecommendation,
  INITIAL_AUTOSCALE_STATE,
  MAX_SCALE_EVENTS,
  RATE_PERIOD_MS,
  changeInPeriod,
  pruneState,
} from "./history";
export {
  type RateUpLimit,
  type ScaleUpLimit,
  type StabilizationLimit,
  type Stabilized,
  scaleDownLimit,
  scaleUpLimit,
  stabilize,
} from "./behavior";
export { type Decision, type Evaluation, type LimitReason, type ScaleAction, evaluate, evaluationDue } from "./engine";
export {
  type DecisionLog,
  type DecisionLogEntry,
  type LogReason,
  DEFAULT_DECISION_LOG_LIMIT,
  DEFAULT_LOG_HEARTBEAT_EVERY,
  EMPTY_DECISION_LOG,
  appendDecision,
} from "./log";
