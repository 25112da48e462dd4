/** valibot schemas for every request body the orchestrator accepts. */
import * as v from "valibot";
import { noDotSegments } from "./core/paths";
import { STRATEGIES } from "./core/balancer/types";
import { RESERVED_SEGMENTS, SERVICE_NAME_PATTERN } from "./core/services";

export const ServiceNameSchema = v.pipe(
  v.string("must be a string"),
  v.regex(SERVICE_NAME_PATTERN, "must be 1-63 lower-case letters, digits or dashes, starting with a letter"),
  v.check((name) => !RESERVED_SEGMENTS.has(name), "is reserved by the orchestrator"),
);

const WeightSchema = v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(1, "must be at least 1"), v.maxValue(1000, "must be at most 1000"));

const MetadataSchema = v.pipe(
  v.custom<Record<string, string>>((value) => !Array.isArray(value), "must be an object of string values"),
  v.record(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, "keys must be 1-64 letters, digits, dots, dashes or underscores")),
    v.pipe(v.string("values must be strings"), v.maxLength(256, "values may be at most 256 characters")),
    "must be an object of string values",
  ),
  v.maxEntries(32, "may have at most 32 entries"),
);

/** One message for the three ways a strict object can be wrong: not an object, a missing key, an unknown key. */
function strictObjectMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.expected === "never") return `unknown field ${issue.received}`;
  if (issue.input === undefined && issue.path !== undefined) return "is required";
  return "must be a JSON object";
}

export const RegisterBodySchema = v.pipe(
  v.strictObject(
    {
      service: ServiceNameSchema,
      url: v.optional(v.pipe(v.string("must be a string"), v.maxLength(2048, "may be at most 2048 characters"), v.url("must be an absolute URL"))),
      binding: v.optional(v.pipe(v.string("must be a string"), v.regex(/^[A-Z][A-Z0-9_]{0,62}$/, "must be a binding name like API or MAIN_BOT"))),
      weight: v.optional(WeightSchema),
      metadata: v.optional(MetadataSchema),
      ttlSeconds: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(5, "must be at least 5"), v.maxValue(3600, "must be at most 3600"))),
      standby: v.optional(v.boolean("must be true or false")),
    },
    strictObjectMessage,
  ),
  v.forward(
    v.check((body) => (body.url === undefined) !== (body.binding === undefined), "exactly one of url or binding is required"),
    ["url"],
  ),
);

export const HeartbeatBodySchema = v.strictObject({
  inflight: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(0, "must be at least 0"), v.maxValue(1_000_000, "must be at most 1000000"))),
  cpu: v.optional(v.pipe(v.number("must be a number"), v.minValue(0, "must be at least 0"), v.maxValue(100, "must be a percentage, at most 100"))),
});

export const ServiceSettingsBodySchema = v.pipe(
  v.strictObject({
    strategy: v.optional(v.picklist(STRATEGIES, `must be one of ${STRATEGIES.join(", ")}`)),
    timeoutMs: v.optional(v.pipe(v.number("must be a number"), v.integer("must be a whole number"), v.minValue(100, "must be at least 100"), v.maxValue(600_000, "must be at most 600000"))),
    weights: v.optional(v.pipe(v.custom<Record<string, number>>((value) => !Array.isArray(value), "must be an object of instance id to weight"), v.record(v.pipe(v.string(), v.maxLength(128)), WeightSchema, "must be an object of instance id to weight"), v.maxEntries(500))),
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
  }),
  v.check((body) => Object.keys(body).length > 0, "give at least one of strategy, timeoutMs, weights, healthCheck"),
);

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
