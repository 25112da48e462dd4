/**
 * Edges of the orchestrator's own routes found while writing the OpenAPI
 * document (issue #16): every one answers what the API reference promises.
 */
import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import { describe, expect, it } from "vitest";

const KEY = "test-admin-key-0123456789";
let nextIp = 1;
const ip = () => `198.18.61.${nextIp++ % 250}`;

function send(method: string, path: string, headers: Record<string, string> = {}) {
  return SELF.fetch(`https://orchestrator.test${path}`, { method, headers: { "cf-connecting-ip": ip(), ...headers } });
}

describe("own routes", () => {
  it("a wrong method on /, the dashboard's files or /debug/* is 405 with Allow, not a service lookup or 404", async () => {
    for (const path of ["/", "/admin/dashboard/assets/app.js", "/debug/config"]) {
      const response = await send("POST", path, { authorization: `Bearer ${KEY}` });
      expect(response.status, path).toBe(405);
      expect(response.headers.get("allow"), path).toBe("GET, HEAD");
      expect(((await response.json()) as { type: string }).type, path).toBe("urn:orchestrator:problem:method-not-allowed");
    }
  });

  it("HEAD on the live dashboard route cannot open a WebSocket: 426 like a GET without Upgrade", async () => {
    // Straight to the Worker: SELF.fetch would turn a request with Upgrade: websocket into a GET upgrade.
    const ctx = createExecutionContext();
    const request = new Request<unknown, IncomingRequestCfProperties>("https://orchestrator.test/admin/dashboard/live", {
      method: "HEAD",
      headers: { authorization: `Bearer ${KEY}`, upgrade: "websocket", "cf-connecting-ip": ip() },
    });
    const response = await worker.fetch(request, env, ctx);
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(426);
    expect(response.webSocket).toBeNull();
  });

  it("validation problems list their errors; an unknown service in /metrics/worker/{name} names the name parameter", async () => {
    const format = await send("GET", "/metrics?format=xml");
    expect(format.status).toBe(400);
    expect(await format.json()).toMatchObject({ type: "urn:orchestrator:problem:validation", field: "format", errors: [{ field: "format", message: "must be json or prometheus" }] });
    const live = await send("GET", "/admin/dashboard/live", { authorization: `Bearer ${KEY}` });
    expect(live.status).toBe(426);
    expect(await live.json()).toMatchObject({ field: "upgrade", errors: [{ field: "upgrade" }] });
    const unknown = await send("GET", "/metrics/worker/no-such-service-here");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ type: "urn:orchestrator:problem:unknown-service", field: "name" });
  });
});
