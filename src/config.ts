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
import { VERSION_PATTERN, VERSION_RULE } from "./core/release/version";
import { noDotSegments } from "./core/paths";
import type { UrlGuardOptions } from "./core/url-guard";
import { type KeyEntry, type Parsed, parseAdminKeys, parseRegistrationTokens } from "./core/credentials";

export const ENVIRONMENTS = ["development", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** What every declaration says besides its schema: shown in docs/configuration.md and .dev.vars.example. */
interface Documented {
  /** The default as documented; the schema holds the value itself. */
  readonly default: string;
  /** The accepted values as documented (not given for secrets). */
  readonly range?: string;
}

/** A whole number with a default and an inclusive range; its documented default and range come from the same numbers. */
function integer(defaultValue: number, min: number, max: number, notes: { defaultNote?: string; rangeNote?: string } = {}) {
  return {
    schema: v.optional(
      v.pipe(
        v.string(),
        v.trim(),
        v.regex(/^\d+$/, "must be a whole number"),
        v.transform(Number),
        v.minValue(min, `must be at least ${min}`),
        v.maxValue(max, `must be at most ${max}`),
      ),
      String(defaultValue),
    ),
    ...documented(defaultValue, min, max, notes),
  };
}

/** The same, for a number that may have decimals. */
function decimal(defaultValue: number, min: number, max: number, notes: { defaultNote?: string; rangeNote?: string } = {}) {
  return {
    schema: v.optional(
      v.pipe(
        v.string(),
        v.trim(),
        v.regex(/^\d+(\.\d+)?$/, "must be a number"),
        v.transform(Number),
        v.minValue(min, `must be at least ${min}`),
        v.maxValue(max, `must be at most ${max}`),
      ),
      String(defaultValue),
    ),
    ...documented(defaultValue, min, max, notes),
  };
}

function documented(defaultValue: number, min: number, max: number, notes: { defaultNote?: string; rangeNote?: string }): Documented {
  return {
    default: notes.defaultNote ? `${defaultValue} (${notes.defaultNote})` : String(defaultValue),
    range: notes.rangeNote ? `${min}–${max} (${notes.rangeNote})` : `${min}–${max}`,
  };
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
  version: v.optional(v.pipe(v.string(), v.regex(VERSION_PATTERN, VERSION_RULE))),
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

/** SEED_VERSIONS: the version of each seed service's binding (issue #20), by service name. */
const seedVersionsSetting = v.optional(
  v.pipe(
    v.string(),
    v.parseJson(undefined, "must be a JSON object"),
    v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be a JSON object"),
    v.check((versions) => Object.keys(versions).every((key) => (SEED_SERVICES as readonly string[]).includes(key)), `keys must be seed services: ${SEED_SERVICES.join(", ")}`),
    v.check((versions) => Object.values(versions).every((version) => typeof version === "string" && VERSION_PATTERN.test(version)), `values must be versions: ${VERSION_RULE}`),
    v.transform((versions) => Object.assign(Object.create(null) as Record<string, string>, versions)),
  ),
  "{}",
);

/** Durable Object location hints (Cloudflare's regions): where a vantage point's probers are created. */
export const LOCATION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;
export type LocationHint = (typeof LOCATION_HINTS)[number];
/** The one vantage point of a configuration that names none: its probers get no location hint. */
export const LOCAL_VANTAGE_POINT = "local";

/** HEALTH_CHECK_VANTAGE_POINTS: distinct location hints, comma-separated; empty is one vantage point without a hint. */
const vantagePointsSetting = v.optional(
  v.pipe(
    v.string(),
    v.transform((s) => s.split(",").map((h) => h.trim().toLowerCase()).filter((h) => h !== "")),
    // Checked as a whole, so a refusal names the variable rather than an item of it.
    v.check((hints) => hints.every((h) => (LOCATION_HINTS as readonly string[]).includes(h)), `each must be a location hint: ${LOCATION_HINTS.join(", ")}`),
    v.check((hints) => new Set(hints).size === hints.length, "must not name a location hint twice"),
    v.transform((hints): readonly string[] => (hints.length === 0 ? [LOCAL_VANTAGE_POINT] : hints)),
  ),
  "",
);

/** all: one line per request; errors: only responses with status 400 or more; off: none. */
export const ACCESS_LOG_MODES = ["all", "errors", "off"] as const;
export type AccessLogMode = (typeof ACCESS_LOG_MODES)[number];

/** The groups settings are documented in, in order (docs/configuration.md, .dev.vars.example). */
export const SETTING_GROUPS = {
  secrets: "Secrets",
  environment: "Environment",
  balancing: "Load balancing and upstreams",
  registry: "Registry, in-flight accounting, operator control",
  health: "Health checks",
  alerts: "Metrics and alerts",
  limits: "Request limits",
  cors: "CORS",
  rateLimits: "Rate limits (GCRA; per client IP, the dashboard per session)",
  edge: "Edge routing",
} as const;

export interface SettingDeclaration extends Documented {
  readonly schema: v.GenericSchema<string | undefined, unknown>;
  readonly group: keyof typeof SETTING_GROUPS;
  /** One paragraph for operators: what it does, and what unset means for a secret. */
  readonly doc: string;
  /** What .dev.vars.example shows after `NAME=`, when not the default (placeholders for secrets). */
  readonly example?: string;
}

/**
 * Every setting, declared once: its schema (value, default, range), the group
 * and text it is documented with. The environment schema below, the docs'
 * settings tables and .dev.vars.example all come from this object
 * (test/unit/settings-docs.test.ts checks the files, `npm run docs:settings`
 * rewrites them).
 */
export const SETTINGS = {
  ORCHESTRATOR_API_KEY: {
    schema: secretSetting,
    default: "unset: admin routes and sign-in answer 503 (unless `ADMIN_KEYS` is set; sign-in always needs it)",
    example: "<random 32-byte hex, e.g. `openssl rand -hex 32`>",
    group: "secrets",
    doc: "The admin bearer key (role `admin`). Also accepted by `/registry/*`. Dashboard sessions are signed with a key derived from it, so rotating it ends every session. Use ≥ 32 random bytes.",
  },
  REGISTRATION_TOKEN: {
    schema: secretSetting,
    default: "unset: only admin keys open `/registry/*`; no key at all: 503",
    example: "<random 32-byte hex>",
    group: "secrets",
    doc: "The bearer token instances use to register, heartbeat and deregister, for every service.",
  },
  ORCHESTRATOR_API_KEY_PREVIOUS: {
    schema: secretSetting,
    default: "unset",
    group: "secrets",
    doc: "The key being rotated out: still accepted as an admin key until you remove it.",
  },
  REGISTRATION_TOKEN_PREVIOUS: {
    schema: secretSetting,
    default: "unset",
    group: "secrets",
    doc: "The token being rotated out: still accepted until you remove it.",
  },
  ADMIN_KEYS: {
    schema: keyringSetting(parseAdminKeys),
    default: "unset",
    example: "{\"<sha256 hex>\":\"viewer\",\"<sha256 hex>\":{\"role\":\"operator\",\"name\":\"oncall\"}}",
    group: "secrets",
    doc: "More admin keys, each with a role, by SHA-256 digest (never the key): `{\"<sha256 hex>\": \"viewer\", \"<sha256 hex>\": {\"role\": \"operator\", \"name\": \"oncall\"}}`. Roles: `viewer`, `operator`, `admin`.",
  },
  REGISTRATION_TOKENS: {
    schema: keyringSetting(parseRegistrationTokens),
    default: "unset",
    example: "{\"<sha256 hex>\":[\"banking\"],\"<sha256 hex>\":{\"services\":[\"pay-*\"],\"name\":\"payments-team\"}}",
    group: "secrets",
    doc: "Registration tokens limited to services, by SHA-256 digest: `{\"<sha256 hex>\": [\"banking\"], \"<sha256 hex>\": {\"services\": [\"pay-*\", \"api\"], \"name\": \"payments-team\"}}`. A pattern is a service name or a prefix ending in `*`; `[\"*\"]` is every service.",
  },
  LIFECYCLE_HOOK_SECRET: {
    schema: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || s.length >= 32, "must be at least 32 characters (e.g. `openssl rand -hex 32`)"))),
    default: "unset: lifecycle hooks cannot be set, and one already set is not called",
    example: "<random 32-byte hex>",
    group: "secrets",
    doc: "Signs every [lifecycle hook](architecture.md#lifecycle-hook) call (HMAC-SHA256). At least 32 characters; `openssl rand -hex 32`. Give the same value to the instances that receive the hook.",
  },
  SLACK_WEBHOOK_URL: {
    schema: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || URL.canParse(s), "must be an absolute URL"))),
    default: "unset (no Slack delivery)",
    example: "https://hooks.slack.com/services/...",
    group: "secrets",
    doc: "Slack incoming-webhook URL. Must be an absolute URL; [SSRF rules](security.md#ssrf) apply at send time.",
  },
  DISCORD_WEBHOOK_URL: {
    schema: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || URL.canParse(s), "must be an absolute URL"))),
    default: "unset",
    example: "https://discord.com/api/webhooks/...",
    group: "secrets",
    doc: "Discord webhook URL. Same rules.",
  },
  SCALE_WEBHOOK_URL: {
    schema: v.optional(v.pipe(v.string(), v.trim(), v.check((s) => s === "" || URL.canParse(s), "must be an absolute URL"))),
    default: "unset",
    example: "https://provisioner.example.com/scale",
    group: "secrets",
    doc: "Receives `POST {service, current, desired, shortBy, at}` when the autoscaler acts in enforce mode. Same rules.",
  },
  ENVIRONMENT: {
    schema: v.optional(v.picklist(ENVIRONMENTS, `must be one of ${ENVIRONMENTS.join(", ")}`), "production"),
    default: "`production` (wrangler.toml sets `development` locally, `staging`/`production` per env)",
    range: "`development`, `staging`, `production`",
    group: "environment",
    doc: "`development` allows `http` and private/loopback upstreams, omits HSTS, and drops `Secure` from the session cookie.",
  },
  DEV_MODE: {
    schema: booleanSetting,
    default: "`false`",
    range: "boolean",
    group: "environment",
    doc: "Enables `/debug/*` and adds the query string and user agent to the access log.",
  },
  ACCESS_LOG: {
    // Empty means unset (as for the boolean settings): the default, every request.
    schema: v.optional(
      v.pipe(
        v.string(),
        v.trim(),
        v.toLowerCase(),
        v.picklist([...ACCESS_LOG_MODES, ""], `must be one of ${ACCESS_LOG_MODES.join(", ")}`),
        v.transform((mode): AccessLogMode => (mode === "" ? "all" : mode)),
      ),
      "all",
    ),
    default: "`all`",
    range: "`all`, `errors`, `off`",
    group: "environment",
    doc: "The per-request JSON access log: every request, only responses with status ≥ 400, or none. Errors the orchestrator itself logs (unhandled errors, failed flushes, alert delivery) are logged whatever this says. Workers Logs can also sample with `head_sampling_rate`.",
  },
  LB_STRATEGY: {
    schema: v.optional(v.picklist(STRATEGIES, `must be one of ${STRATEGIES.join(", ")}`), "round-robin"),
    default: "`round-robin` (wrangler.toml: `round-robin` locally, `health-aware` in staging/production)",
    range: "the 4 strategies",
    group: "balancing",
    doc: "The strategy of services without their own.",
  },
  UPSTREAM_TIMEOUT_MS: {
    ...integer(30_000, 100, 600_000),
    group: "balancing",
    doc: "The default time to response headers.",
  },
  STATIC_INSTANCES: {
    schema: staticInstancesSetting,
    default: "`[]`",
    range: "JSON array, ≤ 500 entries",
    group: "balancing",
    doc: "Instances declared in configuration: `[{\"service\":\"…\",\"url\":\"https://…\" | \"binding\":\"NAME\",\"weight\":1–1000,\"version\":\"v2\"}]` (`version` optional: see [Releases](api.md#admin-releases)). No TTL; not deregistrable over the API; synced when RegistryDO starts. Invalid entries are skipped with a warning in the log.",
  },
  SEED_VERSIONS: {
    schema: seedVersionsSetting,
    default: "`{}`",
    range: "JSON object, seed service → version",
    group: "balancing",
    doc: "The version of each seed service's binding, e.g. `{\"banking\":\"2026.06.1\"}` (1–64 of `A-Z a-z 0-9 . _ + -`): what [releases](api.md#admin-releases) and the per-version metrics see. Synced when RegistryDO starts.",
  },
  UPSTREAM_ALLOWED_HOSTS: {
    schema: hostListSetting,
    default: "empty",
    range: "comma-separated host names or IP literals",
    group: "balancing",
    doc: "Hosts exempt from the SSRF address and host-name checks (still https-only outside development).",
  },
  SLOW_START_WINDOW_MS: {
    ...integer(30_000, 0, 3_600_000),
    group: "balancing",
    doc: "The weight ramps from 10% to 100% over this window after an instance enters rotation. 0 disables it.",
  },
  RETRY_BUDGET_PERCENT: {
    ...integer(20, 0, 100),
    group: "balancing",
    doc: "Retries in flight may be this share of the service's active requests…",
  },
  RETRY_MIN_CONCURRENCY: {
    ...integer(3, 0, 10_000),
    group: "balancing",
    doc: "…or at least this many. Set both to 0 to disable retries.",
  },
  PANIC_THRESHOLD_PERCENT: {
    ...integer(50, 0, 100),
    group: "balancing",
    doc: "Below this share of usable instances, health is ignored. 0 still panics when none is usable.",
  },
  INSTANCE_TTL_SECONDS: {
    ...integer(30, 5, 86_400),
    group: "registry",
    doc: "The TTL of instances that register without `ttlSeconds`.",
  },
  DEREGISTER_CRITICAL_AFTER_SECONDS: {
    ...integer(120, 1, 7 * 86_400),
    group: "registry",
    doc: "A critical (TTL-expired) instance is removed after this long.",
  },
  LEASE_TTL_SECONDS: {
    ...integer(300, 10, 86_400),
    group: "registry",
    doc: "An unreleased in-flight lease expires after this long.",
  },
  MAX_REGISTRY_BODY_BYTES: {
    ...integer(16_384, 256, 1_048_576),
    group: "registry",
    doc: "The largest registry or admin JSON body.",
  },
  DRAIN_TIMEOUT_MS: {
    ...integer(30_000, 0, 600_000),
    group: "registry",
    doc: "How long stop and restart wait for in-flight requests; open WebSocket connections to what was stopped are closed with 1001 this long after their isolate sees the stop.",
  },
  WEBSOCKET_IDLE_TIMEOUT_MS: {
    ...integer(3_600_000, 0, 86_400_000),
    group: "limits",
    doc: "A proxied WebSocket connection with no message in either direction for this long is closed with 1001 on both ends. Pings and pongs are answered by the runtime on each leg and do not count. `0`: never.",
  },
  DEGRADED_RESPONSE_TIME_MS: {
    ...integer(2_000, 1, 600_000),
    group: "health",
    doc: "The latency at which an instance counts as degraded (traffic average or median probe latency).",
  },
  HEALTH_CHECK_INTERVAL_MS: {
    ...integer(30_000, 100, 3_600_000),
    group: "health",
    doc: "Active probe interval (the seed's `interval`), ±10% jitter.",
  },
  HEALTH_CHECK_UNHEALTHY_INTERVAL_MS: {
    ...integer(5_000, 100, 3_600_000),
    group: "health",
    doc: "The probe interval of an unhealthy instance (Envoy's unhealthy_interval), so one that comes back is seen soon. Never longer than the service's interval.",
  },
  HEALTH_CHECK_UNHEALTHY_EDGE_INTERVAL_MS: {
    ...integer(5_000, 100, 3_600_000),
    group: "health",
    doc: "The interval right after an instance is marked unhealthy (Envoy's unhealthy_edge_interval). Never longer than the service's interval.",
  },
  HEALTH_CHECK_HEALTHY_EDGE_INTERVAL_MS: {
    ...integer(5_000, 100, 3_600_000),
    group: "health",
    doc: "The interval while an unhealthy instance is passing but has not yet made `HEALTH_CHECK_RISE` passes, and right after it recovers (Envoy's healthy_edge_interval): a restarted instance is back in rotation within rise × this. Never longer than the service's interval.",
  },
  HEALTH_CHECK_VANTAGE_POINTS: {
    schema: vantagePointsSetting,
    default: "empty: one vantage point without a location hint (wrangler.toml sets `wnam,enam,weur` in staging/production)",
    range: `comma-separated location hints, each once: ${LOCATION_HINTS.map((h) => `\`${h}\``).join(", ")}`,
    group: "health",
    doc: "Where active checks run from: each vantage point's probers are created with that [location hint](https://developers.cloudflare.com/durable-objects/reference/data-location/), and an instance's result is the majority of the vantage points that answered, discounting one whose every probe failed while others got through ([Health](architecture.md#health)).",
  },
  HEALTH_CHECK_TIMEOUT_MS: {
    ...integer(5_000, 50, 60_000),
    group: "health",
    doc: "Probe timeout (the seed's `timeout`).",
  },
  HEALTH_CHECK_RETRIES: {
    ...integer(3, 1, 100),
    group: "health",
    doc: "Consecutive failed probes that make an instance unhealthy (the seed's `retries`, Envoy's unhealthy_threshold).",
  },
  HEALTH_CHECK_RISE: {
    ...integer(2, 1, 100),
    group: "health",
    doc: "Consecutive passing probes that bring it back.",
  },
  HEALTH_CHECK_PATH: {
    schema: v.optional(v.pipe(v.string(), v.regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be a path starting with /"), v.check(noDotSegments, "must not contain . or .. segments")), "/health"),
    default: "`/health`",
    range: "a path, `[A-Za-z0-9._~/-]`",
    group: "health",
    doc: "What probes request (`GET`, any 2xx passes).",
  },
  OUTLIER_CONSECUTIVE_FAILURES: {
    ...integer(5, 1, 1_000),
    group: "health",
    doc: "Consecutive failed proxied requests (5xx, timeout, connect) that eject an instance.",
  },
  OUTLIER_BASE_EJECTION_MS: {
    ...integer(30_000, 100, 3_600_000),
    group: "health",
    doc: "Ejection time × the instance's ejection count.",
  },
  OUTLIER_MAX_EJECTION_MS: {
    ...integer(300_000, 100, 86_400_000),
    group: "health",
    doc: "The cap on one ejection. The effective cap is max(this, the base).",
  },
  OUTLIER_MAX_EJECTION_PERCENT: {
    ...integer(10, 0, 100),
    group: "health",
    doc: "At most this share of a service's active instances may be ejected at once. One is always allowed, even at 0.",
  },
  ERROR_RATE_THRESHOLD: {
    ...decimal(5, 0, 100, { rangeNote: "decimals allowed" }),
    group: "alerts",
    doc: "`HighErrorRate` fires above this percentage over 5 minutes.",
  },
  RESPONSE_TIME_THRESHOLD: {
    ...integer(5_000, 1, 600_000),
    group: "alerts",
    doc: "`HighLatency` fires when p95 over 5 minutes is above this (ms).",
  },
  ALERT_THRESHOLD: {
    ...integer(2, 1, 100),
    group: "alerts",
    doc: "Consecutive failed probes that raise `InstanceUnhealthy` (the seed's `alertThreshold`).",
  },
  ALERT_EVALUATION_INTERVAL_MS: {
    ...integer(10_000, 100, 600_000),
    group: "alerts",
    doc: "How often the rules are evaluated.",
  },
  ALERT_GROUP_WAIT_MS: {
    ...integer(30_000, 0, 3_600_000),
    group: "alerts",
    doc: "Alertmanager's group_wait.",
  },
  ALERT_GROUP_INTERVAL_MS: {
    ...integer(300_000, 100, 86_400_000),
    group: "alerts",
    doc: "Alertmanager's group_interval.",
  },
  ALERT_REPEAT_INTERVAL_MS: {
    ...integer(4 * 3_600_000, 1_000, 7 * 86_400_000, { defaultNote: "4 h" }),
    group: "alerts",
    doc: "Alertmanager's repeat_interval.",
  },
  ALERT_MIN_REQUEST_VOLUME: {
    ...integer(20, 1, 1_000_000),
    group: "alerts",
    doc: "Below this many requests in the 5-minute window, there are no rate or latency alerts.",
  },
  METRICS_FLUSH_INTERVAL_MS: {
    ...integer(1_000, 50, 60_000),
    group: "alerts",
    doc: "How long an isolate buffers request outcomes before sending them to MetricsDO.",
  },
  MAX_REQUEST_BODY_BYTES: {
    ...integer(100 * 1024 * 1024, 1024, 500 * 1024 * 1024, { defaultNote: "100 MiB" }),
    group: "limits",
    doc: "The largest request body. A declared size over it answers 413 before anything is sent; an undeclared one aborts the upstream request when it passes the limit, and the client gets 413.",
  },
  MAX_HEADER_COUNT: {
    ...integer(100, 10, 1_000),
    group: "limits",
    doc: "More request headers than this answers 431.",
  },
  MAX_HEADER_BYTES: {
    ...integer(32 * 1024, 1024, 256 * 1024),
    group: "limits",
    doc: "More header bytes than this answers 431. Each header counts name + value + 4 bytes.",
  },
  CORS_ORIGINS: {
    schema: originListSetting,
    default: "empty (no CORS headers)",
    range: "comma-separated `scheme://host[:port]`, or `*`",
    group: "cors",
    doc: "The origins allowed to read responses. Exact origins get credentials; `*` never does.",
  },
  AUTH_FAILURE_LIMIT: {
    ...integer(10, 1, 10_000_000),
    group: "rateLimits",
    doc: "Failed authentications per client IP per period, across every class; then credentials from that address get `429 auth-failures`.",
  },
  RATE_LIMIT_PERIOD_SECONDS: {
    ...integer(60, 1, 86_400),
    group: "rateLimits",
    doc: "The period of every rate limit.",
  },
  RATE_LIMIT_HEALTH: {
    ...integer(60, 1, 10_000_000),
    group: "rateLimits",
    doc: "Requests per period per IP for `/health*`.",
  },
  RATE_LIMIT_METRICS: {
    ...integer(30, 1, 10_000_000),
    group: "rateLimits",
    doc: "The same, for `/metrics*`.",
  },
  RATE_LIMIT_ADMIN: {
    ...integer(10, 1, 10_000_000),
    group: "rateLimits",
    doc: "The same, for `/admin/*` and `/debug/*`.",
  },
  RATE_LIMIT_GENERAL: {
    ...integer(100, 1, 10_000_000),
    group: "rateLimits",
    doc: "The same, for proxied traffic and everything else.",
  },
  RATE_LIMIT_REGISTRY: {
    ...integer(600, 1, 10_000_000),
    group: "rateLimits",
    doc: "The same, for `/registry/*`.",
  },
  RATE_LIMIT_DASHBOARD: {
    ...integer(300, 1, 10_000_000),
    group: "rateLimits",
    doc: "Requests per period per signed-in dashboard session, not per IP, for what the dashboard loads: the page, its files, `/admin/dashboard/state` and the live WebSocket. Only a genuine, unexpired session cookie gets this class (its signature is checked first); without one the page, state and socket count as `admin` per IP and the files as `general`. A reload with nothing cached is about 15 requests (the page, a dozen files, the state, the socket), so 300 is 20 such reloads a minute; a reconnect loop gone wrong still meets it. Sign-in, sign-out and the buttons stay `admin`. See [Rate limiting](security.md#rate-limiting).",
  },
  RATE_LIMIT_SERVICES: {
    schema: serviceLimitsSetting,
    default: "`{}`",
    range: "JSON object, values 1–1000000",
    group: "rateLimits",
    doc: "Per-service overrides of the general limit, e.g. `{\"banking\":50}`. The policy is then named `general-banking`.",
  },
  RATE_LIMIT_EDGE_CREDIT: {
    ...integer(2, 0, 100),
    group: "rateLimits",
    doc: "Requests per client and policy an isolate admits before the client's limiter has answered (charged in the background; see [rate-limit token pools](architecture.md#rate-limit-token-pools)). `0`: every such request waits for the limiter.",
  },
  EDGE_TABLE_SOFT_TTL_MS: {
    ...integer(1_000, 50, 60_000),
    group: "edge",
    doc: "An isolate's routing table older than this is refreshed in the background while requests keep using it; also the cadence limit of its registry calls. See [the hot path](architecture.md#the-hot-path-decided-at-the-edge-at-any-load).",
  },
  EDGE_TABLE_HARD_TTL_MS: {
    ...integer(30_000, 1_000, 3_600_000, { rangeNote: "never below the soft TTL" }),
    group: "edge",
    doc: "A table older than this is not used while the registry answers: the request waits for a fresh one.",
  },
  EDGE_REPORT_INTERVAL_MS: {
    ...integer(5_000, 50, 300_000),
    group: "edge",
    doc: "How often an isolate with traffic reports its in-flight counts and outcomes when nothing is urgent.",
  },
} satisfies Record<string, SettingDeclaration>;

