/**
 * The location cache of the edge's routing table (src/edge/isolate-router.ts):
 * after an isolate syncs with RegistryDO, the table is in `caches.default`
 * under a key made from the registry's id, as a FleetTable with the service
 * the isolate just routed, a growing version and a max-age of the soft TTL;
 * a foreign entry there is a miss, never a crash.
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { FleetTable } from "../../src/contracts/registry";

const port = inject("upstreamPort");
const key = () => `https://edge-table.orchestrator.invalid/v1/${env.REGISTRY.idFromName("global").toString()}`;

/** Registered through the isolate's own route, so its next request waits for the registry's table. */
async function freshService(prefix: string) {
  const service = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  const response = await SELF.fetch("https://orchestrator.test/registry/instances", {
    method: "POST",
    headers: { authorization: "Bearer test-registration-token", "content-type": "application/json", "cf-connecting-ip": "198.18.90.9" },
    body: JSON.stringify({ service, url: `http://127.0.0.1:${port}/i/${service}-a`, ttlSeconds: 3600 }),
  });
  expect(response.status).toBe(201);
  return service;
}

describe("location cache of the routing table", () => {
  it("holds the latest table after a sync, keyed by the registry, versions growing", async () => {
    const first = await freshService("cache-a");
    // The registration marked the isolate's table: this request syncs with the registry (and offers the result to the cache).
    expect((await SELF.fetch(`https://orchestrator.test/${first}/x`, { headers: { "cf-connecting-ip": "198.18.90.1" } })).status).toBe(200);
    const hit = await caches.default.match(key());
    expect(hit).toBeDefined();
    expect(hit?.headers.get("cache-control")).toMatch(/^max-age=\d+$/);
    const table = (await hit?.json()) as FleetTable;
    expect(table.services.map((s) => s.service)).toContain(first);
    expect(table.services.find((s) => s.service === first)?.instances).toHaveLength(1);

    const second = await freshService("cache-b");
    expect((await SELF.fetch(`https://orchestrator.test/${second}/x`, { headers: { "cf-connecting-ip": "198.18.90.2" } })).status).toBe(200);
    const newer = (await (await caches.default.match(key()))?.json()) as FleetTable;
    expect(newer.version).toBeGreaterThan(table.version);
    expect(newer.services.map((s) => s.service)).toContain(second);
  });

  it("treats a foreign entry under its key as a miss: routing goes on", async () => {
    await caches.default.put(key(), new Response('{"not":"a table"}', { headers: { "cache-control": "max-age=60" } }));
    const service = await freshService("cache-c");
    expect((await SELF.fetch(`https://orchestrator.test/${service}/x`, { headers: { "cf-connecting-ip": "198.18.90.3" } })).status).toBe(200);
  });
});
