/**
 * Rate limiting through the real Worker and RateLimiterDO: seed defaults,
 * IETF headers, Retry-After, spoofing resistance, failed auth charged to the
 * admin limit, and the edge cooldown.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

let nextIp = 1;
const freshIp = () => `203.0.113.${nextIp++}`;

function get(path: string, ip: string, headers: Record<string, string> = {}) {
  return SELF.fetch(`https://orchestrator.test${path}`, { headers: { "cf-connecting-ip": ip, ...headers } });
}

/** Minimal structured-field reader for `"name";k=v;k=v`. */
function params(field: string | null): Record<string, string> {
  expect(field).not.toBeNull();
  const [name, ...rest] = (field as string).split(";");
  const out: Record<string, string> = { name: (name ?? "").replaceAll('"', "") };
  for (const part of rest) {
    const [k, v] = part.split("=");
    out[(k ?? "").trim()] = (v ?? "").trim();
  }
  return out;
}

describe("rate limiting", () => {
  // GCRA refills one request per second at 60/min, so a slow run may see one more
  // allowed per elapsed second; exact arithmetic is the unit tests' job.
  it("allows the health class 60 at once, then 429 with Retry-After and RateLimit fields", async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    const startedAt = Date.now();
    let last: Response | undefined;
    for (let i = 0; i < 65; i++) {
      last = await get("/health", ip);
      statuses.push(last.status);
      if (i === 0) {
        expect(params(last.headers.get("ratelimit-policy"))).toMatchObject({ name: "health", q: "60", w: "60" });
        expect(params(last.headers.get("ratelimit"))).toMatchObject({ name: "health", r: "59" });
      }
      await last.arrayBuffer();
    }
    const refills = Math.floor((Date.now() - startedAt) / 1000);
    const allowed = statuses.filter((s) => s === 200).length;
    expect(allowed).toBeGreaterThanOrEqual(60);
    expect(allowed).toBeLessThanOrEqual(60 + refills);
    expect(statuses.slice(0, 60).every((s) => s === 200)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    const refused = await get("/health", ip);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    expect(params(refused.headers.get("ratelimit")).r).toBe("0");
    const body = (await refused.json()) as { type: string; status: number };
    expect(body).toMatchObject({ type: "urn:orchestrator:problem:rate-limited", status: 429 });
  });

  it("keys on CF-Connecting-IP only: rotating X-Forwarded-For, X-Real-IP and Forwarded does not reset the quota", async () => {
    const ip = freshIp();
    let allowed = 0;
    const startedAt = Date.now();
    for (let i = 0; i < 70; i++) {
      const response = await get("/health", ip, {
        "x-forwarded-for": `198.51.100.${i}`,
        "x-real-ip": `198.51.100.${i}`,
        forwarded: `for=198.51.100.${i}`,
      });
      if (response.status === 200) allowed++;
      await response.arrayBuffer();
    }
    expect(allowed).toBeGreaterThanOrEqual(60);
    expect(allowed).toBeLessThanOrEqual(60 + Math.floor((Date.now() - startedAt) / 1000));
    // Another address has its own quota.
    expect((await get("/health", freshIp())).status).toBe(200);
  });

  it("keeps classes apart: using up health leaves the admin and general quotas alone", async () => {
    const ip = freshIp();
    let refusedAt = -1;
    for (let i = 0; i < 80 && refusedAt < 0; i++) {
      const response = await get("/health", ip);
      if (response.status === 429) refusedAt = i;
      await response.arrayBuffer();
    }
    expect(refusedAt).toBeGreaterThanOrEqual(60);
    const general = await get("/no-such-service/x", ip);
    expect(general.status).toBe(404);
    expect(params(general.headers.get("ratelimit-policy")).name).toBe("general");
  });

  it("failed credentials spend the failed-authentication budget (AUTH_FAILURE_LIMIT, 10/min); then even the right key is refused", async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const response = await get("/admin/services", ip, { authorization: `Bearer wrong-${i}` });
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    // (Here the admin request budget, also 10/min, is spent as well; the next test tells the two apart.)
    const right = await get("/admin/services", ip, { authorization: "Bearer test-admin-key-0123456789" });
    expect(right.status).toBe(429);
  });

  it("the budget is shared by every class: guesses on /registry lock /admin and the dashboard sign-in too (security review finding 6)", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) {
      const response = await get("/registry/services", ip, { authorization: "Bearer nope" });
      expect(response.status).toBe(401);
      await response.arrayBuffer();
    }
    const registry = await get("/registry/services", ip, { authorization: "Bearer test-registration-token" });
    expect(registry.status).toBe(429);
    await registry.arrayBuffer();
    const admin = await get("/admin/services", ip, { authorization: "Bearer test-admin-key-0123456789" });
    expect(admin.status).toBe(429);
    expect(params(admin.headers.get("ratelimit-policy")).name).toBe("auth-failures");
    expect(Number(admin.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await admin.json()) as { policy: string }).policy).toBe("auth-failures");
    const login = await SELF.fetch("https://orchestrator.test/admin/login", {
      method: "POST",
      headers: { "cf-connecting-ip": ip, "content-type": "application/x-www-form-urlencoded" },
      body: "key=test-admin-key-0123456789",
      redirect: "manual",
    });
    expect(login.status).toBe(429);
    await login.arrayBuffer();
    // Requests that present no credential are not this limiter's business.
    const health = await get("/health", ip);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
  });

  it("failed dashboard sign-ins count as failures; an admin budget spent on good requests does not block registration", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) {
      const login = await SELF.fetch("https://orchestrator.test/admin/login", {
        method: "POST",
        headers: { "cf-connecting-ip": ip, "content-type": "application/x-www-form-urlencoded" },
        body: `key=wrong-${i}`,
        redirect: "manual",
      });
      expect(login.headers.get("location")).toBe("/admin/dashboard?login=failed");
      await login.arrayBuffer();
    }
    expect((await get("/registry/services", ip, { authorization: "Bearer test-registration-token" })).status).toBe(429);

    const busy = freshIp();
    for (let i = 0; i < 10; i++) await (await get("/admin/services", busy, { authorization: "Bearer test-admin-key-0123456789" })).arrayBuffer();
    expect((await get("/admin/services", busy, { authorization: "Bearer test-admin-key-0123456789" })).status).toBe(429);
    expect((await get("/registry/services", busy, { authorization: "Bearer test-registration-token" })).status).toBe(200);
  });
});
