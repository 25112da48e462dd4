/** CORS matrix: preflight and simple requests from allowed and disallowed origins. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

// The pool configures CORS_ORIGINS="https://app.example.com,https://admin.example.com".
const ALLOWED = "https://app.example.com";
const DISALLOWED = "https://evil.example.net";
let nextIp = 1;
const ip = () => `198.18.9.${nextIp++}`;

function preflight(origin: string, path = "/api/payments", requestHeaders = "authorization, content-type") {
  return SELF.fetch(`https://orchestrator.test${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": requestHeaders, "cf-connecting-ip": ip() },
  });
}

describe("CORS", () => {
  it("answers a preflight from an allowed origin with methods, headers, max-age, credentials and Vary", async () => {
    const response = await preflight(ALLOWED);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
    expect(response.headers.get("access-control-allow-headers")).toBe("authorization, content-type");
    expect(response.headers.get("access-control-max-age")).toBe("600");
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it("answers preflights at the edge for orchestrator routes too", async () => {
    const response = await preflight(ALLOWED, "/admin/services");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
  });

  it("gives a disallowed origin no Access-Control-Allow-Origin", async () => {
    const response = await preflight(DISALLOWED);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it("grants only the headers it allows", async () => {
    const response = await preflight(ALLOWED, "/api/x", "content-type, x-evil-header");
    expect(response.headers.get("access-control-allow-headers")).toBe("content-type");
  });

  it("adds CORS headers to simple responses for allowed origins only", async () => {
    const allowed = await SELF.fetch("https://orchestrator.test/health", { headers: { origin: ALLOWED, "cf-connecting-ip": ip() } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(allowed.headers.get("access-control-expose-headers")).toContain("x-request-id");
    expect(allowed.headers.get("vary")).toContain("Origin");

    const disallowed = await SELF.fetch("https://orchestrator.test/health", { headers: { origin: DISALLOWED, "cf-connecting-ip": ip() } });
    expect(disallowed.status).toBe(200);
    expect(disallowed.headers.get("access-control-allow-origin")).toBeNull();
    expect(disallowed.headers.get("vary")).toContain("Origin");

    const none = await SELF.fetch("https://orchestrator.test/health", { headers: { "cf-connecting-ip": ip() } });
    expect(none.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("puts security headers on the orchestrator's own responses", async () => {
    const response = await SELF.fetch("https://orchestrator.test/health", { headers: { "cf-connecting-ip": ip() } });
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
