import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "e2e",
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/e2e/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // One orchestrator serves every file; files run one after another so that
    // timing-sensitive checks (timeouts, TTLs) are not starved on 2 cores.
    fileParallelism: false,
  },
});
