/**
 * Every setting is declared once (src/config.ts SETTINGS); .dev.vars.example
 * and the tables of docs/configuration.md are rendered from that declaration
 * and must match it. `npm run docs:settings` (SETTINGS_DOCS=write) rewrites
 * them instead of checking.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { EnvSchema, SETTINGS } from "../../src/config";
import { renderDevVarsExample, renderSecretsTable, renderSettingsTable, replaceBetweenMarkers } from "../support/settings-docs";

const ROOT = new URL("../..", import.meta.url).pathname;
const write = process.env.SETTINGS_DOCS === "write";

function check(path: string, expected: string): void {
  const file = join(ROOT, path);
  if (write) writeFileSync(file, expected);
  // Compared as text, so a failure shows the lines that differ. Fix: `npm run docs:settings`.
  expect(readFileSync(file, "utf8"), `${path} is out of date with src/config.ts; run npm run docs:settings`).toBe(expected);
}

describe("settings documentation comes from the declarations", () => {
  it(".dev.vars.example", () => {
    check(".dev.vars.example", renderDevVarsExample());
  });

  it("docs/configuration.md's secrets and settings tables", () => {
    const path = join(ROOT, "docs/configuration.md");
    let text = readFileSync(path, "utf8");
    text = replaceBetweenMarkers(text, "secrets-table", renderSecretsTable());
    text = replaceBetweenMarkers(text, "settings-table", renderSettingsTable());
    check("docs/configuration.md", text);
  });
});

describe("the declarations", () => {
  it("every environment variable the schema reads is declared, and each declared default is the value applied when unset", () => {
    expect(Object.keys(EnvSchema.entries).sort()).toEqual(Object.keys(SETTINGS).sort());
    const defaults = v.parse(EnvSchema, {});
    for (const [name, setting] of Object.entries(SETTINGS)) {
      const fallback = (setting.schema as { default?: unknown }).default;
      if (typeof fallback !== "string" || !/^\d/.test(fallback)) continue;
      // Numeric settings document the number the schema falls back to.
      expect(setting.default.startsWith(String((defaults as Record<string, unknown>)[name])), name).toBe(true);
    }
  });

  it("every declaration has a sentence of documentation", () => {
    for (const [name, setting] of Object.entries(SETTINGS)) expect(setting.doc.length, name).toBeGreaterThan(10);
  });
});
