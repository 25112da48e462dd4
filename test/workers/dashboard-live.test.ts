/**
 * The live dashboard's WebSocket: authenticated at the edge, served by
 * MetricsDO with hibernatable WebSockets: a versioned snapshot of the live
 * view on connect, then deltas on change (src/core/dashboard/delta.ts).
 */
import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { type LiveDelta, type LiveSnapshot, applyDelta } from "../../src/core/dashboard/delta";
import type { LiveView } from "../../src/core/dashboard/live-view";
import type { DashboardState } from "../../src/contracts/metrics";
import type { ReleaseView } from "../../src/contracts/registry";
import { DashboardLiveDeltaSchema, DashboardLiveSnapshotSchema, DashboardStateSchema } from "../../src/http/response-schemas";
import { MetricsDO } from "../../src/index";
import { metricsStub, registryStub } from "../../src/platform/stubs";

const KEY = "test-admin-key-0123456789";
/** What a browser on the dashboard's page sends with the upgrade and with sign-out. */
const OWN_ORIGIN = "https://orchestrator.test";
let nextIp = 1;
const ip = () => `198.18.60.${nextIp++ % 250}`;

type Message = LiveSnapshot | LiveDelta | { type: "pong" };

async function connect(headers: Record<string, string>) {
  const response = await SELF.fetch("https://orchestrator.test/admin/dashboard/live", { headers: { upgrade: "websocket", "cf-connecting-ip": ip(), ...headers } });
  return response;
}

