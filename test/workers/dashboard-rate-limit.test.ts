/**
 * The dashboard against the rate limits, with their defaults (this project
 * does not raise them): a signed-in session's loads (page, files, state, live
 * socket) are their own class per session, so reloading never answers 429,
 * while sign-in stays `admin` and failed sign-ins still spend the
 * auth-failure budget. A forged cookie gets no bigger budget. A browser
 * refused on the dashboard page gets a page, not problem+json (issue #19).
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const KEY = "test-admin-key-0123456789";
const BASE = "https://orchestrator.test";
const OWN_ORIGIN = BASE;
const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
let nextIp = 1;
const freshIp = () => `198.18.61.${nextIp++}`;

function policyName(response: Response): string | undefined {
  return response.headers.get("ratelimit-policy")?.split(";")[0]?.replaceAll('"', "");
}

async function signIn(ip: string): Promise<string> {
  const response = await SELF.fetch(`${BASE}/admin/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip, accept: BROWSER_ACCEPT },
    body: new URLSearchParams({ key: KEY }).toString(),
    redirect: "manual",
  });
  expect(response.status).toBe(303);
  await response.arrayBuffer();
  return (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

/** One reload as the browser does it: the page, every file it names, the state, the live socket. Returns every status seen. */
async function reload(ip: string, cookie: string): Promise<{ statuses: number[]; policies: (string | undefined)[] }> {
  const statuses: number[] = [];
  const policies: (string | undefined)[] = [];
  const seen = (response: Response) => {
    statuses.push(response.status);
    policies.push(policyName(response));
  };
  const page = await SELF.fetch(`${BASE}/admin/dashboard`, { headers: { cookie, "cf-connecting-ip": ip, accept: BROWSER_ACCEPT } });
  seen(page);
  const html = await page.text();
  expect(page.status, html.slice(0, 300)).toBe(200);
  const files = [...html.matchAll(/(?:href|src)="(\/admin\/dashboard\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) {
    const response = await SELF.fetch(`${BASE}${file}`, { headers: { cookie, "cf-connecting-ip": ip } });
    seen(response);
    await response.arrayBuffer();
  }
  const state = await SELF.fetch(`${BASE}/admin/dashboard/state`, { headers: { cookie, "cf-connecting-ip": ip, accept: "application/json" } });
  seen(state);
  await state.arrayBuffer();
  const live = await SELF.fetch(`${BASE}/admin/dashboard/live`, { headers: { cookie, origin: OWN_ORIGIN, upgrade: "websocket", "cf-connecting-ip": ip } });
  seen(live);
  const socket = live.webSocket;
  if (socket) {
    socket.accept();
    socket.close(1000, "reload");
  }
  return { statuses, policies };
}

describe("dashboard traffic and the admin limit (issue #19)", () => {
  it("ten reloads in a minute from one signed-in session (page, files, state, live socket) never answer 429", async () => {
    const ip = freshIp();
    // The sign-in itself: the form page (admin, no session yet), then the POST (admin).
    const form = await SELF.fetch(`${BASE}/admin/dashboard`, { headers: { "cf-connecting-ip": ip, accept: BROWSER_ACCEPT } });
    expect(form.status).toBe(200);
    expect(policyName(form)).toBe("admin");
    await form.arrayBuffer();
    const cookie = await signIn(ip);

    const all: number[] = [];
    for (let i = 0; i < 10; i++) {
      const { statuses, policies } = await reload(ip, cookie);
      all.push(...statuses);
      expect(statuses.filter((s) => s === 429), `reload ${i + 1}: ${statuses.join(",")}`).toEqual([]);
      expect(new Set(policies)).toEqual(new Set(["dashboard"]));
    }
    // Page 200, files 200, state 200, socket 101, every time.
    expect(all.every((s) => s === 200 || s === 101)).toBe(true);
    expect(all.filter((s) => s === 101)).toHaveLength(10);

    // The admin budget (10/min per IP) is untouched by the reloads: the sign-in spent 2 of it.
    const admin = await SELF.fetch(`${BASE}/admin/services`, { headers: { cookie, "cf-connecting-ip": ip } });
    expect(admin.status).toBe(200);
    expect(policyName(admin)).toBe("admin");
    expect(admin.headers.get("ratelimit")).toMatch(/r=7\b/);
    await admin.arrayBuffer();
  });

  it("the dashboard class is per session: a second session from the same address has its own budget", async () => {
    const ip = freshIp();
    const first = await signIn(ip);
    const second = await signIn(ip);
    const a = await SELF.fetch(`${BASE}/admin/dashboard/state`, { headers: { cookie: first, "cf-connecting-ip": ip } });
    const b = await SELF.fetch(`${BASE}/admin/dashboard/state`, { headers: { cookie: second, "cf-connecting-ip": ip } });
    expect([a.status, b.status]).toEqual([200, 200]);
    // Each starts from a full bucket (300 by default), whatever the other has spent.
    expect(a.headers.get("ratelimit")).toMatch(/^"dashboard";r=299\b/);
    expect(b.headers.get("ratelimit")).toMatch(/^"dashboard";r=299\b/);
    await Promise.all([a.arrayBuffer(), b.arrayBuffer()]);
  });

  it("a forged or tampered cookie gets no bigger budget: it is counted as admin per IP, and answers 401", async () => {
    const ip = freshIp();
    const genuine = await signIn(ip);
    const [payload, signature] = genuine.slice("orch_session=".length).split(".") as [string, string];
    const tampered = `orch_session=${payload}.${signature.slice(0, -2)}${signature.endsWith("AA") ? "BB" : "AA"}`;
    for (const cookie of ["orch_session=forged.value", tampered]) {
      const state = await SELF.fetch(`${BASE}/admin/dashboard/state`, { headers: { cookie, "cf-connecting-ip": ip } });
      expect(state.status, cookie).toBe(401);
      expect(policyName(state), cookie).toBe("admin");
      await state.arrayBuffer();
      // The page without a valid session is the sign-in form, counted as admin too.
      const page = await SELF.fetch(`${BASE}/admin/dashboard`, { headers: { cookie, "cf-connecting-ip": ip, accept: BROWSER_ACCEPT } });
      expect(policyName(page), cookie).toBe("admin");
      await page.arrayBuffer();
    }
    // Without any cookie the dashboard's files stay in the general class, as before.
    const file = await SELF.fetch(`${BASE}/admin/dashboard/assets/app.js`, { headers: { "cf-connecting-ip": ip } });
    expect(policyName(file)).toBe("general");
    await file.arrayBuffer();
  });

  it("failed sign-ins are still charged: after AUTH_FAILURE_LIMIT (10) sign-in answers 429 (a page for a browser), and a session from that address is refused too", async () => {
    const ip = freshIp();
    // Signed in elsewhere: a session is not tied to an address.
    const cookie = await signIn(freshIp());
    for (let i = 0; i < 10; i++) {
      const wrong = await SELF.fetch(`${BASE}/admin/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
        body: `key=wrong-${i}`,
        redirect: "manual",
      });
      expect(wrong.status).toBe(303);
      expect(wrong.headers.get("location")).toBe("/admin/dashboard?login=failed");
      await wrong.arrayBuffer();
    }
    const browser = await SELF.fetch(`${BASE}/admin/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip, accept: BROWSER_ACCEPT },
      body: `key=${KEY}`,
      redirect: "manual",
    });
    expect(browser.status).toBe(429);
    expect(browser.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(browser.headers.get("set-cookie")).toBeNull();
    expect(Number(browser.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await browser.text()).toMatch(/<h1>Too many [a-z -]+<\/h1>/);
    const api = await SELF.fetch(`${BASE}/admin/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
      body: `key=${KEY}`,
      redirect: "manual",
    });
    expect(api.status).toBe(429);
    expect(api.headers.get("content-type")).toBe("application/problem+json");
    await api.arrayBuffer();
    // The session's loads present a credential: its own class admits them, the failure budget does not.
    const state = await SELF.fetch(`${BASE}/admin/dashboard/state`, { headers: { cookie, "cf-connecting-ip": ip } });
    expect(state.status).toBe(429);
    expect(policyName(state)).toBe("auth-failures");
    await state.arrayBuffer();
    const page = await SELF.fetch(`${BASE}/admin/dashboard`, { headers: { cookie, "cf-connecting-ip": ip, accept: BROWSER_ACCEPT } });
    expect(page.status).toBe(429);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await page.text()).toContain("<h1>Too many failed sign-ins</h1>");
  });

  it("a browser refused on the dashboard page gets an HTML page it can show; an API client gets problem+json", async () => {
    const ip = freshIp();
    let refused: Response | null = null;
    for (let i = 0; i < 20 && refused === null; i++) {
      const page = await SELF.fetch(`${BASE}/admin/dashboard`, { headers: { "cf-connecting-ip": ip, accept: BROWSER_ACCEPT } });
      if (page.status === 429) refused = page;
      else {
        expect(page.status).toBe(200);
        await page.arrayBuffer();
      }
    }
    expect(refused).not.toBeNull();
    const page = refused as Response;
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    const retryAfter = Number(page.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    const html = await page.text();
    expect(html).toContain("<h1>Too many requests</h1>");
    expect(html).toContain("The admin limit of 10 requests per 60 s is used up.");
    expect(html).toMatch(new RegExp(`<meta http-equiv="refresh" content="${retryAfter}; url=/admin/dashboard">`));
    const api = await SELF.fetch(`${BASE}/admin/dashboard`, { headers: { "cf-connecting-ip": ip, accept: "application/json" } });
    expect(api.status).toBe(429);
    expect(api.headers.get("content-type")).toBe("application/problem+json");
    expect(((await api.json()) as { policy: string }).policy).toBe("admin");
  });
});
