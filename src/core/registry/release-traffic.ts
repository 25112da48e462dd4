/**
 * Every finished request of a service with an active release counts in that
 * release's window (core/release/analysis.ts): on the canary side when its
 * instance has the release's version, on the stable side otherwise. The edge
 * reports mirrored copies as outcomes of canary instances, so they count too.
 * Called for every outcome (outcomes.ts), so it does a map lookup and a few
 * additions, nothing more.
 */
import { recordSideOutcome } from "../release/analysis";
import type { ReleaseOutcome } from "./inputs";
import type { InstanceRecord } from "./records";
import type { RegistryState } from "./state";

export function recordReleaseOutcome(state: RegistryState, instance: InstanceRecord, outcome: ReleaseOutcome): void {
  const watched = state.releaseWatches.get(instance.service);
  // A client that went away tells nothing about either side.
  if (watched === undefined || outcome.failure === "aborted") return;
  const failed = outcome.failure !== null || (outcome.status !== null && outcome.status >= 500);
  const side = instance.version === watched.version ? watched.window.canary : watched.window.stable;
  recordSideOutcome(side, failed, outcome.failure === null ? outcome.durationMs : null);
}
