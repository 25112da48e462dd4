/**
 * `npm start`'s options (scripts/lib/start-options.mjs) and its terminal
 * filter for the Worker's log lines (scripts/lib/worker-log.mjs): the ports it
 * uses come from PORT, FLEET_BASE_PORT and FLEET_CONTROL_PORT, and a 4xx
 * access line stays out of the terminal (issue #19). `--help` runs the real
 * script, which prints what it resolved without starting anything.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { resolveStartOptions } from "../../scripts/lib/start-options.mjs";
import { parseWorkerLine, showWorkerEntry, summarizeWorkerEntry } from "../../scripts/lib/worker-log.mjs";

const ROOT = new URL("../..", import.meta.url).pathname;

function options(argv: string[], env: Record<string, string | undefined> = {}) {
  const resolved = resolveStartOptions(argv, env);
  if (!resolved.ok) throw new Error(resolved.error);
  return resolved.options;
}

describe("npm start options", () => {
  it("defaults: orchestrator on 8787, fleet from 9101, its control endpoint on 9100, quiet, state kept", () => {
    expect(options([])).toEqual({ port: 8787, fleetBasePort: 9101, fleetControlPort: 9100, verbose: false, reset: false, help: false });
  });

  it("FLEET_BASE_PORT moves the fleet and, unless set itself, the control endpoint below it", () => {
    expect(options([], { FLEET_BASE_PORT: "9300" })).toMatchObject({ fleetBasePort: 9300, fleetControlPort: 9299 });
    expect(options([], { FLEET_BASE_PORT: "9300", FLEET_CONTROL_PORT: "9500", PORT: "8788" })).toMatchObject({ port: 8788, fleetBasePort: 9300, fleetControlPort: 9500 });
    expect(options([], { FLEET_BASE_PORT: "" })).toMatchObject({ fleetBasePort: 9101 });
  });

  it("flags: --verbose (or START_VERBOSE=1), --reset, --help", () => {
    expect(options(["--verbose", "--reset"])).toMatchObject({ verbose: true, reset: true });
    expect(options(["-v"])).toMatchObject({ verbose: true });
    expect(options([], { START_VERBOSE: "1" })).toMatchObject({ verbose: true });
    expect(options(["--help"])).toMatchObject({ help: true });
  });

  it("refuses what it cannot use, naming it", () => {
    expect(resolveStartOptions(["--verbos"], {})).toEqual({ ok: false, error: 'unknown option "--verbos" (try --help)' });
    expect(resolveStartOptions([], { FLEET_BASE_PORT: "91o1" })).toMatchObject({ ok: false, error: expect.stringContaining("FLEET_BASE_PORT") });
    expect(resolveStartOptions([], { PORT: "70000" })).toMatchObject({ ok: false, error: expect.stringContaining("PORT") });
    expect(resolveStartOptions([], { PORT: "9100" })).toMatchObject({ ok: false, error: expect.stringContaining("FLEET_CONTROL_PORT") });
  });

  it("scripts/start.mjs --help prints the ports FLEET_BASE_PORT resolves to, and starts nothing", () => {
    const out = execFileSync(process.execPath, ["scripts/start.mjs", "--help"], {
      cwd: ROOT,
      env: { ...process.env, PORT: "8790", FLEET_BASE_PORT: "9400" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(out).toContain("PORT=8790");
    expect(out).toContain("FLEET_BASE_PORT=9400");
    expect(out).toContain("FLEET_CONTROL_PORT=9399");
    expect(out).toContain(".wrangler/access.log");
  });
});

describe("the Worker's log lines in npm start's terminal", () => {
  const access = (status: number, level: string) => JSON.stringify({ level, requestId: "r", method: "GET", path: "/x", status, durationMs: 1, errorType: status >= 400 ? "urn:orchestrator:problem:not-found" : undefined });

  it("4xx access lines stay out of the terminal at any level; 5xx show; 2xx do not", () => {
    for (const level of ["info", "warn"]) expect(showWorkerEntry(parseWorkerLine(access(404, level)) as Record<string, unknown>), level).toBe(false);
    expect(showWorkerEntry(parseWorkerLine(access(429, "warn")) as Record<string, unknown>)).toBe(false);
    expect(showWorkerEntry(parseWorkerLine(access(502, "error")) as Record<string, unknown>)).toBe(true);
    expect(showWorkerEntry(parseWorkerLine(access(200, "info")) as Record<string, unknown>)).toBe(false);
  });

  it("other JSON lines show at warn and error; non-JSON lines are not the Worker's", () => {
    expect(showWorkerEntry({ level: "error", message: "rate limiter unavailable" })).toBe(true);
    expect(showWorkerEntry({ level: "warn", message: "lifecycle hook not called" })).toBe(true);
    expect(showWorkerEntry({ level: "info", message: "x" })).toBe(false);
    expect(parseWorkerLine("[wrangler:info] Ready on http://127.0.0.1:8787")).toBeNull();
    expect(parseWorkerLine("{not json")).toBeNull();
    expect(parseWorkerLine("  [1, 2]")).toBeNull();
  });

  it("reads as one short line", () => {
    expect(summarizeWorkerEntry(parseWorkerLine(access(502, "error")) as Record<string, unknown>)).toBe("error GET /x → 502 (not-found)");
    expect(summarizeWorkerEntry({ level: "error", message: "unhandled error", requestId: "r1", error: "TypeError: x" })).toBe("error unhandled error requestId=r1 error=TypeError: x");
  });
});
