/**
 * Errors name their cause (issue #19): an instance whose host does not
 * resolve, one whose port refuses connections and one that never answers in
 * time each show their class, without a stack, everywhere an operator looks:
 * lastError and lastErrorClass in /health/workers, lastError in the registry's
 * instance view, the gateway breakdown in /metrics (JSON and Prometheus), the
 * 502/504 problem, and the Worker's log: one access line per failed request
 * (level error, with `upstreamError`), one line per health event.
 *
 * The upstreams are registered as in the rest of the suite: the orchestrator
 * runs with ENVIRONMENT=development, where the SSRF guard lets http and
 * loopback or private hosts through (src/core/url-guard.ts). The DNS failure
 * needs no internet: a host under `.invalid` never resolves (RFC 6761).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, inject, it } from "vitest";
import { closedPortUrl, eventually, Fleet, gateway, putServiceSettings, readProblem, serviceView, uniqueService } from "./upstreams";

const fleet = new Fleet();
afterAll(() => fleet.cleanup());

interface WorkerInstance {
  readonly id: string;
  readonly lastError: string | null;
  readonly lastErrorClass: string | null;
  readonly lastResult: string | null;
}

async function healthOf(service: string, id: string): Promise<WorkerInstance | undefined> {
  const body = (await (await fetch(gateway("/health/workers"))).json()) as { workers: Record<string, { instances: WorkerInstance[] }> };
  return body.workers[service]?.instances.find((i) => i.id === id);
}

/** Waits for the instance's last check to have failed with `cls`; returns its /health/workers entry. */
function failedWith(service: string, id: string, cls: string): Promise<WorkerInstance> {
  return eventually(async () => {
    const instance = await healthOf(service, id);
    return instance?.lastErrorClass === cls ? instance : undefined;
  }, 20_000);
}

interface Errors {
  readonly gateway: number;
  readonly timeout: number;
  readonly connect: number;
  readonly byCause: Record<string, number>;
}

/** The service's gateway breakdown in /metrics once `cause` has been counted (the edge flushes within a second). */
function countedAs(service: string, cause: string): Promise<Errors> {
  return eventually(async () => {
    const body = (await (await fetch(gateway(`/metrics/worker/${service}`))).json()) as { workers: Record<string, { errors: Errors }> };
    const errors = body.workers[service]?.errors;
    return errors !== undefined && (errors.byCause[cause] ?? 0) >= 1 ? errors : undefined;
  }, 10_000);
}

async function prometheusCount(service: string, kind: string, cause: string): Promise<number> {
  const text = await (await fetch(gateway(`/metrics/worker/${service}?format=prometheus`))).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("orchestrator_gateway_errors_total{") && line.includes(`service="${service}"`) && line.includes(`kind="${kind}",cause="${cause}"`)) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

/** The Worker's JSON lines in wrangler dev's output that mention `needle`. */
function logLines(needle: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(inject("wranglerLog"), "utf8").split("\n")) {
    const start = line.indexOf('{"level"');
    if (start < 0 || !line.includes(needle)) continue;
    out.push(JSON.parse(line.slice(start)) as Record<string, unknown>);
  }
  return out;
}

/** The access-log line of one request, once wrangler dev has written it. */
function accessLine(requestId: string): Promise<Record<string, unknown>> {
  return eventually(async () => logLines(`"requestId":"${requestId}"`).find((l) => "path" in l), 10_000);
}

/** A service checked every second (timeout 500 ms) with one instance at `url`. */
async function checkedService(prefix: string, url: string, settings: Record<string, unknown> = {}): Promise<{ service: string; id: string }> {
  const service = uniqueService(prefix);
  const configured = await putServiceSettings(service, { healthCheck: { intervalMs: 1_000, timeoutMs: 500 }, ...settings });
  expect(configured.status).toBe(201);
  await configured.arrayBuffer();
  const { id } = await fleet.register(service, url);
  return { service, id };
}

/** Proxies one GET with its own request id; returns the problem and the id. */
async function proxiedProblem(path: string, status: number): Promise<{ problem: Record<string, unknown>; requestId: string }> {
  const requestId = `e2e-errors-${randomBytes(6).toString("hex")}`;
  const response = await fetch(gateway(path), { headers: { "x-request-id": requestId } });
  expect(response.status).toBe(status);
  return { problem: await readProblem(response), requestId };
}

/** No line the Worker wrote about this instance or host carries a stack. */
function expectNoStacks(needle: string): void {
  for (const line of logLines(needle)) expect(JSON.stringify(line)).not.toMatch(/\\n\s+at |"stack"/);
}

