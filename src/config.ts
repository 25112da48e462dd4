/**
 * The orchestrator's settings, parsed from the Worker environment with valibot
 * once per isolate. Every variable is a string in the environment; here each is
 * checked, converted and given its documented default, so the rest of the code
 * reads typed values and never `env.X` directly. A bad value fails loudly with
 * the variable's name instead of silently running with a surprise.
 */
import * as v from "valibot";
import { STRATEGIES, type Strategy } from "./core/balancer/types";
import { SEED_SERVICES } from "./core/services";
import { noDotSegments } from "./core/paths";
import type { UrlGuardOptions } from "./core/url-guard";
import { type KeyEntry, type Parsed, parseAdminKeys, parseRegistrationTokens } from "./core/credentials";

export const ENVIRONMENTS = ["development", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

function integerSetting(defaultValue: number, min: number, max: number) {
  return v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+$/, "must be a whole number"),
      v.transform(Number),
      v.minValue(min, `must be at least ${min}`),
      v.maxValue(max, `must be at most ${max}`),
    ),
    String(defaultValue),
  );
}

function numberSetting(defaultValue: number, min: number, max: number) {
  return v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+(\.\d+)?$/, "must be a number"),
      v.transform(Number),
      v.minValue(min, `must be at least ${min}`),
      v.maxValue(max, `must be at most ${max}`),
    ),
    String(defaultValue),
  );
}

const booleanSetting = v.optional(
  v.pipe(v.string(), v.trim(), v.toLowerCase(), v.picklist(["true", "false", "1", "0", ""]), v.transform((s) => s === "true" || s === "1")),
  "false",
);

const secretSetting = v.optional(v.pipe(v.string(), v.trim()));

/** ADMIN_KEYS / REGISTRATION_TOKENS: JSON objects from key digest to what the key may do (core/credentials.ts). */
function keyringSetting(parse: (text: string) => Parsed<KeyEntry[]>) {
  return v.optional(
    v.pipe(
      v.string(),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const parsed = parse(dataset.value);
        if (parsed.ok) return parsed.value;
        addIssue({ message: parsed.message });
        return NEVER;
      }),
    ),
    "",
  );
}

/** A static instance declared in configuration (STATIC_INSTANCES, a JSON array). */
export const StaticInstanceSchema = v.strictObject({
  service: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,62}$/, "must be a lower-case service name")),
  url: v.optional(v.pipe(v.string(), v.url("must be an absolute URL"))),
  binding: v.optional(v.pipe(v.string(), v.regex(/^[A-Z][A-Z0-9_]{0,62}$/, "must be a binding name"))),
  weight: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000))),
});
export type StaticInstance = v.InferOutput<typeof StaticInstanceSchema>;

const staticInstancesSetting = v.optional(
  v.pipe(
    v.string(),
    v.parseJson(undefined, "must be a JSON array"),
    v.array(StaticInstanceSchema, "must be a JSON array of {service, url | binding, weight?}"),
    v.maxLength(500, "at most 500 static instances"),
  ),
  "[]",
);

const originListSetting = v.optional(
  v.pipe(
    v.string(),
    v.transform((s) => s.split(",").map((o) => o.trim()).filter((o) => o !== "")),
    v.array(
      v.union([
        v.literal("*"),
        v.pipe(v.string(), v.regex(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i, "each origin must be scheme://host[:port] or *")),
      ]),
    ),
  ),
  "",
);

const hostListSetting = v.optional(
  v.pipe(
    v.string(),
    v.transform((s) => s.split(",").map((h) => h.trim().toLowerCase()).filter((h) => h !== "")),
    v.array(v.pipe(v.string(), v.regex(/^[a-z0-9.:[\]-]+$/, "each host must be a host name or IP literal"))),
  ),
  "",
);

/**
 * Per-service overrides of the general rate limit, e.g. {"banking": 50} (requests per period).
 * Checked by hand rather than with v.record, which silently drops keys such as "constructor"
 * (a valid service name); kept in a null-prototype object, so a lookup never finds
 * Object.prototype's members (security review finding 2).
 */
