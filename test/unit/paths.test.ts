import { describe, expect, it } from "vitest";
import { checkPath, isReservedUnderService, noDotSegments, splitServicePath } from "../../src/core/paths";
import { parseConfig } from "../../src/config";

describe("path checks", () => {
  it.each(["//admin", "/api//x", "/..%2f/admin", "/api/%2Fadmin", "/api/%5c", "/api/%00", "/api/%zz", "/api/%2e%2e", "/api/.", "/a\\b"])("refuses %s", (path) => {
    expect(checkPath(path).ok).toBe(false);
  });

  it.each(["/", "/api", "/api/users/7", "/api/a%20b", "/api/..foo", "/api/.well-known/x"])("accepts %s", (path) => {
    expect(checkPath(path).ok).toBe(true);
  });

  it("splits the service from the rest of the path", () => {
    expect(splitServicePath("/api/users/7")).toEqual({ service: "api", rest: "/users/7" });
    expect(splitServicePath("/api")).toEqual({ service: "api", rest: "/" });
    expect(splitServicePath("/api/")).toEqual({ service: "api", rest: "/" });
  });
});

describe("noDotSegments (configured health paths, security review finding 8)", () => {
  it.each(["/health", "/health/live.json", "/a.b/c..d/.well-known", "/"])("accepts %s", (path) => {
    expect(noDotSegments(path)).toBe(true);
  });

  it.each(["/../../up", "/health/..", "/./health", "/a/./b"])("refuses %s", (path) => {
    expect(noDotSegments(path)).toBe(false);
  });

  it("HEALTH_CHECK_PATH with a dot segment is a configuration error naming the variable", () => {
    expect(() => parseConfig({ HEALTH_CHECK_PATH: "/../admin" })).toThrow(/HEALTH_CHECK_PATH: must not contain \. or \.\. segments/);
  });
});

describe("isReservedUnderService (security review finding 4)", () => {
  it.each(["/__lifecycle", "/__lifecycle/restart", "/__LIFECYCLE/restart", "/%5F%5Flifecycle/restart", "/__lifecycle%2Frestart"])("reserves %s", (rest) => {
    expect(isReservedUnderService(rest)).toBe(true);
  });

  it.each(["/", "/users/7", "/lifecycle/restart", "/x/__lifecycle/restart", "/__lifecycles/restart", "/%zz"])("leaves %s to the upstream", (rest) => {
    expect(isReservedUnderService(rest)).toBe(false);
  });
});
