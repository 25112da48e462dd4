/**
 * valibot schemas for every request body, form and query the orchestrator
 * accepts. The OpenAPI document (http/openapi.ts) is generated from these
 * same schemas; a `v.metadata` action states in JSON Schema what a check or
 * transform does (it changes nothing at run time).
 */
import * as v from "valibot";
import { noDotSegments } from "../core/paths";
import { STRATEGIES } from "../core/balancer/types";
import { RESERVED_SEGMENTS, SERVICE_NAME_PATTERN } from "../core/services";
import { MAX_MIN_REQUESTS, MAX_STEP_INTERVAL_SECONDS, MAX_STEPS, MIN_STEP_INTERVAL_SECONDS } from "../core/release/spec";
import { VERSION_PATTERN, VERSION_RULE } from "../core/release/version";

export const ServiceNameSchema = v.pipe(
  v.string("must be a string"),
  v.regex(SERVICE_NAME_PATTERN, "must be 1-63 lower-case letters, digits or dashes, starting with a letter"),
  v.check((name) => !RESERVED_SEGMENTS.has(name), "is reserved by the orchestrator"),
  v.metadata({ not: { enum: [...RESERVED_SEGMENTS] } }),
);

const WeightSchema = v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"), v.maxValue(1000, "must be at most 1000"));

/**
 * A JSON object of client-chosen keys, each key and value checked like any
 * other and every one kept. valibot's v.record leaves out "__proto__",
 * "constructor" and "prototype" without a word, so a registration's metadata
 * lost them and weights {"constructor": "x"} passed as {} (security review
 * finding 2). Keys are defined on the output, not assigned, so "__proto__"
 * is an own key like any other. It stays a plain object: it goes to a
 * Durable Object over RPC, and workerd refuses to serialize an object with a
 * null prototype (DataCloneError). Readers iterate its entries or use
 * Object.hasOwn, never a bare lookup.
 */
function ownRecord<TValue extends v.GenericSchema<unknown, unknown>>(
  keySchema: v.GenericSchema<string, string>,
  valueSchema: TValue,
  options: { readonly message: string; readonly maxEntries: number; readonly tooMany: string; readonly jsonSchema: Readonly<Record<string, unknown>> },
) {
  return v.pipe(
    v.custom<Readonly<Record<string, unknown>>>((input) => typeof input === "object" && input !== null && !Array.isArray(input), options.message),
    // What the transform below checks, for the OpenAPI document (a custom schema has no JSON Schema of its own).
    v.metadata({ type: "object", maxProperties: options.maxEntries, ...options.jsonSchema }),
    v.rawTransform<Readonly<Record<string, unknown>>, Record<string, v.InferOutput<TValue>>>(({ dataset, addIssue, NEVER }) => {
      const input = dataset.value;
      const keys = Object.keys(input);
      if (keys.length > options.maxEntries) {
        addIssue({ message: options.tooMany });
        return NEVER;
      }
      const out: Record<string, v.InferOutput<TValue>> = {};
      let failed = false;
      for (const key of keys) {
        const value = input[key];
        const keyCheck = v.safeParse(keySchema, key);
        if (!keyCheck.success) {
          failed = true;
          addIssue({ message: keyCheck.issues[0].message, path: [{ type: "object", origin: "key", input, key, value }] });
          continue;
        }
        const valueCheck = v.safeParse(valueSchema, value);
        if (!valueCheck.success) {
          failed = true;
          addIssue({ message: valueCheck.issues[0].message, path: [{ type: "object", origin: "value", input, key, value }] });
          continue;
        }
        Object.defineProperty(out, key, { value: valueCheck.output, enumerable: true, writable: true, configurable: true });
      }
      return failed ? NEVER : out;
    }),
  );
}

/** Metadata is the client's own data: every key comes back exactly as it was sent, "__proto__" and "constructor" included. */
const MetadataSchema = ownRecord(
  v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, "keys must be 1-64 letters, digits, dots, dashes or underscores")),
  v.pipe(v.string("values must be strings"), v.maxLength(256, "values may be at most 256 characters")),
  {
    message: "must be an object of string values",
    maxEntries: 32,
    tooMany: "may have at most 32 entries",
    jsonSchema: { propertyNames: { pattern: "^[A-Za-z0-9._-]{1,64}$" }, additionalProperties: { type: "string", maxLength: 256 } },
  },
);

