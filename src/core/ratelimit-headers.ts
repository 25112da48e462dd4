import type { GcraDecision, RateLimitPolicy } from "./gcra";

/**
 * RateLimit header fields in the structured-field form of
 * draft-ietf-httpapi-ratelimit-headers (-08 and later):
 *
 *   RateLimit-Policy: "<name>";q=<limit>;w=<window s>
 *   RateLimit:        "<name>";r=<remaining>;t=<s until reset>
 *
 * Only the draft's own parameters are sent (no burst: the draft has no such
 * parameter, and clients must ignore unknown ones anyway, so it would tell
 * nobody anything). With burst = limit, q per w is exactly our policy.
 */

/** What the headers need from a decision; a Durable Object's RPC answer carries no state. */
export type RateLimitHeaderInput = Pick<GcraDecision, "allowed" | "remaining" | "resetMs" | "retryAfterMs">;

/** RFC 9651 §3.3.1: sf-integer has at most 15 digits. */
const SF_INTEGER_MAX = 999_999_999_999_999;

/**
 * Names come from config and service names; sf-string allows only printable
 * ASCII, and `"` and `\` would need escapes that some clients mishandle, so
 * every other code point becomes "_" (one per code point, so an emoji is one
 * "_", not two).
 */
export function sanitizePolicyName(name: string): string {
  let out = "";
  for (const ch of name) {
    const code = ch.codePointAt(0) ?? 0;
    out += code >= 0x20 && code <= 0x7e && ch !== '"' && ch !== "\\" ? ch : "_";
  }
  return out;
}

/** Clamps into the sf-integer range; NaN becomes 0 so a corrupt value cannot produce an unparsable header. */
function sfInteger(x: number): string {
  if (Number.isNaN(x)) return "0";
  return String(Math.min(SF_INTEGER_MAX, Math.max(0, Math.floor(x))));
}

/** Whole seconds, rounded up: telling a client to wait less than it must would earn it another 429. */
function ceilSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/**
 * Header names are lower-case (what Headers yields anyway). `retry-after` is
 * present only on refusal, as delta-seconds of at least 1: "0" would invite an
 * immediate retry that is bound to be refused again.
 */
export interface RateLimitFields {
  readonly "ratelimit-policy": string;
  readonly ratelimit: string;
  readonly "retry-after"?: string;
}

/**
 * Policy names and limits change only with configuration: their field values
 * are made once per policy object (policies are read-only, and the edge hands
 * out one object per policy; see policyFor).
 */
const policyFields = new WeakMap<RateLimitPolicy, { name: string; policy: string }>();

function policyFieldsFor(policy: RateLimitPolicy): { name: string; policy: string } {
  let fields = policyFields.get(policy);
  if (fields === undefined) {
    const name = `"${sanitizePolicyName(policy.name)}"`;
    // w must be an integer; rounding the window up advertises a rate at or below the real one.
    const windowSeconds = Math.max(1, ceilSeconds(policy.periodMs));
    fields = { name, policy: `${name};q=${sfInteger(policy.limit)};w=${sfInteger(windowSeconds)}` };
    policyFields.set(policy, fields);
  }
  return fields;
}

export function rateLimitHeaders(policy: RateLimitPolicy, decision: RateLimitHeaderInput): RateLimitFields {
  const { name, policy: policyField } = policyFieldsFor(policy);
  const ratelimit = `${name};r=${sfInteger(decision.remaining)};t=${sfInteger(ceilSeconds(decision.resetMs))}`;
  if (decision.allowed) return { "ratelimit-policy": policyField, ratelimit };
  return { "ratelimit-policy": policyField, ratelimit, "retry-after": String(Math.max(1, Number(sfInteger(ceilSeconds(decision.retryAfterMs))))) };
}
