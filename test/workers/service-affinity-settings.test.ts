/**
 * A service's WebSocket permission and client affinity: set through the admin
 * API (and validated there, each error naming its field), shown in the
 * service's view, kept across a RegistryDO restart (and added to databases
 * made before the settings existed), and handed to the edge in its routing
 * table.
 */
import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { FleetTable, ServiceView } from "../../src/contracts/registry";
import { REGISTRY_MIGRATIONS } from "../../durable-objects/registry/schema";
import { RegistryDO } from "../../src/index";
import { registryStub } from "../../src/platform/stubs";
import { freshRegistry, registerOk, urlInstance } from "./helpers";

const KEY = "test-admin-key-0123456789";
let nextIp = 1;
const ip = () => `198.18.118.${(nextIp++ % 250) + 1}`;
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

function configure(service: string, body: unknown) {
  return SELF.fetch(`https://orchestrator.test/admin/services/${service}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "cf-connecting-ip": ip() },
    body: JSON.stringify(body),
  });
}

async function listed(service: string): Promise<ServiceView | undefined> {
  const response = await SELF.fetch("https://orchestrator.test/admin/services", { headers: { authorization: `Bearer ${KEY}`, "cf-connecting-ip": ip() } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { services: ServiceView[] }).services.find((s) => s.name === service);
}

const emptyReport = { isolateId: "affinity-test", inflight: {}, outcomes: {} };

const routeOf = (table: FleetTable, service: string) => table.services.find((s) => s.service === service);

describe("websockets and affinity through the admin API", () => {
  it("a service takes WebSockets and has no affinity until an operator says otherwise", async () => {
    const service = unique("ws-default");
    const created = await configure(service, { strategy: "least-connections" });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ name: service, websockets: true, affinity: null });
    expect(routeOf(await registryStub(env).edgeSync(emptyReport), service)).toMatchObject({ websockets: true, affinity: null });
  });

  it("sets both, shows them in the service's view and the edge's table, and changes one without the other", async () => {
    const service = unique("ws-set");
    const set = await configure(service, { websockets: false, affinity: { source: "header", name: "X-User-Id" } });
    expect(set.status).toBe(201);
    // Header names are matched without regard to case, so they are stored lower-cased.
    const expected = { websockets: false, affinity: { source: "header", name: "x-user-id" } };
    expect(await set.json()).toMatchObject(expected);
    expect(await listed(service)).toMatchObject(expected);
    expect(await registryStub(env).service(service)).toMatchObject(expected);
    expect(routeOf(await registryStub(env).edgeSync(emptyReport), service)).toMatchObject(expected);

    // Cookie names are case-sensitive: kept as given. websockets stays as it was.
    const cookie = await configure(service, { affinity: { source: "cookie", name: "Session_ID" } });
    expect(cookie.status).toBe(200);
    expect(await cookie.json()).toMatchObject({ websockets: false, affinity: { source: "cookie", name: "Session_ID" } });

    const byIp = await configure(service, { affinity: { source: "ip" }, websockets: true });
    expect(await byIp.json()).toMatchObject({ websockets: true, affinity: { source: "ip" } });
    expect(routeOf(await registryStub(env).edgeSync(emptyReport), service)).toMatchObject({ websockets: true, affinity: { source: "ip" } });

    const cleared = await configure(service, { affinity: null });
    expect(cleared.status).toBe(200);
    expect(await cleared.json()).toMatchObject({ websockets: true, affinity: null });
    expect(routeOf(await registryStub(env).edgeSync(emptyReport), service)).toMatchObject({ websockets: true, affinity: null });
  });

  it.each([
    [{ websockets: "no" }, "websockets"],
    [{ websockets: null }, "websockets"],
    [{ affinity: "ip" }, "affinity"],
    [{ affinity: { source: "query", name: "user" } }, "affinity.source"],
    [{ affinity: { name: "user" } }, "affinity.source"],
    [{ affinity: { source: "header" } }, "affinity.name"],
    [{ affinity: { source: "header", name: "" } }, "affinity.name"],
    [{ affinity: { source: "header", name: "x user" } }, "affinity.name"],
    [{ affinity: { source: "header", name: "x-user:id" } }, "affinity.name"],
    [{ affinity: { source: "cookie", name: "s".repeat(65) } }, "affinity.name"],
    [{ affinity: { source: "cookie", name: 42 } }, "affinity.name"],
    [{ affinity: { source: "ip", name: "x-forwarded-for" } }, "affinity.name"],
    [{ affinity: { source: "cookie", name: "session", ttl: 60 } }, "affinity.ttl"],
  ])("refuses %j with 400 naming %s, and changes nothing", async (body, field) => {
    const service = unique("ws-bad");
    const response = await configure(service, body);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    const problem = (await response.json()) as { field: string; errors: { field: string; message: string }[] };
    expect(problem.field).toBe(field);
    expect(problem.errors.map((e) => e.field)).toEqual([field]);
    expect(await registryStub(env).service(service)).toBeNull();
  });

  it("accepts a name of exactly 64 token characters", async () => {
    const name = `!#$%&'*+-.^_\`|~${"a".repeat(49)}`;
    expect(name.length).toBe(64);
    const response = await configure(unique("ws-long"), { affinity: { source: "cookie", name } });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ affinity: { source: "cookie", name } });
  });
});