describe("an upstream whose host does not resolve", () => {
  it("shows dns everywhere, and logs each event once, without a stack", async () => {
    const host = `e2e-${randomBytes(4).toString("hex")}.invalid`;
    const { service, id } = await checkedService("dns", `http://${host}:8080`);

    const health = await failedWith(service, id, "dns");
    expect(health.lastError).toBe(`dns: lookup failed for ${host}`);
    expect(health.lastResult).toBe("fail");
    const view = await serviceView(service);
    expect((view?.instances[0] as unknown as { activeCheck: { lastError: string } }).activeCheck.lastError).toMatch(/^dns: lookup failed for /);

    const { problem, requestId } = await proxiedProblem(`/${service}/anything`, 502);
    expect(problem).toMatchObject({ type: "urn:orchestrator:problem:upstream-unreachable", cause: "dns", detail: `${service} could not be reached (dns).` });
    expect(JSON.stringify(problem)).not.toContain(host);

    const errors = await countedAs(service, "dns");
    expect(errors.connect).toBeGreaterThanOrEqual(1);
    expect(await prometheusCount(service, "connect", "dns")).toBeGreaterThanOrEqual(1);

    const access = await accessLine(requestId);
    expect(access).toMatchObject({ level: "error", status: 502, upstreamError: `dns: lookup failed for ${host}` });
    expect(logLines(`"requestId":"${requestId}"`).filter((l) => "path" in l)).toHaveLength(1);

    // The failure threshold (2 failures) is one event: one line, naming the cause; later probes do not repeat it.
    const threshold = await eventually(async () => {
      const lines = logLines(`"instanceId":"${id}"`).filter((l) => l.type === "failure-threshold");
      return lines.length > 0 ? lines : undefined;
    }, 15_000);
    expect(threshold).toHaveLength(1);
    expect(threshold[0]).toMatchObject({ level: "warn", message: "health event", errorClass: "dns", error: `dns: lookup failed for ${host}` });
    expectNoStacks(host);
    expectNoStacks(id);
  });
});

describe("an upstream that refuses connections", () => {
  it("shows refused everywhere", async () => {
    const url = await closedPortUrl();
    const port = new URL(url).port;
    const { service, id } = await checkedService("refused", url);

    const health = await failedWith(service, id, "refused");
    expect(health.lastError).toBe(`refused: connection to 127.0.0.1:${port} refused`);
    const view = await serviceView(service);
    expect((view?.instances[0] as unknown as { activeCheck: { lastError: string } }).activeCheck.lastError).toMatch(/^refused: /);

    const { problem, requestId } = await proxiedProblem(`/${service}/anything`, 502);
    expect(problem).toMatchObject({ type: "urn:orchestrator:problem:upstream-unreachable", cause: "refused" });

    await countedAs(service, "refused");
    expect(await prometheusCount(service, "connect", "refused")).toBeGreaterThanOrEqual(1);
    expect(await accessLine(requestId)).toMatchObject({ level: "error", status: 502, upstreamError: `refused: connection to 127.0.0.1:${port} refused` });
    expectNoStacks(id);
  });
});

describe("an upstream that does not answer in time", () => {
  it("shows timeout everywhere", async () => {
    const upstream = await fleet.upstream();
    // Probes wait 500 ms for an answer that takes 5 s; proxied requests have 300 ms.
    const { service, id } = await checkedService("timeout", upstream.url, { timeoutMs: 300, healthCheck: { intervalMs: 1_000, timeoutMs: 500, path: "/delay/5000" } });

    const health = await failedWith(service, id, "timeout");
    expect(health.lastError).toBe("timeout: no answer within 500 ms");
    expect(health.lastResult).toBe("timeout");
    const view = await serviceView(service);
    expect((view?.instances[0] as unknown as { activeCheck: { lastError: string } }).activeCheck.lastError).toBe("timeout: no answer within 500 ms");

    const { problem, requestId } = await proxiedProblem(`/${service}/delay/3000`, 504);
    expect(problem).toMatchObject({ type: "urn:orchestrator:problem:upstream-timeout", cause: "timeout", timeoutMs: 300 });

    const errors = await countedAs(service, "timeout");
    expect(errors.timeout).toBeGreaterThanOrEqual(1);
    expect(await prometheusCount(service, "timeout", "timeout")).toBeGreaterThanOrEqual(1);
    expect(await accessLine(requestId)).toMatchObject({ level: "error", status: 504, upstreamError: "timeout: no answer within 300 ms" });
  });
});

describe("the access log's levels", () => {
  it("a 4xx line is info, not warn", async () => {
    const { requestId } = await proxiedProblem(`/${uniqueService("nobody")}/x`, 404);
    expect(await accessLine(requestId)).toMatchObject({ level: "info", status: 404 });
  });
});
