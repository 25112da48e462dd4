import { rotatedArgMin, sanitizeInflight } from "./least-connections";
import { advanceCursor, assertNonEmpty, candidateAt } from "./round-robin";
import type { Candidate, PickFunction } from "./types";

/**
 * Expected cost of sending one more request: the instance's score (roughly its
 * effective latency, see health-score.ts) times the queue it would join,
 * divided by its weight (so operator weights and slow start's ramping weight
 * count here too). Using inflight + 1 means an idle instance still costs its
 * score, so a slow idle instance is not automatically preferred over a fast busy one.
 */
function cost(candidate: Candidate): number {
  const score = Number.isNaN(candidate.score) ? Number.POSITIVE_INFINITY : Math.max(0, candidate.score);
  const weight = Number.isFinite(candidate.weight) && candidate.weight > 0 ? candidate.weight : 1;
  return (score * (sanitizeInflight(candidate.inflight) + 1)) / weight;
}

/**
 * Picks the candidate with the lowest score * (inflight + 1). The caller
 * (pickInstance) has already narrowed candidates to the best health tier, so this
 * only ranks within it. Ties are broken by rotation, so with equal scores and no
 * load the traffic spreads evenly rather than sticking to the first instance.
 */
export const healthAware: PickFunction = (candidates, state) => {
  assertNonEmpty(candidates, "health-aware");
  const index = rotatedArgMin(candidates, state.cursor, cost);
  return {
    id: candidateAt(candidates, index).id,
    state: { cursor: advanceCursor(state.cursor), currentWeights: state.currentWeights },
  };
};
