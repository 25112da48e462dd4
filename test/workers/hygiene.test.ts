/** Request hygiene: path tricks, header limits, underscores, body limits — each a clear problem, nothing registered. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const KEY = "test-admin-key-0123456789";
let nextIp = 1;
const ip = () => `198.18.11.${nextIp++}`;

async function send(path: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  headers.set("cf-connecting-ip", ip());
  return SELF.fetch(`https://orchestrator.test${path}`, { ...init, headers });
}

async function problemOf(response: Response) {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as { type: string; status: number; field?: string };
}

describe("request hygiene", () => {
  it.each(["/..%2f/admin/services", "/api/..%2fadmin/services", "//admin/services", "/api/%2E%2E%2Fadmin", "/api%5c..%5cadmin", "/api/x%00"])(
    "refuses %s with 400 bad-path and never reaches admin or an upstream",
    async (path) => {
      const response = await send(path, { headers: { authorization: `Bearer ${KEY}` } });
      expect(response.status).toBe(400);
      expect((await problemOf(response)).type).toBe("urn:orchestrator:problem:bad-path");
    },
  );

  it.each(["/api/../admin/services", "/api/%2e%2e/admin/services", "/api/.%2e/admin/services", "/api/%2E./admin/services"])(
    "lets the URL parser resolve %s to /admin/services, where admin auth applies (never proxied to api)",
    async (path) => {
      const response = await send(path);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="admin"');
    },
  );

  it("refuses header names with underscores", async () => {
    const response = await send("/health", { headers: { x_forwarded_for: "1.2.3.4" } });
    expect(response.status).toBe(400);
    const body = await problemOf(response);
    expect(body.type).toBe("urn:orchestrator:problem:bad-header");
    expect(body.field).toBe("x_forwarded_for");
  });

  it("answers 431 for too many headers and for oversized headers", async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 120; i++) many[`x-h-${i}`] = "v";
    const tooMany = await send("/health", { headers: many });
    expect(tooMany.status).toBe(431);
    expect((await problemOf(tooMany)).type).toBe("urn:orchestrator:problem:headers-too-large");
    const huge = await send("/health", { headers: { "x-big": "a".repeat(40_000) } });
    expect(huge.status).toBe(431);
  });

  it("answers 413 for a declared body over the limit and for an oversized registration body", async () => {
    const registration = await send("/registry/instances", {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ service: "big", url: "http://127.0.0.1:1/", metadata: { pad: "x".repeat(200) }, extra: "y".repeat(20_000) }),
    });
    expect(registration.status).toBe(413);
    expect((await problemOf(registration)).field).toBe("(body)");
    const services = await send("/registry/services", { headers: { authorization: `Bearer ${KEY}` } });
    const snapshot = (await services.json()) as { services: { name: string }[] };
    expect(snapshot.services.some((s) => s.name === "big")).toBe(false);
  });

  it("refuses a non-numeric Content-Length", async () => {
    const response = await SELF.fetch(
      new Request("https://orchestrator.test/health", { headers: { "cf-connecting-ip": ip(), "content-length": "12abc" } }),
    );
    // The runtime may reject this itself; either way it must be a client error, never a 5xx.
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });
});

describe("HEAD on the orchestrator's own routes", () => {
  it("answers like GET without a body", async () => {
    const response = await send("/health", { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.text()).toBe("");
  });
});