/** Instance id to weight; a key naming no instance of the service is refused by the registry (400), whatever it is. */
const WeightsSchema = ownRecord(v.pipe(v.string(), v.maxLength(128, "keys may be at most 128 characters")), WeightSchema, {
  message: "must be an object of instance id to weight",
  maxEntries: 500,
  tooMany: "may have at most 500 entries",
  jsonSchema: { propertyNames: { maxLength: 128 }, additionalProperties: { type: "integer", minimum: 1, maximum: 1000 } },
});

/** One message for the three ways a strict object can be wrong: not an object, a missing key, an unknown key. */
function strictObjectMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.expected === "never") return `unknown field ${issue.received}`;
  if (issue.input === undefined && issue.path !== undefined) return "is required";
  return "must be a JSON object";
}

/** An instance's version (issue #20): compared for equality, never parsed. */
export const VersionSchema = v.pipe(v.string("must be a string"), v.regex(VERSION_PATTERN, VERSION_RULE));

export const RegisterBodySchema = v.pipe(
  v.strictObject(
    {
      service: ServiceNameSchema,
      url: v.optional(v.pipe(v.string("must be a string"), v.maxLength(2048, "may be at most 2048 characters"), v.url("must be an absolute URL"))),
      binding: v.optional(v.pipe(v.string("must be a string"), v.regex(/^[A-Z][A-Z0-9_]{0,62}$/, "must be a binding name like API or MAIN_BOT"))),
      weight: v.optional(WeightSchema),
      metadata: v.optional(MetadataSchema),
      version: v.optional(VersionSchema),
      ttlSeconds: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(5, "must be at least 5"), v.maxValue(3600, "must be at most 3600"))),
      standby: v.optional(v.boolean("must be true or false")),
    },
    strictObjectMessage,
  ),
  v.forward(
    v.check((body) => (body.url === undefined) !== (body.binding === undefined), "exactly one of url or binding is required"),
    ["url"],
  ),
  v.metadata({ oneOf: [{ required: ["url"] }, { required: ["binding"] }] }),
);

export const HeartbeatBodySchema = v.strictObject({
  inflight: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(0, "must be at least 0"), v.maxValue(1_000_000, "must be at most 1000000"))),
  cpu: v.optional(v.pipe(v.number("must be a number"), v.minValue(0, "must be at least 0"), v.maxValue(100, "must be a percentage, at most 100"))),
});

/**
 * RFC 9110 token characters, 1-64 of them: what a header name may be made
 * of, and a cookie name (RFC 6265). Anything else could never match a
 * request, and Headers.get throws on a name that is not a token.
 */
const AffinityNameSchema = v.pipe(v.string("must be a string"), v.regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/, "must be 1-64 HTTP token characters (letters, digits and !#$%&'*+-.^_`|~)"));

const AFFINITY_SOURCES = ["header", "cookie", "ip"] as const;

/**
 * Where a service's affinity key comes from. Header names are matched without
 * regard to case, so they are stored lower-cased; cookie names are
 * case-sensitive and kept as given. `ip` takes no name.
 */
const AffinitySettingSchema = v.variant(
  "source",
  [
    v.strictObject({ source: v.literal("header"), name: v.pipe(AffinityNameSchema, v.toLowerCase()) }, strictObjectMessage),
    v.strictObject({ source: v.literal("cookie"), name: AffinityNameSchema }, strictObjectMessage),
    v.strictObject({ source: v.literal("ip") }, strictObjectMessage),
  ],
  (issue) =>
    issue.path?.at(-1)?.key === "source"
      ? `must be one of ${AFFINITY_SOURCES.join(", ")}`
      : 'must be {"source": "header" or "cookie", "name": …} or {"source": "ip"}, or null to remove it',
);