const serviceLimitsSetting = v.optional(
  v.pipe(
    v.string(),
    v.parseJson(undefined, "must be a JSON object"),
    v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be a JSON object"),
    v.check((limits) => Object.keys(limits).every((key) => /^[a-z][a-z0-9-]{0,62}$/.test(key)), "keys must be service names"),
    v.check((limits) => Object.values(limits).every((n) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 1_000_000), "values must be whole numbers from 1 to 1000000"),
    v.transform((limits) => Object.assign(Object.create(null) as Record<string, number>, limits)),
  ),
  "{}",
);

/** all: one line per request; errors: only responses with status 400 or more; off: none. */
export const ACCESS_LOG_MODES = ["all", "errors", "off"] as const;
export type AccessLogMode = (typeof ACCESS_LOG_MODES)[number];

export const EnvSchema = v.object({
  ENVIRONMENT: v.optional(v.picklist(ENVIRONMENTS, `must be one of ${ENVIRONMENTS.join(", ")}`), "production"),
  ORCHESTRATOR_API_KEY: secretSetting,
  REGISTRATION_TOKEN: secretSetting,
  ORCHESTRATOR_API_KEY_PREVIOUS: secretSetting,
  REGISTRATION_TOKEN_PREVIOUS: secretSetting,
  ADMIN_KEYS: keyringSetting(parseAdminKeys),
  REGISTRATION_TOKENS: keyringSetting(parseRegistrationTokens),
  AUTH_FAILURE_LIMIT: integerSetting(10, 1, 10_000_000),
  LIFECYCLE_HOOK_SECRET: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || s.length >= 32, "must be at least 32 characters (e.g. `openssl rand -hex 32`)"))),
  LB_STRATEGY: v.optional(v.picklist(STRATEGIES, `must be one of ${STRATEGIES.join(", ")}`), "round-robin"),
  UPSTREAM_TIMEOUT_MS: integerSetting(30_000, 100, 600_000),
  INSTANCE_TTL_SECONDS: integerSetting(30, 5, 86_400),
  DEREGISTER_CRITICAL_AFTER_SECONDS: integerSetting(120, 1, 7 * 86_400),
  LEASE_TTL_SECONDS: integerSetting(300, 10, 86_400),
  DEGRADED_RESPONSE_TIME_MS: integerSetting(2_000, 1, 600_000),
  MAX_REGISTRY_BODY_BYTES: integerSetting(16_384, 256, 1_048_576),
  ERROR_RATE_THRESHOLD: numberSetting(5, 0, 100),
  RESPONSE_TIME_THRESHOLD: integerSetting(5_000, 1, 600_000),
  STATIC_INSTANCES: staticInstancesSetting,
  DEV_MODE: booleanSetting,
  // Empty means unset (as for the boolean settings): the default, every request.
  ACCESS_LOG: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist([...ACCESS_LOG_MODES, ""], `must be one of ${ACCESS_LOG_MODES.join(", ")}`),
      v.transform((mode): AccessLogMode => (mode === "" ? "all" : mode)),
    ),
    "all",
  ),
  CORS_ORIGINS: originListSetting,
  UPSTREAM_ALLOWED_HOSTS: hostListSetting,
  RATE_LIMIT_PERIOD_SECONDS: integerSetting(60, 1, 86_400),
  RATE_LIMIT_HEALTH: integerSetting(60, 1, 10_000_000),
  RATE_LIMIT_METRICS: integerSetting(30, 1, 10_000_000),
  RATE_LIMIT_ADMIN: integerSetting(10, 1, 10_000_000),
  RATE_LIMIT_GENERAL: integerSetting(100, 1, 10_000_000),
  RATE_LIMIT_REGISTRY: integerSetting(600, 1, 10_000_000),
  RATE_LIMIT_SERVICES: serviceLimitsSetting,
  RATE_LIMIT_EDGE_CREDIT: integerSetting(2, 0, 100),
  MAX_REQUEST_BODY_BYTES: integerSetting(100 * 1024 * 1024, 1024, 500 * 1024 * 1024),
  MAX_HEADER_COUNT: integerSetting(100, 10, 1_000),
  MAX_HEADER_BYTES: integerSetting(32 * 1024, 1024, 256 * 1024),
  HEALTH_CHECK_INTERVAL_MS: integerSetting(30_000, 100, 3_600_000),
  HEALTH_CHECK_TIMEOUT_MS: integerSetting(5_000, 50, 60_000),
  HEALTH_CHECK_RETRIES: integerSetting(3, 1, 100),
  HEALTH_CHECK_RISE: integerSetting(2, 1, 100),
  HEALTH_CHECK_PATH: v.optional(v.pipe(v.string(), v.regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be a path starting with /"), v.check(noDotSegments, "must not contain . or .. segments")), "/health"),
  ALERT_THRESHOLD: integerSetting(2, 1, 100),
  OUTLIER_CONSECUTIVE_FAILURES: integerSetting(5, 1, 1_000),
  OUTLIER_BASE_EJECTION_MS: integerSetting(30_000, 100, 3_600_000),
  OUTLIER_MAX_EJECTION_MS: integerSetting(300_000, 100, 86_400_000),
  OUTLIER_MAX_EJECTION_PERCENT: integerSetting(10, 0, 100),
  SLOW_START_WINDOW_MS: integerSetting(30_000, 0, 3_600_000),
  RETRY_BUDGET_PERCENT: integerSetting(20, 0, 100),
  RETRY_MIN_CONCURRENCY: integerSetting(3, 0, 10_000),
  PANIC_THRESHOLD_PERCENT: integerSetting(50, 0, 100),
  DRAIN_TIMEOUT_MS: integerSetting(30_000, 0, 600_000),
  SLACK_WEBHOOK_URL: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || URL.canParse(s), "must be an absolute URL"))),
  DISCORD_WEBHOOK_URL: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || URL.canParse(s), "must be an absolute URL"))),
  ALERT_EVALUATION_INTERVAL_MS: integerSetting(10_000, 100, 600_000),
  ALERT_GROUP_WAIT_MS: integerSetting(30_000, 0, 3_600_000),
  ALERT_GROUP_INTERVAL_MS: integerSetting(300_000, 100, 86_400_000),
  ALERT_REPEAT_INTERVAL_MS: integerSetting(4 * 3_600_000, 1_000, 7 * 86_400_000),
  ALERT_MIN_REQUEST_VOLUME: integerSetting(20, 1, 1_000_000),
  METRICS_FLUSH_INTERVAL_MS: integerSetting(1_000, 50, 60_000),
  EDGE_TABLE_SOFT_TTL_MS: integerSetting(1_000, 50, 60_000),
  EDGE_TABLE_HARD_TTL_MS: integerSetting(30_000, 1_000, 3_600_000),
  EDGE_REPORT_INTERVAL_MS: integerSetting(5_000, 50, 300_000),
  SCALE_WEBHOOK_URL: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || URL.canParse(s), "must be an absolute URL"))),
});