describe("websockets and affinity in RegistryDO", () => {
  it("survive a restart, and the revived object hands them to the edge", async () => {
    const registry = freshRegistry();
    const a = await registerOk(registry, urlInstance("chat", 9201));
    await registerOk(registry, urlInstance("chat", 9202));
    expect((await registry.configureService("chat", { websockets: false, affinity: { source: "cookie", name: "session" } })).ok).toBe(true);
    expect((await registry.configureService("sticky-ip", { affinity: { source: "ip" } })).ok).toBe(true);

    const revived = await runInDurableObject(registry, async (_object, state) => {
      const object = new RegistryDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined); // the constructor's schema load has run
      return { chat: object.service("chat"), stickyIp: object.service("sticky-ip"), api: object.service("api"), table: object.edgeSync(emptyReport) };
    });
    expect(revived.chat).toMatchObject({ websockets: false, affinity: { source: "cookie", name: "session" } });
    expect(revived.stickyIp).toMatchObject({ websockets: true, affinity: { source: "ip" } });
    expect(revived.api).toMatchObject({ websockets: true, affinity: null });
    const chatRoute = routeOf(revived.table, "chat");
    expect(chatRoute).toMatchObject({ websockets: false, affinity: { source: "cookie", name: "session" } });
    expect(chatRoute?.instances.map((i) => i.id)).toContain(a);
    expect(routeOf(revived.table, "sticky-ip")).toMatchObject({ websockets: true, affinity: { source: "ip" } });
  });

  it("a database made before the settings existed gains them: WebSockets allowed, no affinity", async () => {
    const registry = freshRegistry();
    await registerOk(registry, urlInstance("legacy", 9211));
    expect((await registry.configureService("legacy", { timeoutMs: 4321 })).ok).toBe(true);

    // Undo this feature's migration, as a database from before it would be. (Written for it being the
    // newest: a later migration would have to be undone first.)
    const version = REGISTRY_MIGRATIONS.findIndex((statements) => statements.some((s) => s.includes("ADD COLUMN websockets"))) + 1;
    // The one after it (versions and releases, issue #20) is undone first.
    expect(version).toBe(REGISTRY_MIGRATIONS.length - 1);
    const revived = await runInDurableObject(registry, async (_object, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE releases");
      sql.exec("ALTER TABLE instances DROP COLUMN version");
      sql.exec("DELETE FROM schema_migrations WHERE version = ?", version + 1);
      sql.exec("ALTER TABLE services DROP COLUMN websockets");
      sql.exec("ALTER TABLE services DROP COLUMN affinity");
      sql.exec("DELETE FROM schema_migrations WHERE version = ?", version);
      const object = new RegistryDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined);
      return object.service("legacy");
    });
    expect(revived).toMatchObject({ timeoutMs: 4321, websockets: true, affinity: null });
  });
});