export const ServiceSettingsBodySchema = v.pipe(
  v.strictObject({
    strategy: v.optional(v.picklist(STRATEGIES, `must be one of ${STRATEGIES.join(", ")}`)),
    timeoutMs: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(100, "must be at least 100"), v.maxValue(600_000, "must be at most 600000"))),
    weights: v.optional(WeightsSchema),
    healthCheck: v.optional(
      v.strictObject({
        intervalMs: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(100, "must be at least 100"), v.maxValue(3_600_000, "must be at most 3600000"))),
        timeoutMs: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(50, "must be at least 50"), v.maxValue(60_000, "must be at most 60000"))),
        retries: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"), v.maxValue(100, "must be at most 100"))),
        path: v.optional(v.pipe(v.string("must be a string"), v.regex(/^\/[A-Za-z0-9._~\/-]{0,255}$/, "must be a path starting with /"), v.check(noDotSegments, "must not contain . or .. segments"))),
      }),
    ),
    lifecycleHook: v.optional(
      v.nullable(
        v.union(
          [
            v.strictObject({ url: v.pipe(v.string("must be a string"), v.maxLength(2048), v.url("must be an absolute URL")) }),
            v.strictObject({ binding: v.pipe(v.string("must be a string"), v.regex(/^[A-Z][A-Z0-9_]{0,62}$/, "must be a binding name")) }),
          ],
          "must be {url} or {binding}, or null to remove it",
        ),
      ),
    ),
    websockets: v.optional(v.boolean("must be true or false")),
    affinity: v.optional(v.nullable(AffinitySettingSchema)),
  }),
  v.check((body) => Object.keys(body).length > 0, "give at least one of strategy, timeoutMs, weights, healthCheck, lifecycleHook, websockets, affinity"),
  v.metadata({ minProperties: 1 }),
);

const range = (min: number, max: number) => v.pipe(v.number("must be a number"), v.minValue(min, `must be at least ${min}`), v.maxValue(max, `must be at most ${max}`));
const wholeRange = (min: number, max: number) => v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(min, `must be at least ${min}`), v.maxValue(max, `must be at most ${max}`));

/**
 * POST /admin/services/{name}/releases. Shapes and ranges; the release spec's
 * own check (core/release/spec.ts) adds the relations: steps strictly
 * increasing and ending at 100, at least one threshold.
 */
export const ReleaseBodySchema = v.strictObject(
  {
    version: VersionSchema,
    steps: v.optional(
      v.pipe(
        v.array(wholeRange(1, 100), "must be a list of percentages"),
        v.minLength(2, "must list at least one weight below 100, then 100"),
        v.maxLength(MAX_STEPS, `may list at most ${MAX_STEPS} weights`),
        v.metadata({ description: "The canary's weight (%) at each step: strictly increasing, the last one 100. Default [5, 25, 50, 100]." }),
      ),
    ),
    stepIntervalSeconds: v.optional(v.pipe(wholeRange(MIN_STEP_INTERVAL_SECONDS, MAX_STEP_INTERVAL_SECONDS), v.metadata({ description: "How long each step lasts. Default 300." }))),
    analysis: v.pipe(
      v.strictObject(
        {
          minRequests: v.optional(wholeRange(1, MAX_MIN_REQUESTS)),
          maxErrorRatePercent: v.optional(range(0, 100)),
          maxP95Ms: v.optional(range(1, 600_000)),
          maxErrorRateVsStable: v.optional(range(1, 1000)),
          maxP95VsStable: v.optional(range(1, 1000)),
          errorRateAllowancePercent: v.optional(range(0, 100)),
          p95AllowanceMs: v.optional(range(0, 600_000)),
        },
        strictObjectMessage,
      ),
      v.metadata({ description: "The thresholds; at least one of maxErrorRatePercent, maxP95Ms, maxErrorRateVsStable, maxP95VsStable." }),
    ),
    stickiness: v.optional(v.nullable(AffinitySettingSchema)),
    pinHeader: v.optional(v.nullable(v.pipe(AffinityNameSchema, v.toLowerCase()))),
    mirrorPercent: v.optional(range(0, 100)),
    dryRun: v.optional(v.boolean("must be true or false")),
  },
  strictObjectMessage,
);

/** A release id in a path: what the registry hands out (a UUID); anything else names no release. */
export const ReleaseIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]{1,64}$/));

export const InstanceIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,160}$/));

