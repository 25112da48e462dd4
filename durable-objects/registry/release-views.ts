/**
 * Releases as the registry's RPC methods answer with them: the admin API's
 * ReleaseView (with the current window judged now, for an active release) and
 * the facts MetricsDO's alert rules read (core/alerts/release-rules.ts).
 * Built from memory; nothing here changes a release.
 */
import { RELEASE_ALERT_WINDOW_MS, type ReleaseFact } from "../../src/core/alerts/release-rules";
import { routedRelease } from "../../src/core/registry/release-routing";
import type { RegistryState } from "../../src/core/registry/state";
import { analyze, type Analysis } from "../../src/core/release/analysis";
import { isActive, type Release, weightOf } from "../../src/core/release/release";
import type { ReleaseAnalysisView, ReleaseSummary, ReleaseView } from "../../src/contracts/registry";

const iso = (ms: number) => new Date(ms).toISOString();

/** How long an ended release stays on the dashboard: a rollback an hour ago is still worth seeing. */
export const RELEASE_SUMMARY_WINDOW_MS = 60 * 60_000;
/** Transitions a summary carries: the dashboard lists the last few. */
export const RELEASE_SUMMARY_HISTORY = 5;

export function releaseView(state: RegistryState, release: Release, now: number): ReleaseView {
  const routed = routedRelease(state, release.service);
  return {
    id: release.id,
    service: release.service,
    version: release.spec.version,
    state: release.state,
    dryRun: release.spec.dryRun,
    stepIndex: release.stepIndex,
    weightPercent: weightOf(release),
    routedWeightPercent: routed !== null && routed.release.id === release.id ? routed.weightPercent : null,
    spec: release.spec,
    stepStartedAt: iso(release.stepStartedAt),
    judgeAt: release.judgeAt === null ? null : iso(release.judgeAt),
    inconclusiveIntervals: release.inconclusiveIntervals,
    pausedBy: release.pausedBy,
    createdAt: iso(release.createdAt),
    updatedAt: iso(release.updatedAt),
    endedAt: release.endedAt === null ? null : iso(release.endedAt),
    createdBy: release.createdBy,
    analysis: analysisView(currentAnalysis(state, release, now) ?? release.lastAnalysis),
    history: release.history.map((t) => ({ ...t, at: iso(t.at) })),
  };
}

/** An active release's window judged now (without deciding anything). */
function currentAnalysis(state: RegistryState, release: Release, now: number): Analysis | null {
  const watched = state.releaseWatches.get(release.service);
  if (!isActive(release) || watched === undefined || watched.releaseId !== release.id) return null;
  const judgeAt = release.state === "running" && release.judgeAt !== null ? release.judgeAt : Number.POSITIVE_INFINITY;
  return analyze(watched.window, release.spec.analysis, now, judgeAt);
}

function analysisView(analysis: Analysis | null): ReleaseAnalysisView | null {
  if (analysis === null) return null;
  return { ...analysis, at: iso(analysis.at), windowStartedAt: iso(analysis.windowStartedAt) };
}

/**
 * What the dashboard shows: each service's newest release while it is active
 * and for RELEASE_SUMMARY_WINDOW_MS after it ended, with its newest
 * transitions only. By service name. Only the newest of a service counts: an
 * older one ended when the newer one started, and the newer one is its story.
 */
export function releaseSummaries(state: RegistryState, now: number): ReleaseSummary[] {
  const summaries: ReleaseSummary[] = [];
  for (const list of state.releases.values()) {
    const release = list[list.length - 1];
    if (release === undefined) continue;
    if (!isActive(release) && (release.endedAt === null || now - release.endedAt > RELEASE_SUMMARY_WINDOW_MS)) continue;
    const { history, ...view } = releaseView(state, { ...release, history: release.history.slice(-RELEASE_SUMMARY_HISTORY) }, now);
    summaries.push({ ...view, history, transitions: release.history.length });
  }
  return summaries.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

/** Releases (not dry runs) that ended in the alert window, and those the controller paused. */
export function releaseFacts(state: RegistryState, now: number): ReleaseFact[] {
  const facts: ReleaseFact[] = [];
  for (const list of state.releases.values()) {
    for (const release of list) {
      if (release.spec.dryRun) continue;
      const last = release.history[release.history.length - 1];
      if (last === undefined) continue;
      const ended = (release.state === "promoted" || release.state === "rolled-back") && release.endedAt !== null && now - release.endedAt <= RELEASE_ALERT_WINDOW_MS;
      const stalled = release.state === "paused" && release.pausedBy === "controller";
      if (!ended && !stalled) continue;
      facts.push({
        service: release.service,
        version: release.spec.version,
        releaseId: release.id,
        state: release.state as ReleaseFact["state"],
        at: last.at,
        stepIndex: release.stepIndex,
        steps: release.spec.steps,
        actor: last.actor,
        detail: last.detail,
      });
    }
  }
  return facts;
}
