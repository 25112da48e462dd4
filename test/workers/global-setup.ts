import type { TestProject } from "vitest/node";
import { startControllableUpstream, TEST_LIFECYCLE_HOOK_SECRET } from "./upstream-server";

// ProvidedContext is declared in provided-context.d.ts.
export default async function setup(project: TestProject) {
  const upstream = await startControllableUpstream();
  project.provide("upstreamPort", upstream.port);
  project.provide("lifecycleHookSecret", TEST_LIFECYCLE_HOOK_SECRET);
  return async () => upstream.close();
}
