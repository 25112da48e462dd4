/**
 * A service's retries in flight (the retry budget's count) follow its
 * instances: when an instance leaves with retry leases still out, those
 * retries stop counting, since their leases go with it.
 */
import { describe, expect, it } from "vitest";
import { acquireLease } from "../../src/core/registry/leases";
import { deregisterInstance, registerInstance } from "../../src/core/registry/registration";
import { applyServiceSettings } from "../../src/core/registry/service-settings";
import { emptyRegistry } from "../../src/core/registry/state";
import { ANY_URL, REGISTRY_CONFIG as config } from "./support/registry";

describe("retries in flight", () => {
  it("an instance removed with retry leases out gives them back to the service's budget", () => {
    const now = 1_700_000_000_000;
    const state = emptyRegistry();
    applyServiceSettings(state, "pay", { strategy: "round-robin" }, now, ANY_URL);
    for (const port of [9301, 9302]) {
      const registered = registerInstance(state, { service: "pay", target: { kind: "url", url: `http://127.0.0.1:${port}/` }, weight: 1, metadata: {} }, `pay-${port}`, now, config, ANY_URL);
      expect(registered.ok).toBe(true);
    }
    const retry = acquireLease(state, "pay", { retry: true }, now, config);
    expect(retry.ok && retry.isRetry).toBe(true);
    expect(state.services.get("pay")?.activeRetries).toBe(1);
    if (!retry.ok) return;
    expect(deregisterInstance(state, retry.instance.id, null).ok).toBe(true);
    expect(state.services.get("pay")?.activeRetries).toBe(0);
  });
});
