/** Without DEV_MODE the debug endpoints do not exist, not even behind the admin key. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { redactedConfig } from "../../src/routes/debug";

describe("debug endpoints", () => {
  it.each(["/debug/config", "/debug/registry"])("%s answers 404 without DEV_MODE, with or without the key", async (path) => {
    const withAndWithoutKey: Record<string, string>[] = [{}, { authorization: "Bearer test-admin-key-0123456789" }];
    for (const headers of withAndWithoutKey) {
      const response = await SELF.fetch(`https://orchestrator.test${path}`, { headers: { ...headers, "cf-connecting-ip": "198.18.20.1" } });
      expect(response.status).toBe(404);
    }
  });

  it("redacts secrets from the config view", () => {
    const view = redactedConfig(parseConfig({ ORCHESTRATOR_API_KEY: "super-secret-key", REGISTRATION_TOKEN: "reg-secret", DEV_MODE: "true" }));
    const text = JSON.stringify(view);
    expect(text).not.toContain("super-secret-key");
    expect(text).not.toContain("reg-secret");
    expect(view.apiKey).toBe("[redacted]");
    expect(view.devMode).toBe(true);
  });
});