export interface CredentialSettings {
  /** Still accepted as an admin key while a rotation finishes (ORCHESTRATOR_API_KEY_PREVIOUS). */
  readonly apiKeyPrevious: string | undefined;
  readonly registrationTokenPrevious: string | undefined;
  readonly adminKeys: readonly KeyEntry[];
  readonly registrationTokens: readonly KeyEntry[];
  /** Failed authentications per client IP per rate-limit period before every credential from it is refused. */
  readonly authFailureLimit: number;
}

export interface Config {
  readonly environment: Environment;
  readonly isDevelopment: boolean;
  readonly apiKey: string | undefined;
  readonly registrationToken: string | undefined;
  /** Signs every call to a lifecycle hook (core/hook-signature.ts); hooks are not called without it. */
  readonly lifecycleHookSecret: string | undefined;
  /** Admin keys and registration tokens beyond the two single-key settings, and the rotation companions. */
  readonly credentials: CredentialSettings;
  readonly defaultStrategy: Strategy;
  readonly upstreamTimeoutMs: number;
  readonly instanceTtlSeconds: number;
  readonly deregisterCriticalAfterSeconds: number;
  readonly leaseTtlSeconds: number;
  readonly degradedResponseTimeMs: number;
  readonly maxRegistryBodyBytes: number;
  readonly errorRateThresholdPercent: number;
  readonly responseTimeThresholdMs: number;
  readonly staticInstances: readonly StaticInstance[];
  readonly seedServices: readonly string[];
  readonly devMode: boolean;
  readonly accessLog: AccessLogMode;
  readonly corsOrigins: readonly string[];
  readonly upstreamAllowedHosts: readonly string[];
  readonly rateLimits: RateLimitSettings;
  readonly maxRequestBodyBytes: number;
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
  readonly health: HealthSettings;
  /** How long stop and restart wait for in-flight requests before going ahead anyway. */
  readonly drainTimeoutMs: number;
  readonly alerts: AlertSettings;
  /** How long the edge buffers request outcomes before sending them to MetricsDO in one batch. */
  readonly metricsFlushIntervalMs: number;
  /** How each isolate keeps its routing table and reports to RegistryDO (src/edge/edge-router.ts). */
  readonly edge: EdgeSettings;
  /** Receives {service, current, desired, shortBy} when the autoscaler acts, for external provisioning. */
  readonly scaleWebhookUrl: string | undefined;
}

