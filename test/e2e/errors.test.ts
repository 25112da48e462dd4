/**
 * Every error the orchestrator produces is RFC 9457 application/problem+json
 * with a stable type, a title and the status, never a stack trace.
 */
import { afterAll, describe, expect, it } from "vitest";
import { adminAuth, closedPortUrl, Fleet, gateway, putServiceSettings, readProblem, sendChunks, uniqueService } from "./upstreams";

const fleet = new Fleet();
afterAll(() => fleet.cleanup());

const PROBLEM = "urn:orchestrator:problem:";

/** Sends the path exactly as written: fetch and URL would normalise dot segments first. */
const rawRequest = (path: string) => sendChunks(path, { method: "GET" });

describe("unknown and empty services", () => {
  it("an unknown service is 404 unknown-service", async () => {
    const name = uniqueService("ghost");
    const response = await fetch(gateway(`/${name}/anything`));
    expect(response.status).toBe(404);
    const problem = await readProblem(response);
    expect(problem.type).toBe(`${PROBLEM}unknown-service`);
    expect(problem.service).toBe(name);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("a dynamic service vanishes with its last instance: registered, deregistered, then 404", async () => {
    const service = uniqueService();
    const upstream = await fleet.upstream();
    const { id } = await fleet.register(service, upstream.url);
    const before = await fetch(gateway(`/${service}/x`));
    expect(before.status).toBe(200);
    await before.arrayBuffer();

    const deleted = await fetch(gateway(`/registry/instances/${id}`), { method: "DELETE", headers: adminAuth() });
    expect(deleted.status).toBe(200);
    await deleted.arrayBuffer();

    const after = await fetch(gateway(`/${service}/x`));
    expect(after.status).toBe(404);
    expect((await readProblem(after)).type).toBe(`${PROBLEM}unknown-service`);
  });

  it("a service an operator configured stays after its last instance leaves: 503 no-available-instance with Retry-After", async () => {
    const service = uniqueService();
    const upstream = await fleet.upstream();
    const { id } = await fleet.register(service, upstream.url);
    const configured = await putServiceSettings(service, { timeoutMs: 5_000 });
    expect(configured.status).toBe(200);
    await configured.arrayBuffer();
    const deleted = await fetch(gateway(`/registry/instances/${id}`), { method: "DELETE", headers: adminAuth() });
    expect(deleted.status).toBe(200);
    await deleted.arrayBuffer();

    const response = await fetch(gateway(`/${service}/x`));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await readProblem(response)).type).toBe(`${PROBLEM}no-available-instance`);
  });

  it("a seed service with no instance (analytics, no bindings in development) is 503 with Retry-After", async () => {
    const response = await fetch(gateway("/analytics/events"));
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    const problem = await readProblem(response);
    expect(problem.type).toBe(`${PROBLEM}no-available-instance`);
    expect(problem.service).toBe("analytics");
  });
});

describe("upstream failures", () => {
  it("an upstream slower than the service's timeout is 504 upstream-timeout, answered well before the upstream", async () => {
    const service = uniqueService();
    const upstream = await fleet.upstream();
    const { id } = await fleet.register(service, upstream.url);
    const configured = await putServiceSettings(service, { timeoutMs: 300 });
    expect(configured.status).toBe(200);
    expect(((await configured.json()) as { timeoutMs: number }).timeoutMs).toBe(300);

    const started = Date.now();
    const response = await fetch(gateway(`/${service}/delay/3000`));
    const elapsed = Date.now() - started;
    expect(response.status).toBe(504);
    const problem = await readProblem(response);
    expect(problem.type).toBe(`${PROBLEM}upstream-timeout`);
    expect(problem.timeoutMs).toBe(300);
    expect(problem.instance).toBe(id);
    expect(elapsed).toBeLessThan(2_500);
  });

  it("an upstream that refuses connections is 502 upstream-unreachable", async () => {
    const service = uniqueService();
    const { id } = await fleet.register(service, await closedPortUrl());
    const response = await fetch(gateway(`/${service}/x`));
    expect(response.status).toBe(502);
    const problem = await readProblem(response);
    expect(problem.type).toBe(`${PROBLEM}upstream-unreachable`);
    expect(problem.instance).toBe(id);
    expect(JSON.stringify(problem)).not.toMatch(/at .*\.(ts|js):\d+/); // no stack trace
  });
});

describe("path hygiene", () => {
  const service = uniqueService("paths");
  let upstreamRequests = () => 0;

  it("encoded slashes, backslashes, NUL and empty segments are 400 bad-path and never reach the upstream", async () => {
    const upstream = await fleet.upstream();
    await fleet.register(service, upstream.url);
    // Active health checks probe /health on the same upstream; only proxied requests count here.
    upstreamRequests = () => upstream.received.filter((r) => r.path !== "/health").length;
    for (const path of [
      `/${service}/a%2fb`,
      `/${service}/a%2Fb`,
      `/${service}/..%2fadmin`,
      `/${service}/a%5cb`,
      `/${service}/a%00b`,
      `/${service}//x`,
      `/${service}/x//y`,
    ]) {
      const response = await rawRequest(path);
      expect(response.status, path).toBe(400);
      const problem = await readProblem(response);
      expect(problem.type, path).toBe(`${PROBLEM}bad-path`);
      expect(problem.field, path).toBe("path");
    }
    expect(upstreamRequests()).toBe(0);
  });

  // `%2e%2e` never reaches the Worker as written: workerd parses the request
  // URL with the WHATWG parser, which treats %2e%2e as "..", so the path is
  // already resolved (see the e2e report). What must hold is that no encoded
  // dot segment is ever handed to an upstream.
  it("%2e%2e segments are never forwarded to the upstream", async () => {
    for (const path of [`/${service}/%2e%2e/admin/services`, `/${service}/a/%2e%2e/%2e%2e/x`, `/${service}/%2E%2E`, `/${service}/.%2e/secret`]) {
      const response = await rawRequest(path);
      const text = await response.text();
      expect(text, path).not.toMatch(/%2e%2e/i);
      expect(response.headers.get("x-upstream-name"), path).toBeNull();
    }
    expect(upstreamRequests()).toBe(0);
  });
});

describe("orchestrator routes", () => {
  it("POST /health is 405 with Allow", async () => {
    const response = await fetch(gateway("/health"), { method: "POST" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    expect((await readProblem(response)).type).toBe(`${PROBLEM}method-not-allowed`);
  });

  it("other wrong methods on own routes are 405 with the route's Allow", async () => {
    const cases: Array<[string, string, string]> = [
      ["DELETE", "/registry/services", "GET, HEAD"],
      ["GET", "/registry/instances", "POST"],
      ["POST", "/registry/instances/some-id/heartbeat", "PUT"],
      ["POST", "/admin/services/some-name", "PUT"],
    ];
    for (const [method, path, allow] of cases) {
      const response = await fetch(gateway(path), { method });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get("allow"), `${method} ${path}`).toBe(allow);
      await readProblem(response);
    }
  });

  it("unknown orchestrator paths and the root are 404 problems", async () => {
    for (const path of ["/", "/admin/nothing-here", "/registry/elsewhere"]) {
      const response = await fetch(gateway(path));
      expect(response.status, path).toBe(404);
      expect((await readProblem(response)).type, path).toBe(`${PROBLEM}not-found`);
    }
  });
});

