/**
 * What an instance's version may be (issue #20): 1–64 letters, digits, dots,
 * dashes, underscores or plus signs, so "v2", "1.4.0-rc.1", "2026-06-01" and
 * "1.0.0+build.7" are all versions. A version is a label the edge compares
 * for equality (a release's canary, a pinned header's value), never parsed or
 * ordered: which version is newer is the operator's business.
 */

export const VERSION_PATTERN = /^[A-Za-z0-9._+-]{1,64}$/;

export const VERSION_RULE = "must be 1-64 letters, digits, dots, dashes, underscores or plus signs";

export function isValidVersion(value: unknown): value is string {
  return typeof value === "string" && VERSION_PATTERN.test(value);
}