type SettingSchemas = { readonly [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]["schema"] };

export const EnvSchema = v.object(Object.fromEntries(Object.entries(SETTINGS).map(([name, setting]) => [name, setting.schema])) as SettingSchemas);

export const RATE_LIMIT_CLASSES = ["health", "metrics", "admin", "general", "registry", "dashboard"] as const;
export type RateLimitClass = (typeof RATE_LIMIT_CLASSES)[number];

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
  return toConfig(result.output);
}

/** The settings as the code reads them: grouped by concern, typed, with derived values (every field's type is inferred from here). */
export type Config = ReturnType<typeof toConfig>;

function toConfig(e: v.InferOutput<typeof EnvSchema>) {
  return {
    environment: e.ENVIRONMENT,
    isDevelopment: e.ENVIRONMENT === "development",
    apiKey: e.ORCHESTRATOR_API_KEY || undefined,
    registrationToken: e.REGISTRATION_TOKEN || undefined,
    /** Signs every call to a lifecycle hook (core/hook-signature.ts); hooks are not called without it. */
    lifecycleHookSecret: e.LIFECYCLE_HOOK_SECRET || undefined,
    /** Admin keys and registration tokens beyond the two single-key settings, and the rotation companions. */
    credentials: {
      /** Still accepted as an admin key while a rotation finishes. */
      apiKeyPrevious: e.ORCHESTRATOR_API_KEY_PREVIOUS || undefined,
      registrationTokenPrevious: e.REGISTRATION_TOKEN_PREVIOUS || undefined,
      adminKeys: e.ADMIN_KEYS as readonly KeyEntry[],
      registrationTokens: e.REGISTRATION_TOKENS as readonly KeyEntry[],
      /** Failed authentications per client IP per rate-limit period before every credential from it is refused. */
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
    staticInstances: e.STATIC_INSTANCES as readonly StaticInstance[],
    seedVersions: e.SEED_VERSIONS as Readonly<Record<string, string>>,
    seedServices: SEED_SERVICES as readonly string[],
    devMode: e.DEV_MODE,
    accessLog: e.ACCESS_LOG,
    corsOrigins: e.CORS_ORIGINS as readonly string[],
    upstreamAllowedHosts: e.UPSTREAM_ALLOWED_HOSTS as readonly string[],
    rateLimits: {
      periodMs: e.RATE_LIMIT_PERIOD_SECONDS * 1000,
      /** Requests per period for each class; burst equals the limit (a full period's worth at once). */
      perClass: {
        health: e.RATE_LIMIT_HEALTH,
        metrics: e.RATE_LIMIT_METRICS,
        admin: e.RATE_LIMIT_ADMIN,
        general: e.RATE_LIMIT_GENERAL,
        registry: e.RATE_LIMIT_REGISTRY,
        /** Per signed-in dashboard session, not per IP (middleware/rate-limit.ts dashboardRateLimit). */
        dashboard: e.RATE_LIMIT_DASHBOARD,
      },
      /** Overrides of the general limit for proxied traffic to one service (null prototype: any name is safe to look up). */
      perService: e.RATE_LIMIT_SERVICES as Readonly<Record<string, number>>,
      /** Requests per client and policy an isolate admits before its limiter has heard of them (src/edge/token-pool.ts). */
      edgeCredit: e.RATE_LIMIT_EDGE_CREDIT,
    },
    maxRequestBodyBytes: e.MAX_REQUEST_BODY_BYTES,
    maxHeaderCount: e.MAX_HEADER_COUNT,
    maxHeaderBytes: e.MAX_HEADER_BYTES,
    /** A relayed WebSocket with no message either way for this long is closed (0: never). */
    websocketIdleTimeoutMs: e.WEBSOCKET_IDLE_TIMEOUT_MS,
    health: {
      intervalMs: e.HEALTH_CHECK_INTERVAL_MS,
      /** Check intervals by state (Envoy's unhealthy_interval and edge intervals), each capped at the service's interval. */
      unhealthyIntervalMs: e.HEALTH_CHECK_UNHEALTHY_INTERVAL_MS,
      unhealthyEdgeIntervalMs: e.HEALTH_CHECK_UNHEALTHY_EDGE_INTERVAL_MS,
      healthyEdgeIntervalMs: e.HEALTH_CHECK_HEALTHY_EDGE_INTERVAL_MS,
      /** Location hints the probers run at ([LOCAL_VANTAGE_POINT] when none is set); results are decided by quorum. */
      vantagePoints: e.HEALTH_CHECK_VANTAGE_POINTS,
      timeoutMs: e.HEALTH_CHECK_TIMEOUT_MS,
      /** Consecutive failed probes that mark an instance unhealthy (the seed's "retries"; Envoy's unhealthy_threshold). */
      retries: e.HEALTH_CHECK_RETRIES,
      /** Consecutive passing probes that bring it back (Envoy's healthy_threshold). */
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
    /** How long stop and restart wait for in-flight requests before going ahead anyway. */
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
    /** How long the edge buffers request outcomes before sending them to MetricsDO in one batch. */
    metricsFlushIntervalMs: e.METRICS_FLUSH_INTERVAL_MS,
    /** How each isolate keeps its routing table and reports to RegistryDO (src/edge/edge-router.ts). */
    edge: {
      /** A table older than this is refreshed in the background while requests keep using it. */
      softTtlMs: e.EDGE_TABLE_SOFT_TTL_MS,
      /** A table older than this is not used: the request waits for a fresh one (never below softTtlMs). */
      hardTtlMs: Math.max(e.EDGE_TABLE_HARD_TTL_MS, e.EDGE_TABLE_SOFT_TTL_MS),
      /** How often an isolate with traffic reports its in-flight counts and outcomes when nothing is urgent. */
      reportIntervalMs: e.EDGE_REPORT_INTERVAL_MS,
    },
    /** Receives {service, current, desired, shortBy} when the autoscaler acts, for external provisioning. */
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
