#!/usr/bin/env node
// Lints the OpenAPI document exactly as GET /openapi.json serves it: bundles
// src/http/openapi.ts with esbuild (wrangler's), builds the document, writes it
// to a temporary file and runs `redocly lint` on it with redocly.yaml. Offline:
// Redocly's telemetry and update check are turned off. `npm run check:openapi`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const work = mkdtempSync(join(tmpdir(), "openapi-lint-"));
try {
  const bundle = join(work, "openapi.mjs");
  await build({ entryPoints: [join(root, "src", "http", "openapi.ts")], bundle: true, platform: "node", format: "esm", target: "node22", outfile: bundle, logLevel: "warning" });
  const { buildOpenApiDocument } = await import(pathToFileURL(bundle).href);
  const document = join(work, "openapi.json");
  writeFileSync(document, JSON.stringify(buildOpenApiDocument(), null, 2));

  const cli = join(dirname(createRequire(import.meta.url).resolve("@redocly/cli/package.json")), "bin", "cli.js");
  const result = spawnSync(process.execPath, [cli, "lint", document, "--config", join(root, "redocly.yaml"), "--format", "stylish"], {
    stdio: "inherit",
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  });
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
