/**
 * Three test projects:
 * - unit: pure logic in Node (strategies, GCRA, sketches, guards); fast, with property tests.
 * - workers: Durable Objects, alarms and RPC inside the real Workers runtime (vitest-pool-workers).
 * - e2e: a real orchestrator (wrangler dev) with real HTTP upstreams on loopback.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: ["./test/unit/vitest.config.ts", "./test/workers/vitest.config.ts", "./test/e2e/vitest.config.ts", "./test/browser/vitest.config.ts"],
  },
});
