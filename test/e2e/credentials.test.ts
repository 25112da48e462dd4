/**
 * Scoped credentials end to end (security review finding 10), one test per
 * role and per scoped token, each allowed and refused: a viewer key, an
 * operator key and the admin key (ADMIN_KEYS / ORCHESTRATOR_API_KEY), and a
 * registration token limited to banking and pay-* (REGISTRATION_TOKENS).
 */
import { inject, describe, expect, it, beforeAll } from "vitest";
import { adminKey, bearer, Fleet, gateway, readProblem, registrationToken, uniqueService } from "./upstreams";

const keys = () => inject("scopedKeys");
const fleet = new Fleet();
let service: string;
let upstreamUrl: string;

beforeAll(async () => {
  service = uniqueService("roles");
  upstreamUrl = (await fleet.upstream()).url;
  await fleet.register(service, upstreamUrl);
  return () => fleet.cleanup();
});

async function send(method: string, path: string, key: string, body?: unknown) {
  return fetch(gateway(path), {
    method,
    headers: { ...bearer(key), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function expectForbidden(response: Response, requiredRole: string) {
  expect(response.status).toBe(403);
  expect(await readProblem(response)).toMatchObject({ type: "urn:orchestrator:problem:forbidden", requiredRole });
}

describe("roles", () => {
  it("viewer: reads the admin API; lifecycle and configuration are refused", async () => {
    for (const path of ["/admin/services", "/admin/audit", "/admin/alerts", "/admin/dashboard/state"]) {
      const response = await send("GET", path, keys().viewer);
      expect(response.status, path).toBe(200);
      await response.arrayBuffer();
    }
    await expectForbidden(await send("POST", `/admin/workers/${service}/restart`, keys().viewer), "operator");
    await expectForbidden(await send("PUT", `/admin/services/${service}`, keys().viewer, { timeoutMs: 5000 }), "admin");
  });

  it("operator: stops and starts; configuration is refused", async () => {
    const stop = await send("POST", `/admin/workers/${service}/stop`, keys().operator);
    expect(stop.status).toBe(200);
    await stop.arrayBuffer();
    const start = await send("POST", `/admin/workers/${service}/start`, keys().operator);
    expect(start.status).toBe(200);
    await start.arrayBuffer();
    await expectForbidden(await send("PUT", `/admin/services/${service}`, keys().operator, { timeoutMs: 5000 }), "admin");
  });

  it("admin: configures the service; the audit log names each key's role", async () => {
    const configure = await send("PUT", `/admin/services/${service}`, adminKey(), { timeoutMs: 5000 });
    expect(configure.status).toBe(200);
    await configure.arrayBuffer();
    const audit = (await (await send("GET", "/admin/audit?limit=100", keys().viewer)).json()) as { entries: Array<{ action: string; target: string; role: string | null }> };
    const mine = audit.entries.filter((entry) => entry.target === service).map((entry) => [entry.action, entry.role]);
    expect(mine).toEqual(expect.arrayContaining([["service.stop", "operator"], ["service.start", "operator"], ["service.configure", "admin"]]));
  });
});

describe("a registration token scoped to banking and pay-*", () => {
  it("registers and deregisters its services; another service is refused, and the all-services token still works there", async () => {
    const payments = uniqueService("pay");
    const registered = await send("POST", "/registry/instances", keys().banking, { service: payments, url: upstreamUrl });
    expect(registered.status).toBe(201);
    const { id } = (await registered.json()) as { id: string };
    const beat = await send("PUT", `/registry/instances/${id}/heartbeat`, keys().banking);
    expect(beat.status).toBe(200);
    await beat.arrayBuffer();

    const other = uniqueService("api");
    const refused = await send("POST", "/registry/instances", keys().banking, { service: other, url: upstreamUrl });
    expect(refused.status).toBe(403);
    expect(await readProblem(refused)).toMatchObject({ field: "service" });
    const viaAll = await send("POST", "/registry/instances", registrationToken(), { service: other, url: upstreamUrl });
    expect(viaAll.status).toBe(201);
    const otherId = ((await viaAll.json()) as { id: string }).id;
    const cross = await send("DELETE", `/registry/instances/${otherId}`, keys().banking);
    expect(cross.status).toBe(403);
    await cross.arrayBuffer();

    for (const [instance, token] of [[id, keys().banking], [otherId, registrationToken()]] as const) {
      const gone = await send("DELETE", `/registry/instances/${instance}`, token);
      expect(gone.status).toBe(200);
      await gone.arrayBuffer();
    }
  });
});
