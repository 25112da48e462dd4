/**
 * Security review finding 3: a silence regex could stall the alert pipeline
 * (`(a+)+b` against a 30-character service name took /admin/alerts from 14 ms
 * to 10–22 s). Matchers now run on RE2 (re2js): linear time whatever the
 * pattern, anchored at both ends as in Alertmanager, with a length limit.
 */
import { describe, expect, it } from "vitest";
import { MAX_MATCHER_PATTERN_LENGTH, matcherProblem, matches } from "../../src/core/alerts/labels";

describe("regex matchers", () => {
  it("match the whole value, as Alertmanager's anchored matchers do", () => {
    expect(matches({ name: "service", value: "api|bank.*", isRegex: true }, { service: "banking" })).toBe(true);
    expect(matches({ name: "service", value: "api|bank.*", isRegex: true }, { service: "xapi" })).toBe(false);
    expect(matches({ name: "service", value: "api", isRegex: true, isEqual: false }, { service: "api-2" })).toBe(true);
  });

  it("answer pathological patterns on the longest service names (a backtracking engine would not finish within the test's timeout)", () => {
    const name = "a".repeat(63);
    for (const pattern of ["(a+)+b", "(a|aa)+b", "(a*)*b", "(.*a){12}b"]) {
      expect(matches({ name: "service", value: pattern, isRegex: true }, { service: name })).toBe(false);
      expect(matches({ name: "service", value: pattern, isRegex: true }, { service: `${name}b` })).toBe(true);
    }
  });

  it("refuse patterns RE2 cannot run (backreferences, lookaround) and overlong ones, naming the matcher", () => {
    expect(matcherProblem({ name: "service", value: "(a)\\1", isRegex: true })).toMatch(/invalid regular expression/);
    expect(matcherProblem({ name: "service", value: "(?=a)a", isRegex: true })).toMatch(/invalid regular expression/);
    expect(matcherProblem({ name: "service", value: "a".repeat(MAX_MATCHER_PATTERN_LENGTH + 1), isRegex: true })).toMatch(/longer than/);
    expect(matcherProblem({ name: "service", value: "a".repeat(MAX_MATCHER_PATTERN_LENGTH), isRegex: true })).toBeNull();
    // An invalid pattern matches nothing: a bad silence can only do less.
    expect(matches({ name: "service", value: "(a", isRegex: true }, { service: "(a" })).toBe(false);
  });
});