const positive = (max: number) => v.pipe(v.number("must be a number"), v.minValue(0, "must be at least 0"), v.maxValue(max, `must be at most ${max}`));

/** Shapes only; the engine's validatePolicy checks the relations (min ≤ max, at least one target…). */
export const AutoscalePolicyBodySchema = v.strictObject({
  minInstances: v.pipe(v.number("must be a number"), v.integer("must be a whole number")),
  maxInstances: v.pipe(v.number("must be a number"), v.integer("must be a whole number")),
  targets: v.strictObject({
    cpuPercent: v.optional(positive(100)),
    inflightPerInstance: v.optional(positive(1_000_000)),
    p95Ms: v.optional(positive(600_000)),
    errorRatePercent: v.optional(positive(100)),
  }),
  evaluationPeriodMs: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"))),
  mode: v.optional(v.picklist(["enforce", "dry-run"], "must be enforce or dry-run"), "enforce"),
  tolerance: v.optional(v.number("must be a number")),
  scaleUp: v.optional(
    v.strictObject({
      stabilizationMs: v.optional(v.number("must be a number")),
      maxPercentPer15s: v.optional(v.number("must be a number")),
      maxInstancesPer15s: v.optional(v.number("must be a number")),
    }),
  ),
  scaleDown: v.optional(v.strictObject({ stabilizationMs: v.optional(v.number("must be a number")), maxPercentPer15s: v.optional(v.number("must be a number")) })),
});

const MAX_SILENCE_MS = 30 * 24 * 3_600_000;

/** Longest a silence may last (POST /admin/silences). */
export const MAX_SILENCE_SECONDS = MAX_SILENCE_MS / 1000;

export const SilenceBodySchema = v.pipe(
  v.strictObject({
    matchers: v.pipe(
      v.array(
        v.strictObject({
          name: v.pipe(v.string("must be a string"), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "must be a label name")),
          value: v.pipe(v.string("must be a string"), v.maxLength(256, "may be at most 256 characters")),
          isRegex: v.optional(v.boolean("must be true or false")),
          isEqual: v.optional(v.boolean("must be true or false")),
        }),
        "must be a list of {name, value, isRegex?, isEqual?}",
      ),
      v.minLength(1, "needs at least one matcher"),
      v.maxLength(32, "at most 32 matchers"),
    ),
    startsAt: v.optional(v.pipe(v.string("must be an ISO 8601 time"), v.isoTimestamp("must be an ISO 8601 time"))),
    endsAt: v.optional(v.pipe(v.string("must be an ISO 8601 time"), v.isoTimestamp("must be an ISO 8601 time"))),
    durationSeconds: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"), v.maxValue(MAX_SILENCE_SECONDS, "may be at most 30 days"))),
    createdBy: v.optional(v.pipe(v.string("must be a string"), v.maxLength(128)), "admin"),
    comment: v.pipe(v.string("must be a string"), v.minLength(1, "say why"), v.maxLength(1024)),
  }),
  v.forward(
    v.check((b) => (b.endsAt === undefined) !== (b.durationSeconds === undefined), "give exactly one of endsAt or durationSeconds"),
    ["endsAt"],
  ),
  v.metadata({ oneOf: [{ required: ["endsAt"] }, { required: ["durationSeconds"] }] }),
);

/** The dashboard's sign-in form (application/x-www-form-urlencoded). */
export const LoginFormSchema = v.object({ key: v.pipe(v.string("is required"), v.minLength(1, "is required"), v.maxLength(4096)) });

/** GET /admin/audit's query: numbers as they arrive in a query string. */
export const AuditQuerySchema = v.object({
  limit: v.optional(v.pipe(v.string("must be given once"), v.regex(/^\d{1,4}$/, "must be a whole number"), v.transform(Number), v.minValue(1, "must be at least 1"), v.maxValue(1000, "must be at most 1000")), "100"),
  before: v.optional(v.pipe(v.string("must be given once"), v.regex(/^\d{1,15}$/, "must be a whole number"), v.transform(Number), v.minValue(1, "must be at least 1"))),
});

/** `format` of GET /metrics and /metrics/worker/{name}; without it, Accept decides. */
export const MetricsFormatSchema = v.picklist(["json", "prometheus"], "must be json or prometheus");
