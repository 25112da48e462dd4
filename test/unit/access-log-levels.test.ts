/**
 * The access log's levels (issue #19): 5xx lines are "error", everything else
 * "info", 4xx included, so a filter at warn shows failures only and a client's
 * mistakes never read as warnings. A 502/504 line says why the instance gave no
 * answer (`upstreamError`, class first): the one line the Worker writes about
 * that failure.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config";
import { logAccess, noteUpstreamError } from "../../src/middleware/response";
import type { RequestMeta } from "../../src/routes/context";

function meta(): RequestMeta {
  return {
    config: parseConfig({}),
    requestId: "req-12345678",
    trace: { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", parentId: null, sampled: false, tracestate: null },
    receivedAt: Date.now(),
    url: new URL("https://orchestrator.example/api/users"),
    clientIp: "203.0.113.7",
    connectingIp: "203.0.113.7",
    authorization: null,
    headersToDrop: [],
  } as unknown as RequestMeta;
}

function logged(status: number, m: RequestMeta = meta()): Record<string, unknown> {
  const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
  logAccess(new Request(m.url), new Response(null, { status }), m);
  const line = JSON.parse(String(log.mock.calls[0]?.[0])) as Record<string, unknown>;
  log.mockRestore();
  return line;
}

describe("access log levels", () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    [200, "info"],
    [304, "info"],
    [400, "info"],
    [401, "info"],
    [404, "info"],
    [429, "info"],
    [500, "error"],
    [502, "error"],
    [504, "error"],
  ])("%i is logged at %s", (status, level) => {
    expect(logged(status).level).toBe(level);
  });

  it("never writes warn", () => {
    for (let status = 200; status < 600; status += 7) expect(logged(status).level).not.toBe("warn");
  });

  it("a 502 line carries the upstream error noted for its request, and only that request's", () => {
    const failed = meta();
    noteUpstreamError(failed, "dns: lookup failed for nx-host.invalid");
    expect(logged(502, failed)).toMatchObject({ level: "error", status: 502, upstreamError: "dns: lookup failed for nx-host.invalid" });
    expect(logged(502)).not.toHaveProperty("upstreamError");
  });
});