export interface AlertSettings {
  readonly slackWebhookUrl: string | undefined;
  readonly discordWebhookUrl: string | undefined;
  readonly evaluationIntervalMs: number;
  readonly groupWaitMs: number;
  readonly groupIntervalMs: number;
  readonly repeatIntervalMs: number;
  readonly minRequestVolume: number;
}

export interface HealthSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed probes that mark an instance unhealthy (the seed's "retries"; Envoy's unhealthy_threshold). */
  readonly retries: number;
  /** Consecutive passing probes that bring it back (Envoy's healthy_threshold). */
  readonly rise: number;
  readonly alertThreshold: number;
  readonly path: string;
  readonly outlier: { readonly consecutiveFailures: number; readonly baseEjectionMs: number; readonly maxEjectionMs: number; readonly maxEjectionPercent: number };
  readonly slowStartWindowMs: number;
  readonly retryBudget: { readonly budgetPercent: number; readonly minRetryConcurrency: number };
  readonly panicThresholdPercent: number;
}

export interface EdgeSettings {
  /** A table older than this is refreshed in the background while requests keep using it. */
  readonly softTtlMs: number;
  /** A table older than this is not used: the request waits for a fresh one (never below softTtlMs). */
  readonly hardTtlMs: number;
  /** How often an isolate with traffic reports its in-flight counts and outcomes when nothing is urgent. */
  readonly reportIntervalMs: number;
}

export const RATE_LIMIT_CLASSES = ["health", "metrics", "admin", "general", "registry"] as const;
export type RateLimitClass = (typeof RATE_LIMIT_CLASSES)[number];

