import { describe, expect, it } from "vitest";
import { checkPath, splitServicePath } from "../../src/core/paths";

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
