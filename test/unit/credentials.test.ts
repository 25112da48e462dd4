/**
 * Scoped credentials (core/credentials.ts): the ADMIN_KEYS and
 * REGISTRATION_TOKENS settings, roles and service scopes. The Worker-level
 * behaviour is in test/workers/credentials.test.ts.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config";
import { parseAdminKeys, parseRegistrationTokens, roleAllows, serviceInScope } from "../../src/core/credentials";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("roles", () => {
  it("are ordered viewer < operator < admin; no role allows nothing", () => {
    expect(roleAllows("viewer", "viewer")).toBe(true);
    expect(roleAllows("viewer", "operator")).toBe(false);
    expect(roleAllows("operator", "viewer")).toBe(true);
    expect(roleAllows("operator", "admin")).toBe(false);
    expect(roleAllows("admin", "operator")).toBe(true);
    expect(roleAllows(null, "viewer")).toBe(false);
  });
});

describe("service scopes", () => {
  it("match exact names and prefixes ending in *; null is every service", () => {
    expect(serviceInScope(null, "banking")).toBe(true);
    expect(serviceInScope(["banking"], "banking")).toBe(true);
    expect(serviceInScope(["banking"], "banking-eu")).toBe(false);
    expect(serviceInScope(["pay-*"], "pay-out")).toBe(true);
    expect(serviceInScope(["pay-*"], "pay")).toBe(false);
    expect(serviceInScope(["pay-*", "api"], "api")).toBe(true);
    expect(serviceInScope([], "api")).toBe(false);
    // Names that are also Object.prototype members are names like any other.
    expect(serviceInScope(["constructor"], "constructor")).toBe(true);
    expect(serviceInScope(["api"], "constructor")).toBe(false);
  });
});

describe("ADMIN_KEYS", () => {
  it("maps key digests to a role, or to {role, name}", () => {
    const parsed = parseAdminKeys(JSON.stringify({ [sha("v")]: "viewer", [sha("o")]: { role: "operator", name: "oncall" } }));
    expect(parsed).toEqual({
      ok: true,
      value: [
        { digestHex: sha("v"), kind: "admin", role: "viewer", services: null, name: `key:${sha("v").slice(0, 12)}` },
        { digestHex: sha("o"), kind: "admin", role: "operator", services: null, name: "oncall" },
      ],
    });
    expect(parseAdminKeys("")).toEqual({ ok: true, value: [] });
  });

  it.each([
    ["not JSON", "{", "must be a JSON object"],
    ["an array", "[]", "must be a JSON object"],
    ["a key instead of its digest", JSON.stringify({ "my-secret-key": "admin" }), "SHA-256 digests"],
    ["an upper-case digest", JSON.stringify({ [sha("x").toUpperCase()]: "admin" }), "SHA-256 digests"],
    ["an unknown role", JSON.stringify({ [sha("x")]: "root" }), "role must be one of viewer, operator, admin"],
    ["a bad name", JSON.stringify({ [sha("x")]: { role: "viewer", name: "has space" } }), "name must be"],
    ["an unknown field", JSON.stringify({ [sha("x")]: { role: "viewer", scope: "all" } }), 'unknown field "scope"'],
    ["__proto__ as a key", `{"__proto__": "admin"}`, "SHA-256 digests"],
  ])("refuses %s", (_label, text, message) => {
    const parsed = parseAdminKeys(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toContain(message);
  });
});

describe("REGISTRATION_TOKENS", () => {
  it("maps token digests to services (names or prefixes), or to {services, name}; * is every service", () => {
    const parsed = parseRegistrationTokens(JSON.stringify({ [sha("b")]: ["banking", "pay-*"], [sha("all")]: { services: ["*"], name: "ci" } }));
    expect(parsed.ok && parsed.value.map((e) => [e.services, e.name])).toEqual([
      [["banking", "pay-*"], `key:${sha("b").slice(0, 12)}`],
      [null, "ci"],
    ]);
  });

  it.each([
    ["an empty list", JSON.stringify({ [sha("x")]: [] }), "services must be a list"],
    ["a bad service pattern", JSON.stringify({ [sha("x")]: ["Banking"] }), '"Banking" is not a service name'],
    ["a * in the middle", JSON.stringify({ [sha("x")]: ["pa*y"] }), "is not a service name"],
    ["a string instead of a list", JSON.stringify({ [sha("x")]: "banking" }), "must be a list of services"],
  ])("refuses %s", (_label, text, message) => {
    const parsed = parseRegistrationTokens(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toContain(message);
  });
});

describe("configuration", () => {
  it("a bad ADMIN_KEYS or REGISTRATION_TOKENS is a configuration error naming the variable", () => {
    for (const variable of ["ADMIN_KEYS", "REGISTRATION_TOKENS"]) {
      let caught: unknown;
      try {
        parseConfig({ [variable]: JSON.stringify({ "plain-key": "admin" }) });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).variable).toBe(variable);
    }
  });

  it("the single-key settings keep working alone; rotation companions and the failure limit have defaults", () => {
    const config = parseConfig({ ORCHESTRATOR_API_KEY: "a", REGISTRATION_TOKEN: "r" });
    expect(config.apiKey).toBe("a");
    expect(config.credentials).toEqual({ apiKeyPrevious: undefined, registrationTokenPrevious: undefined, adminKeys: [], registrationTokens: [], authFailureLimit: 10 });
  });
});
