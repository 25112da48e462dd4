/**
 * Health events name the cause of the failures they report (issue #19): a
 * failure-threshold event and a change to unhealthy carry the failing probe's
 * error, class first, and the class on its own; other events carry neither.
 */
import { describe, expect, it } from "vitest";
import type { Probe } from "../../src/core/health/index";
import { type InstanceHealthEvent, recordProbeResults } from "../../src/core/registry/active-checks";
import { registerInstance } from "../../src/core/registry/registration";
import { emptyRegistry } from "../../src/core/registry/state";
import { ANY_URL, REGISTRY_CONFIG as config } from "./support/registry";

const NOW = 1_700_000_000_000;
const DNS: Probe = { ok: false, kind: "fail", latencyMs: null, error: "dns: lookup failed for nx-host.invalid" };
const PASS: Probe = { ok: true, kind: "pass", latencyMs: 20 };

function eventsOf(probes: readonly Probe[]): InstanceHealthEvent[] {
  const state = emptyRegistry();
  const registered = registerInstance(state, { service: "api", target: { kind: "url", url: "http://nx-host.invalid:8080/" }, weight: 1, metadata: {} }, "api-1", NOW, config, ANY_URL);
  if (!registered.ok) throw new Error("not registered");
  const events: InstanceHealthEvent[] = [];
  probes.forEach((probe, i) => events.push(...recordProbeResults(state, [{ id: "api-1", at: NOW + i * 1000, probe }], NOW + i * 1000, config).events));
  return events;
}

describe("health events and the cause of failures", () => {
  it("failure-threshold and the change to unhealthy say why, class first; recovery says nothing of errors", () => {
    const events = eventsOf([DNS, DNS, DNS, PASS, PASS]);
    expect(events.map((e) => e.type)).toEqual(["failure-threshold", "status-changed", "status-changed", "recovered"]);
    expect(events[0]).toMatchObject({ type: "failure-threshold", consecutiveFailures: 2, error: "dns: lookup failed for nx-host.invalid", errorClass: "dns" });
    expect(events[1]).toMatchObject({ type: "status-changed", to: "unhealthy", error: "dns: lookup failed for nx-host.invalid", errorClass: "dns" });
    expect(events[2]).toEqual({ instanceId: "api-1", service: "api", at: NOW + 4000, type: "status-changed", from: "unhealthy", to: "healthy" });
  });

  it("an error written the old way still gets its class", () => {
    const events = eventsOf([{ ...DNS, error: "HTTP 503" }, { ...DNS, error: "HTTP 503" }]);
    expect(events[0]).toMatchObject({ type: "failure-threshold", error: "HTTP 503", errorClass: "http" });
  });
});
