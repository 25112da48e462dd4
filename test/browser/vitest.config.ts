import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "browser",
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/browser/**/*.test.ts"],
    environment: "node",
    // Builds the dashboard, installs Debian's chromium if needed, starts wrangler dev and the demo fleet.
    globalSetup: ["test/browser/global-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // One orchestrator and one browser serve the whole project.
    fileParallelism: false,
  },
});
