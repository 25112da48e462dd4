import type { TestProject } from "vitest/node";
import { startControllableUpstream } from "./upstream-server";

// ProvidedContext["upstreamPort"] is declared in env.d.ts.
export default async function setup(project: TestProject) {
  const upstream = await startControllableUpstream();
  project.provide("upstreamPort", upstream.port);
  return async () => upstream.close();
}
