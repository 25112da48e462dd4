/**
 * A release row's JSON back into a Release (core/release/release.ts). A row
 * that is not a release this version can run (hand-edited, or written by a
 * future version with another shape) is skipped rather than trusted: a
 * release the controller misreads could route traffic wrongly.
 */
import { type Release, RELEASE_STATES } from "../../src/core/release/release";
import { releaseSpecProblems, type ReleaseSpec } from "../../src/core/release/spec";

export function parseStoredRelease(json: string): Release | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const r = parsed as Partial<Record<keyof Release, unknown>>;
  const spec = r.spec as ReleaseSpec | undefined;
  if (typeof r.id !== "string" || typeof r.service !== "string" || typeof r.createdBy !== "string") return null;
  if (typeof spec !== "object" || spec === null || !Array.isArray(spec.steps) || typeof spec.analysis !== "object" || releaseSpecProblems(spec).length > 0) return null;
  if (!RELEASE_STATES.some((state) => state === r.state)) return null;
  if (!Number.isInteger(r.stepIndex) || (r.stepIndex as number) < 0 || (r.stepIndex as number) >= spec.steps.length) return null;
  if (![r.stepStartedAt, r.createdAt, r.updatedAt].every((t) => typeof t === "number" && Number.isFinite(t))) return null;
  return {
    ...(parsed as Release),
    judgeAt: typeof r.judgeAt === "number" ? r.judgeAt : null,
    endedAt: typeof r.endedAt === "number" ? r.endedAt : null,
    inconclusiveIntervals: typeof r.inconclusiveIntervals === "number" ? r.inconclusiveIntervals : 0,
    pausedBy: r.pausedBy === "operator" || r.pausedBy === "controller" ? r.pausedBy : null,
    history: Array.isArray(r.history) ? (r.history as Release["history"]) : [],
    lastAnalysis: typeof r.lastAnalysis === "object" ? (r.lastAnalysis as Release["lastAnalysis"]) : null,
  };
}
