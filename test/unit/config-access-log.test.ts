/**
 * ACCESS_LOG: "all" (default), "errors" (status ≥ 400 only) or "off", trimmed
 * and case-insensitive; anything else fails loudly naming the variable. And
 * logAccess, the one place that reads it, honours it.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, parseConfig } from "../../src/config";
import { logAccess } from "../../src/middleware/response";
import type { RequestMeta } from "../../src/routes/context";

describe("ACCESS_LOG", () => {
  it('defaults to "all"', () => {
    expect(parseConfig({}).accessLog).toBe("all");
  });

  it.each([
    ["all", "all"],
    ["errors", "errors"],
    ["off", "off"],
    [" Errors ", "errors"],
    ["OFF", "off"],
    ["\tAll\n", "all"],
  ])("parses %j as %j", (value, mode) => {
    expect(parseConfig({ ACCESS_LOG: value }).accessLog).toBe(mode);
  });

  it.each(["verbose", "error", "none", "all errors"])("rejects %j with a ConfigError naming ACCESS_LOG", (value) => {
    let thrown: unknown;
    try {
      parseConfig({ ACCESS_LOG: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe("ACCESS_LOG");
    expect((thrown as ConfigError).message).toMatch(/^ACCESS_LOG: .*all, errors, off/);
  });

  it("leaves the other settings alone", () => {
    const config = parseConfig({ ACCESS_LOG: "off", DEV_MODE: "true" });
    expect(config.accessLog).toBe("off");
    expect(config.devMode).toBe(true);
  });
});

describe("logAccess under each ACCESS_LOG mode", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  function metaFor(accessLog: string): RequestMeta {
    return {
      config: parseConfig({ ACCESS_LOG: accessLog }),
      requestId: "req-12345678",
      trace: { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", parentId: null, sampled: false, tracestate: null },
      receivedAt: Date.now(),
      url: new URL("https://orchestrator.example/api/services?page=2"),
      clientIp: "203.0.113.7",
      connectingIp: "203.0.113.7",
      authorization: null,
      headersToDrop: [],
    };
  }

  /** The statuses logAccess wrote a line for, in order. */
  function loggedStatuses(accessLog: string, statuses: readonly number[]): number[] {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const meta = metaFor(accessLog);
    const request = new Request(meta.url, { method: "GET" });
    for (const status of statuses) logAccess(request, new Response(null, { status }), meta);
    const lines = log.mock.calls.map((call) => JSON.parse(String(call[0])) as { status: number; requestId: string; path: string });
    for (const line of lines) {
      expect(line.requestId).toBe("req-12345678");
      expect(line.path).toBe("/api/services");
    }
    log.mockRestore();
    return lines.map((line) => line.status);
  }

  const statuses = [200, 204, 304, 399, 400, 404, 429, 500, 503];

  it('"all" logs every response', () => {
    expect(loggedStatuses("all", statuses)).toEqual(statuses);
  });

  it('"errors" logs the 4xx and 5xx responses and nothing below 400', () => {
    expect(loggedStatuses("errors", statuses)).toEqual([400, 404, 429, 500, 503]);
  });

  it('"off" logs nothing, not even a 500', () => {
    expect(loggedStatuses("off", statuses)).toEqual([]);
  });

  it("marks a 500 as an error line and a 200 as info", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const meta = metaFor("all");
    logAccess(new Request(meta.url), new Response(null, { status: 500 }), meta);
    logAccess(new Request(meta.url), new Response(null, { status: 200 }), meta);
    expect(log.mock.calls.map((call) => (JSON.parse(String(call[0])) as { level: string }).level)).toEqual(["error", "info"]);
  });
});