/** Every message a socket receives, and the view they add up to (a snapshot, then each delta on top). */
function inbox(socket: WebSocket) {
  const messages: Message[] = [];
  const state: { version: number | null; view: LiveView | null; gaps: number } = { version: null, view: null, gaps: 0 };
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data as string) as Message;
    messages.push(message);
    if (message.type === "snapshot") {
      state.version = message.version;
      state.view = message.view;
    } else if (message.type === "delta") {
      if (state.view === null || message.from !== state.version) state.gaps++;
      else {
        state.view = applyDelta(state.view, message);
        state.version = message.to;
      }
    }
  });
  const poll = async <T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(what);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return {
    messages,
    state,
    next: (accept: (m: Message) => boolean, timeoutMs = 8_000): Promise<Message> => poll(() => messages.find(accept), timeoutMs, "no matching message"),
    /** Waits until the view the messages add up to satisfies `accept`. */
    until: (accept: (view: LiveView) => boolean, timeoutMs = 8_000): Promise<LiveView> =>
      poll(() => (state.view !== null && accept(state.view) ? state.view : undefined), timeoutMs, "the view never got there"),
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

/** Registers one instance of a new service. */
async function newService(): Promise<{ service: string; id: string }> {
  const service = `ws-${crypto.randomUUID().slice(0, 8)}`;
  const registered = await registryStub(env).register({ service, target: { kind: "url", url: `http://127.0.0.1:9/${service}` }, weight: 1, metadata: { name: `${service}-1` }, ttlSeconds: 3600 });
  if (!registered.ok) throw new Error("registration failed");
  return { service, id: registered.id };
}

async function openSocket(): Promise<{ socket: WebSocket; cookie: string }> {
  const cookie = await signIn();
  const response = await connect({ cookie, origin: OWN_ORIGIN });
  expect(response.status).toBe(101);
  const socket = response.webSocket as WebSocket;
  socket.accept();
  return { socket, cookie };
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

  it("subscribes, gets a versioned snapshot of the live view, then a delta when an operator stops a service", async () => {
    const { service, id } = await newService();
    const { socket, cookie } = await openSocket();
    const messages = inbox(socket);
    const first = (await messages.next((m) => m.type === "snapshot")) as LiveSnapshot;
    expect(v.safeParse(DashboardLiveSnapshotSchema, first).success).toBe(true);
    expect(first.view.services[service]?.admin).toBe("active");
    expect(first.view.instances[id]).toMatchObject({ service, target: `http://127.0.0.1:9/${service}`, name: `${service}-1` });
    expect((await metricsStub(env).subscribers()).length).toBeGreaterThanOrEqual(1);

    const stop = await SELF.fetch(`https://orchestrator.test/admin/workers/${service}/stop`, {
      method: "POST",
      headers: { cookie, origin: "https://orchestrator.test", "cf-connecting-ip": ip() },
    });
    expect(stop.status).toBe(200);
    // The stop is pushed at once, as a delta that replaces the service's entry.
    const delta = (await messages.next((m) => m.type === "delta" && m.put?.services?.[service]?.admin === "stopped")) as LiveDelta;
    expect(v.safeParse(DashboardLiveDeltaSchema, delta).success).toBe(true);
    expect(delta.to).toBe(delta.from + 1);
    expect(messages.state.gaps).toBe(0);
    expect(messages.state.view?.services[service]?.status).toBe("stopped");
    socket.send("ping");
    await messages.next((m) => m.type === "pong");
    socket.close(1000, "done");
  });

  it("adds up to the server's view: the deltas applied to the first snapshot equal a snapshot asked for with refresh", async () => {
    const { service, id } = await newService();
    const { socket, cookie } = await openSocket();
    const messages = inbox(socket);
    await messages.next((m) => m.type === "snapshot");
    // A few changes: an instance stopped and started, a new instance, one deregistered.
    const headers = { cookie, origin: OWN_ORIGIN, "cf-connecting-ip": ip() };
    const stop = await SELF.fetch(`https://orchestrator.test/admin/workers/${service}/instances/${id}/stop`, { method: "POST", headers });
    expect(stop.status).toBe(200);
    await stop.arrayBuffer();
    await messages.until((view) => view.instances[id]?.admin === "stopped");
    const second = await registryStub(env).register({ service, target: { kind: "url", url: `http://127.0.0.1:9/${service}/2` }, weight: 2, metadata: {}, ttlSeconds: 3600 });
    if (!second.ok) throw new Error("registration failed");
    const start = await SELF.fetch(`https://orchestrator.test/admin/workers/${service}/instances/${id}/start`, { method: "POST", headers });
    expect(start.status).toBe(200);
    await start.arrayBuffer();
    const both = await messages.until((view) => view.instances[second.id]?.weight === 2 && view.instances[id]?.admin === undefined);
    expect(both.instances[id]?.admin).toBeUndefined(); // active: left out
    await registryStub(env).deregister(second.id);
    await metricsStub(env).notifyChanged();
    await messages.until((view) => view.instances[second.id] === undefined);
    expect(messages.state.gaps).toBe(0);
    // Ask for the current version whole: what the deltas added up to is that snapshot.
    const count = messages.messages.length;
    socket.send("refresh");
    const fresh = (await messages.next((m) => m.type === "snapshot" && messages.messages.indexOf(m) >= count)) as LiveSnapshot;
    const view = await messages.until(() => messages.state.version === fresh.version);
    expect(view).toEqual(fresh.view);
    socket.close(1000, "done");
  });

  it("shows a release started through the API, live and in the state; an operator's pause arrives as a small delta", async () => {
    const service = `rel-${crypto.randomUUID().slice(0, 8)}`;
    const ids: string[] = [];
    for (const version of ["v1", "v1", "v2"]) {
      const registered = await registryStub(env).register({ service, target: { kind: "url", url: `http://127.0.0.1:9/${service}/${ids.length}` }, weight: 1, metadata: {}, version, ttlSeconds: 3600 });
      if (!registered.ok) throw new Error("registration failed");
      ids.push(registered.id);
    }
    const { socket, cookie } = await openSocket();
    const messages = inbox(socket);
    await messages.next((m) => m.type === "snapshot");
    const started = await SELF.fetch(`https://orchestrator.test/admin/services/${service}/releases`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "cf-connecting-ip": ip() },
      body: JSON.stringify({ version: "v2", steps: [5, 25, 50, 100], stepIntervalSeconds: 3600, analysis: { minRequests: 20, maxErrorRatePercent: 2, maxP95VsStable: 1.5 } }),
    });
    expect(started.status).toBe(201);
    const release = (await started.json()) as ReleaseView;
    const live = await messages.until((view) => view.releases[service]?.id === release.id);
    expect(live.releases[service]).toMatchObject({ version: "v2", state: "running", stepIndex: 0, steps: [5, 25, 50, 100], weight: 5, thresholds: { minRequests: 20, maxErrorRatePercent: 2, maxP95VsStable: 1.5 } });
    expect(live.instances[ids[2] as string]?.version).toBe("v2");

    // The full state carries the release's summary, and validates against its schema.
    const stateResponse = await SELF.fetch("https://orchestrator.test/admin/dashboard/state", { headers: { cookie, "cf-connecting-ip": ip() } });
    const state = (await stateResponse.json()) as DashboardState;
    expect(v.safeParse(DashboardStateSchema, state).success).toBe(true);
    const summary = state.releases.find((r) => r.service === service);
    expect(summary).toMatchObject({ id: release.id, version: "v2", state: "running", weightPercent: 5, transitions: 1, analysis: { verdict: "pending" } });
    expect(summary?.history.map((t) => t.kind)).toEqual(["started"]);

    // Traffic on both sides (as the edge reports it): the release's entry changes, and only it.
    const reportedFrom = messages.messages.length;
    await registryStub(env).edgeSync({ isolateId: "dashboard-test", inflight: {}, outcomes: { [ids[0] as string]: Array.from({ length: 30 }, () => [200, 20, null] as const), [ids[2] as string]: Array.from({ length: 5 }, () => [200, 25, null] as const) } });
    await metricsStub(env).notifyChanged();
    await messages.until((view) => view.releases[service]?.analysis?.canary.requests === 5);
    const numbers = messages.messages.slice(reportedFrom).find((m): m is LiveDelta => m.type === "delta" && m.put?.releases?.[service] !== undefined) as LiveDelta;
    expect(v.safeParse(DashboardLiveDeltaSchema, numbers).success).toBe(true);
    console.log(`[dashboard-live] a release's new numbers: a delta of ${JSON.stringify(numbers).length} bytes`);

    // Pause from the dashboard (cookie and own origin, as the page does): pushed at once.
    const pausedFrom = messages.messages.length;
    const pause = await SELF.fetch(`https://orchestrator.test/admin/services/${service}/releases/${release.id}/pause`, { method: "POST", headers: { cookie, origin: OWN_ORIGIN, "cf-connecting-ip": ip() } });
    expect(pause.status).toBe(200);
    await pause.arrayBuffer();
    const paused = await messages.until((view) => view.releases[service]?.state === "paused");
    expect(paused.releases[service]).toMatchObject({ pausedBy: "operator", weight: 5, transitions: 2 });
    expect(paused.releases[service]?.history[0]).toMatchObject({ kind: "paused", to: "paused" });
    const pauseDelta = messages.messages.slice(pausedFrom).find((m): m is LiveDelta => m.type === "delta" && m.put?.releases?.[service]?.state === "paused") as LiveDelta;
    expect(v.safeParse(DashboardLiveDeltaSchema, pauseDelta).success).toBe(true);
    console.log(`[dashboard-live] an operator's pause: a delta of ${JSON.stringify(pauseDelta).length} bytes`);

    // Abort: weight 0, still shown (ended in the last hour).
    const abort = await SELF.fetch(`https://orchestrator.test/admin/services/${service}/releases/${release.id}/abort`, { method: "POST", headers: { cookie, origin: OWN_ORIGIN, "cf-connecting-ip": ip() } });
    expect(abort.status).toBe(200);
    await abort.arrayBuffer();
    const aborted = await messages.until((view) => view.releases[service]?.state === "aborted");
    expect(aborted.releases[service]).toMatchObject({ weight: 0, endedAt: expect.any(Number) as number });
    expect(messages.state.gaps).toBe(0);
    socket.close(1000, "done");
  });

  it("sends every socket a snapshot after a wake-up: a new object cannot know what each was sent", async () => {
    const { socket } = await openSocket();
    const messages = inbox(socket);
    const first = (await messages.next((m) => m.type === "snapshot")) as LiveSnapshot;
    // What an eviction or hibernation does: a fresh MetricsDO over the same state, whose first push goes out.
    await runInDurableObject(metricsStub(env), async (_object, state) => {
      const fresh = new MetricsDO(state, env);
      await state.blockConcurrencyWhile(async () => undefined);
      await fresh.notifyChanged();
    });
    const again = (await messages.next((m) => m.type === "snapshot" && m !== first)) as LiveSnapshot;
    expect(again.version).toBeGreaterThan(first.version);
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
