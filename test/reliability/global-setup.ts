/**
 * Bundles the orchestrator once for the whole reliability project (from a
 * snapshot of the tree, see workerd-harness.ts); each test file starts its own
 * workerd from that bundle, with its own Durable Object storage.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { bundle } from "./workerd-harness";

export default async function setup(project: TestProject): Promise<() => void> {
  const work = mkdtempSync(join(tmpdir(), "orchestrator-reliability-bundle-"));
  try {
    const built = await bundle(work);
    project.provide("reliabilityBundleDir", built.dir);
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
  return () => rmSync(work, { recursive: true, force: true });
}
