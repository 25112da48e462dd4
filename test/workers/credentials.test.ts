/**
 * Scoped credentials through the real Worker (security review finding 10):
 * admin keys with roles (viewer < operator < admin), registration tokens
 * scoped to services, rotation companions that stay valid, the audit log's
 * fingerprint and role, and every configured key kept from upstreams.
 * The keys are configured in vitest.config.ts (test-keys.ts).
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { configFor } from "../../src/config";
import { carriesOrchestratorCredential } from "../../src/middleware/auth";
import { TEST_KEYS } from "./test-keys";

const ADMIN = "test-admin-key-0123456789";
const REGISTRATION = "test-registration-token";
const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.44.${nextIp++ % 250}`;

async function call(method: string, path: string, key: string | null, body?: unknown, headers: Record<string, string> = {}) {
  const response = await SELF.fetch(`https://orchestrator.test${path}`, {
    method,
    headers: {
      "cf-connecting-ip": ip(),
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? null : (JSON.parse(text) as Record<string, unknown>), headers: response.headers };
}

async function sha256Hex(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

let nextService = 1;
const serviceName = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${nextService++}`;

async function register(service: string, token: string, name = "a") {
  return call("POST", "/registry/instances", token, { service, url: `http://127.0.0.1:${port}/i/cred-${name}` });
}

describe("admin keys with roles", () => {
  it("a viewer reads everything an operator or admin reads, and changes nothing (403 naming the role it needs)", async () => {
    for (const path of ["/admin/services", "/admin/autoscaling", "/admin/audit", "/admin/alerts", "/admin/silences", "/admin/dashboard/state", "/registry/services"]) {
      expect((await call("GET", path, TEST_KEYS.viewer)).status, path).toBe(200);
    }
    const attempts: Array<[string, string, unknown, string]> = [
      ["POST", "/admin/workers/api/stop", undefined, "operator"],
      ["POST", "/admin/silences", { matchers: [{ name: "service", value: "api" }], durationSeconds: 60, createdBy: "viewer", comment: "no" }, "operator"],
      ["PUT", "/admin/services/api", { strategy: "round-robin" }, "admin"],
      ["PUT", "/admin/services/api/autoscaling", { min: 1, max: 2 }, "admin"],
      ["POST", "/registry/instances", { service: "api", url: `http://127.0.0.1:${port}/i/cred-viewer` }, "admin"],
    ];
    for (const [method, path, body, needed] of attempts) {
      const response = await call(method, path, TEST_KEYS.viewer, body);
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body, `${method} ${path}`).toMatchObject({ type: "urn:orchestrator:problem:forbidden", field: "authorization", requiredRole: needed, role: "viewer" });
    }
  });

  it("an operator acts on the running fleet (lifecycle, silences) but does not configure it", async () => {
    const service = serviceName("ops");
    expect((await register(service, REGISTRATION, "ops")).status).toBe(201);
    expect((await call("POST", `/admin/workers/${service}/stop`, TEST_KEYS.operator)).status).toBe(200);
    expect((await call("POST", `/admin/workers/${service}/start`, TEST_KEYS.operator)).status).toBe(200);
    const silence = await call("POST", "/admin/silences", TEST_KEYS.operator, { matchers: [{ name: "service", value: service }], durationSeconds: 60, createdBy: "oncall", comment: "maintenance" });
    expect(silence.status).toBe(201);
    expect((await call("DELETE", `/admin/silences/${silence.body?.id as string}`, TEST_KEYS.operator)).status).toBe(200);
    const configure = await call("PUT", `/admin/services/${service}`, TEST_KEYS.operator, { strategy: "least-connections" });
    expect(configure.status).toBe(403);
    expect(configure.body).toMatchObject({ requiredRole: "admin", role: "operator" });
    expect((await call("POST", "/registry/instances", TEST_KEYS.operator, { service, url: `http://127.0.0.1:${port}/i/cred-op2` })).status).toBe(403);
  });

  it("the audit log names the key that acted by fingerprint and role, never the key", async () => {
    const service = serviceName("audited");
    expect((await register(service, REGISTRATION, "audited")).status).toBe(201);
    expect((await call("POST", `/admin/workers/${service}/stop`, TEST_KEYS.operator)).status).toBe(200);
    expect((await call("PUT", `/admin/services/${service}`, ADMIN, { strategy: "least-connections" })).status).toBe(200);
    const audit = await call("GET", "/admin/audit?limit=50", TEST_KEYS.viewer);
    const entries = (audit.body?.entries ?? []) as Array<{ action: string; target: string; actor: string; role: string | null }>;
    const stop = entries.find((e) => e.action === "service.stop" && e.target === service);
    const configure = entries.find((e) => e.action === "service.configure" && e.target === service);
    expect(stop).toMatchObject({ actor: `key:${(await sha256Hex(TEST_KEYS.operator)).slice(0, 12)}`, role: "operator" });
    expect(configure).toMatchObject({ actor: `key:${(await sha256Hex(ADMIN)).slice(0, 12)}`, role: "admin" });
    expect(JSON.stringify(audit.body)).not.toContain(TEST_KEYS.operator);
  });

  it("a dashboard session keeps the role of the key that signed in", async () => {
    const login = await SELF.fetch("https://orchestrator.test/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip() },
      body: new URLSearchParams({ key: TEST_KEYS.viewer }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/admin/dashboard");
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const origin = "https://orchestrator.test";
    expect((await call("GET", "/admin/dashboard/state", null, undefined, { cookie })).status).toBe(200);
    const stop = await call("POST", "/admin/workers/api/stop", null, undefined, { cookie, origin });
    expect(stop.status).toBe(403);
    expect(stop.body).toMatchObject({ requiredRole: "operator", role: "viewer" });
    // A registration token is not an admin key: it cannot sign in.
    const refused = await SELF.fetch("https://orchestrator.test/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip() },
      body: new URLSearchParams({ key: REGISTRATION }),
      redirect: "manual",
    });
    expect(refused.headers.get("location")).toBe("/admin/dashboard?login=failed");
  });

  it("a registration token on an admin endpoint is simply not a credential there (401)", async () => {
    expect((await call("GET", "/admin/services", REGISTRATION)).status).toBe(401);
    expect((await call("GET", "/admin/services", TEST_KEYS.banking)).status).toBe(401);
  });
});

describe("registration tokens scoped to services", () => {
  it("registers, heartbeats and deregisters within its services (names and prefixes) and nowhere else", async () => {
    const banking = `banking`;
    const payOut = serviceName("pay-out");
    const own = await register(banking, TEST_KEYS.banking, "bank-1");
    expect(own.status).toBe(201);
    const prefixed = await register(payOut, TEST_KEYS.banking, "pay-1");
    expect(prefixed.status).toBe(201);
    const elsewhere = await register(serviceName("api"), TEST_KEYS.banking, "api-1");
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body).toMatchObject({ type: "urn:orchestrator:problem:forbidden", field: "service" });

    // Another service's instance, registered with the all-services token: out of reach for the scoped one.
    const other = await register(serviceName("api"), REGISTRATION, "api-2");
    expect(other.status).toBe(201);
    const otherId = other.body?.id as string;
    const beat = await call("PUT", `/registry/instances/${otherId}/heartbeat`, TEST_KEYS.banking);
    expect(beat.status).toBe(403);
    expect(beat.body).toMatchObject({ field: "id" });
    expect(JSON.stringify(beat.body)).not.toContain("api-");
    expect((await call("DELETE", `/registry/instances/${otherId}`, TEST_KEYS.banking)).status).toBe(403);
    expect((await call("PUT", `/registry/instances/${otherId}/heartbeat`, REGISTRATION)).status).toBe(200);

    const ownId = own.body?.id as string;
    expect((await call("PUT", `/registry/instances/${ownId}/heartbeat`, TEST_KEYS.banking)).status).toBe(200);
    // It sees its own services only.
    const listed = await call("GET", "/registry/services", TEST_KEYS.banking);
    const names = (listed.body?.services as Array<{ name: string }>).map((s) => s.name);
    expect(names).toContain("banking");
    expect(names).toContain(payOut);
    expect(names.every((name) => name === "banking" || name.startsWith("pay-"))).toBe(true);
    for (const id of [ownId, prefixed.body?.id as string]) expect((await call("DELETE", `/registry/instances/${id}`, TEST_KEYS.banking)).status).toBe(200);
    expect((await call("DELETE", `/registry/instances/${otherId}`, REGISTRATION)).status).toBe(200);
  });
});

describe("rotation", () => {
  it("the previous admin key and registration token stay valid beside the current ones", async () => {
    expect((await call("GET", "/admin/services", TEST_KEYS.previousAdmin)).status).toBe(200);
    const service = serviceName("rotated");
    const registered = await register(service, TEST_KEYS.previousRegistration, "rotated");
    expect(registered.status).toBe(201);
    expect((await call("DELETE", `/registry/instances/${registered.body?.id as string}`, REGISTRATION)).status).toBe(200);
  });
});

describe("no configured key goes upstream", () => {
  it("keys known only by their digest (ADMIN_KEYS, REGISTRATION_TOKENS) and the rotation companions are recognised in any form", async () => {
    const config = configFor(env);
    for (const key of [TEST_KEYS.viewer, TEST_KEYS.operator, TEST_KEYS.banking, TEST_KEYS.previousAdmin, TEST_KEYS.previousRegistration]) {
      for (const header of [`Bearer ${key}`, `token  ${key}`, key, `Basic ${btoa(`user:${key}`)}`]) {
        expect(await carriesOrchestratorCredential(header, config), header).toBe(true);
      }
    }
    expect(await carriesOrchestratorCredential("Bearer someone-elses-token", config)).toBe(false);
  });
});
