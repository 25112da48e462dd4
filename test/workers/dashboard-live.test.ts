/**
 * The live dashboard's WebSocket: authenticated at the edge, served by
 * MetricsDO with hibernatable WebSockets, pushing snapshots on change.
 */
import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MetricsDO } from "../../src/index";
import { metricsStub, registryStub } from "../../src/platform/stubs";

const KEY = "test-admin-key-0123456789";
/** What a browser on the dashboard's page sends with the upgrade and with sign-out. */
const OWN_ORIGIN = "https://orchestrator.test";
let nextIp = 1;
const ip = () => `198.18.60.${nextIp++ % 250}`;

interface Snapshot {
  type: string;
  services: { name: string; adminState: string }[];
}

async function connect(headers: Record<string, string>) {
  const response = await SELF.fetch("https://orchestrator.test/admin/dashboard/live", { headers: { upgrade: "websocket", "cf-connecting-ip": ip(), ...headers } });
  return response;
}

function inbox(socket: WebSocket) {
  const messages: Snapshot[] = [];
  socket.addEventListener("message", (event) => messages.push(JSON.parse(event.data as string) as Snapshot));
  return {
    messages,
    async next(accept: (m: Snapshot) => boolean, timeoutMs = 8_000): Promise<Snapshot> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(accept);
        if (found) return found;
        if (Date.now() > deadline) throw new Error("no matching message");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

async function signIn(): Promise<string> {
  const response = await SELF.fetch("https://orchestrator.test/admin/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip() },
    body: new URLSearchParams({ key: KEY }).toString(),
    redirect: "manual",
  });
  expect(response.status).toBe(303);
  const cookie = response.headers.get("set-cookie") ?? "";
  expect(cookie).toMatch(/^orch_session=[^;]+; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=\d+/);
  return cookie.split(";")[0] as string;
}

describe("dashboard WebSocket", () => {
  it("refuses an unauthenticated upgrade at the edge", async () => {
    const response = await connect({});
    expect(response.status).toBe(401);
    expect(response.webSocket).toBeNull();
    expect((await connect({ cookie: "orch_session=forged.value" })).status).toBe(401);
  });

  it("signs in with the key for a session cookie; a wrong key is sent back to the form", async () => {
    const wrong = await SELF.fetch("https://orchestrator.test/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip() },
      body: "key=nope",
      redirect: "manual",
    });
    expect(wrong.status).toBe(303);
    expect(wrong.headers.get("location")).toBe("/admin/dashboard?login=failed");
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const cookie = await signIn();
    const state = await SELF.fetch("https://orchestrator.test/admin/dashboard/state", { headers: { cookie, "cf-connecting-ip": ip() } });
    expect(state.status).toBe(200);
    // A state-changing request with only the cookie must come from our own origin (CSRF).
    const crossSite = await SELF.fetch("https://orchestrator.test/admin/workers/api/stop", { method: "POST", headers: { cookie, origin: "https://evil.example", "cf-connecting-ip": ip() } });
    expect(crossSite.status).toBe(403);
  });

  it("subscribes, gets a snapshot, and receives a pushed update when an operator stops a service", async () => {
    const service = `ws-${crypto.randomUUID().slice(0, 8)}`;
    const registered = await registryStub(env).register({ service, target: { kind: "url", url: "http://127.0.0.1:9/" }, weight: 1, metadata: {}, ttlSeconds: 3600 });
    expect(registered.ok).toBe(true);
    const cookie = await signIn();
    const response = await connect({ cookie, origin: OWN_ORIGIN });
    expect(response.status).toBe(101);
    const socket = response.webSocket as WebSocket;
    socket.accept();
    const messages = inbox(socket);
    const first = await messages.next((m) => m.type === "snapshot" && m.services.some((s) => s.name === service));
    expect(first.services.find((s) => s.name === service)?.adminState).toBe("active");
    expect((await metricsStub(env).subscribers()).length).toBeGreaterThanOrEqual(1);

    const stop = await SELF.fetch(`https://orchestrator.test/admin/workers/${service}/stop`, {
      method: "POST",
      headers: { cookie, origin: "https://orchestrator.test", "cf-connecting-ip": ip() },
    });
    expect(stop.status).toBe(200);
    await messages.next((m) => m.services?.some((s) => s.name === service && s.adminState === "stopped"));
    socket.send("ping");
    await messages.next((m) => m.type === "pong");
    socket.close(1000, "done");
  });

  it("keeps each socket's session in its attachment, so a new object (after eviction or hibernation) restores it", async () => {
    const cookie = await signIn();
    const response = await connect({ cookie, origin: OWN_ORIGIN });
    const socket = response.webSocket as WebSocket;
    socket.accept();
    const subscribers = await metricsStub(env).subscribers();
    const mine = subscribers.filter((s) => s.sessionExpiresAt !== null);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    for (const s of mine) expect(s.sessionExpiresAt as number).toBeGreaterThan(Date.now());
    // What an eviction does: a fresh MetricsDO over the same state. It holds nothing about
    // the sockets in memory, yet it finds them, with their sessions, from the attachments.
    const restored = await runInDurableObject(metricsStub(env), async (_object, state) => {
      const fresh = new MetricsDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined);
      return fresh.subscribers();
    });
    expect(restored).toEqual(subscribers);
    socket.close(1000, "done");
  });

  it("refuses a cookie-authenticated upgrade from another origin, a null one or none (security review finding 7)", async () => {
    const cookie = await signIn();
    for (const origin of ["https://evil.example", "null", undefined]) {
      const response = await connect(origin === undefined ? { cookie } : { cookie, origin });
      expect(response.status, String(origin)).toBe(403);
      expect(response.webSocket, String(origin)).toBeNull();
      expect(((await response.json()) as { field: string }).field).toBe("origin");
    }
    // The admin key needs no Origin: a bearer token is not something a cross-site page can send.
    const withKey = await connect({ authorization: `Bearer ${KEY}` });
    expect(withKey.status).toBe(101);
    (withKey.webSocket as WebSocket).accept();
    (withKey.webSocket as WebSocket).close(1000, "done");
  });

  it("sign-out from another origin is refused and the session stays valid (security review finding 7)", async () => {
    const cookie = await signIn();
    for (const origin of ["https://evil.example", "null", undefined]) {
      const logout = await SELF.fetch("https://orchestrator.test/admin/logout", { method: "POST", headers: { cookie, "cf-connecting-ip": ip(), ...(origin === undefined ? {} : { origin }) }, redirect: "manual" });
      expect(logout.status, String(origin)).toBe(403);
      await logout.arrayBuffer();
    }
    // A browser's Fetch Metadata cannot be forged by a page: a cross-site "null" stays refused.
    const forged = await SELF.fetch("https://orchestrator.test/admin/logout", { method: "POST", headers: { cookie, origin: "null", "sec-fetch-site": "cross-site", "cf-connecting-ip": ip() }, redirect: "manual" });
    expect(forged.status).toBe(403);
    await forged.arrayBuffer();
    const state = await SELF.fetch("https://orchestrator.test/admin/dashboard/state", { headers: { cookie, "cf-connecting-ip": ip() } });
    expect(state.status).toBe(200);
    await state.arrayBuffer();
    // Our own page's sign-out form: Origin "null" under Referrer-Policy no-referrer, Sec-Fetch-Site same-origin.
    const ownForm = await SELF.fetch("https://orchestrator.test/admin/logout", { method: "POST", headers: { cookie, origin: "null", "sec-fetch-site": "same-origin", "cf-connecting-ip": ip() }, redirect: "manual" });
    expect(ownForm.status).toBe(303);
    await ownForm.arrayBuffer();
  });

  it("signing out revokes the session on the server: the old cookie stops working and its sockets close", async () => {
    const cookie = await signIn();
    const response = await connect({ cookie, origin: OWN_ORIGIN });
    const socket = response.webSocket as WebSocket;
    socket.accept();
    const closed = new Promise<number>((resolve) => socket.addEventListener("close", (event) => resolve(event.code)));
    const logout = await SELF.fetch("https://orchestrator.test/admin/logout", { method: "POST", headers: { cookie, origin: OWN_ORIGIN, "cf-connecting-ip": ip() }, redirect: "manual" });
    expect(logout.status).toBe(303);
    expect(logout.headers.get("set-cookie")).toContain("Max-Age=0");
    expect(await closed).toBe(4001);
    const reused = await SELF.fetch("https://orchestrator.test/admin/dashboard/state", { headers: { cookie, "cf-connecting-ip": ip() } });
    expect(reused.status).toBe(401);
    expect((await connect({ cookie, origin: OWN_ORIGIN })).status).toBe(401);
  });
});