export interface RateLimitSettings {
  readonly periodMs: number;
  /** Requests per period for each class; burst equals the limit (a full period's worth at once). */
  readonly perClass: Readonly<Record<RateLimitClass, number>>;
  /** Overrides of the general limit for proxied traffic to one service. */
  readonly perService: Readonly<Record<string, number>>;
  /** Requests per client and policy an isolate admits before its limiter has heard of them (src/edge/token-pool.ts). */
  readonly edgeCredit: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

export function parseConfig(env: object): Config {
  const result = v.safeParse(EnvSchema, env);
  if (!result.success) {
    const issue = result.issues[0];
    throw new ConfigError(issue ? (v.getDotPath(issue) ?? "env") : "env", issue?.message ?? "invalid");
  }
  const e = result.output;
  return {
    environment: e.ENVIRONMENT,
    isDevelopment: e.ENVIRONMENT === "development",
    apiKey: e.ORCHESTRATOR_API_KEY || undefined,
    registrationToken: e.REGISTRATION_TOKEN || undefined,
    lifecycleHookSecret: e.LIFECYCLE_HOOK_SECRET || undefined,
    credentials: {
      apiKeyPrevious: e.ORCHESTRATOR_API_KEY_PREVIOUS || undefined,
      registrationTokenPrevious: e.REGISTRATION_TOKEN_PREVIOUS || undefined,
      adminKeys: e.ADMIN_KEYS,
      registrationTokens: e.REGISTRATION_TOKENS,
      authFailureLimit: e.AUTH_FAILURE_LIMIT,
    },
    defaultStrategy: e.LB_STRATEGY,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    instanceTtlSeconds: e.INSTANCE_TTL_SECONDS,
    deregisterCriticalAfterSeconds: e.DEREGISTER_CRITICAL_AFTER_SECONDS,
    leaseTtlSeconds: e.LEASE_TTL_SECONDS,
    degradedResponseTimeMs: e.DEGRADED_RESPONSE_TIME_MS,
    maxRegistryBodyBytes: e.MAX_REGISTRY_BODY_BYTES,
    errorRateThresholdPercent: e.ERROR_RATE_THRESHOLD,
    responseTimeThresholdMs: e.RESPONSE_TIME_THRESHOLD,
    staticInstances: e.STATIC_INSTANCES,
    seedServices: SEED_SERVICES,
    devMode: e.DEV_MODE,
    accessLog: e.ACCESS_LOG,
    corsOrigins: e.CORS_ORIGINS,
    upstreamAllowedHosts: e.UPSTREAM_ALLOWED_HOSTS,
    rateLimits: {
      periodMs: e.RATE_LIMIT_PERIOD_SECONDS * 1000,
      perClass: {
        health: e.RATE_LIMIT_HEALTH,
        metrics: e.RATE_LIMIT_METRICS,
        admin: e.RATE_LIMIT_ADMIN,
        general: e.RATE_LIMIT_GENERAL,
        registry: e.RATE_LIMIT_REGISTRY,
      },
      perService: e.RATE_LIMIT_SERVICES,
      edgeCredit: e.RATE_LIMIT_EDGE_CREDIT,
    },
    maxRequestBodyBytes: e.MAX_REQUEST_BODY_BYTES,
    maxHeaderCount: e.MAX_HEADER_COUNT,
    maxHeaderBytes: e.MAX_HEADER_BYTES,
    health: {
      intervalMs: e.HEALTH_CHECK_INTERVAL_MS,
      timeoutMs: e.HEALTH_CHECK_TIMEOUT_MS,
      retries: e.HEALTH_CHECK_RETRIES,
      rise: e.HEALTH_CHECK_RISE,
      alertThreshold: e.ALERT_THRESHOLD,
      path: e.HEALTH_CHECK_PATH,
      outlier: {
        consecutiveFailures: e.OUTLIER_CONSECUTIVE_FAILURES,
        baseEjectionMs: e.OUTLIER_BASE_EJECTION_MS,
        maxEjectionMs: Math.max(e.OUTLIER_MAX_EJECTION_MS, e.OUTLIER_BASE_EJECTION_MS),
        maxEjectionPercent: e.OUTLIER_MAX_EJECTION_PERCENT,
      },
      slowStartWindowMs: e.SLOW_START_WINDOW_MS,
      retryBudget: { budgetPercent: e.RETRY_BUDGET_PERCENT, minRetryConcurrency: e.RETRY_MIN_CONCURRENCY },
      panicThresholdPercent: e.PANIC_THRESHOLD_PERCENT,
    },
    drainTimeoutMs: e.DRAIN_TIMEOUT_MS,
    alerts: {
      slackWebhookUrl: e.SLACK_WEBHOOK_URL || undefined,
      discordWebhookUrl: e.DISCORD_WEBHOOK_URL || undefined,
      evaluationIntervalMs: e.ALERT_EVALUATION_INTERVAL_MS,
      groupWaitMs: e.ALERT_GROUP_WAIT_MS,
      groupIntervalMs: e.ALERT_GROUP_INTERVAL_MS,
      repeatIntervalMs: e.ALERT_REPEAT_INTERVAL_MS,
      minRequestVolume: e.ALERT_MIN_REQUEST_VOLUME,
    },
    metricsFlushIntervalMs: e.METRICS_FLUSH_INTERVAL_MS,
    edge: {
      softTtlMs: e.EDGE_TABLE_SOFT_TTL_MS,
      hardTtlMs: Math.max(e.EDGE_TABLE_HARD_TTL_MS, e.EDGE_TABLE_SOFT_TTL_MS),
      reportIntervalMs: e.EDGE_REPORT_INTERVAL_MS,
    },
    scaleWebhookUrl: e.SCALE_WEBHOOK_URL || undefined,
  };
}

// The environment object is the same for every request an isolate serves, so
// parse it once and remember the result against that object.
const parsedConfigs = new WeakMap<object, Config>();

export function configFor(env: object): Config {
  let config = parsedConfigs.get(env);
  if (!config) {
    config = parseConfig(env);
    parsedConfigs.set(env, config);
  }
  return config;
}

/** The SSRF guard's options under this configuration. */
export function upstreamUrlPolicy(config: Config): UrlGuardOptions {
  return { allowPrivateNetworks: config.isDevelopment, allowedHosts: config.upstreamAllowedHosts };
}
