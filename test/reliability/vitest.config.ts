import { defineProject } from "vitest/config";

/**
 * Reliability: the orchestrator on plain workerd (Durable Objects on disk)
 * under crashes, races and bad input. Files run one after another: each starts
 * its own workerd, and on 2 cores two at once would starve each other's timing.
 * The long runs are `npm run fuzz` and `npm run soak`, not part of this project.
 */
export default defineProject({
  test: {
    name: "reliability",
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/reliability/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/reliability/global-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
