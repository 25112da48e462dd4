/**
 * The test projects:
 * - unit: pure logic in Node (strategies, GCRA, sketches, guards, hot-path bounds); fast, with property tests.
 * - workers: Durable Objects, alarms, RPC and WebSockets inside the real Workers runtime (@cloudflare/vitest-plugin).
 * - e2e: a real orchestrator (wrangler dev) with real HTTP upstreams on loopback, plus the bench smoke run.
 * - browser: the dashboard in Debian's Chromium, driven by playwright-core.
 * - reliability: fuzzing every endpoint, restarts without loss, concurrency, on plain workerd.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: ["./test/unit/vitest.config.ts", "./test/workers/vitest.config.ts", "./test/e2e/vitest.config.ts", "./test/browser/vitest.config.ts", "./test/reliability/vitest.config.ts"],
  },
});
