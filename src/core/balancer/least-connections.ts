import { advanceCursor, assertNonEmpty, candidateAt, normalizeCursor } from "./round-robin";
import type { Candidate, PickFunction } from "./types";

/* Load-ranking primitives, shared with health-aware. Not re-exported from index.ts. */

/**
 * Index of a minimum-cost candidate, breaking ties by rotation: scanning from
 * `cursor % n` and wrapping, with a strict `<`, keeps the first tied candidate at
 * or after the cursor. Without this, ties would always go to the first registered
 * instance and idle services would hammer one instance.
 *
 * NaN costs are mapped to +Infinity so a corrupt metric makes an instance the
 * least attractive rather than silently breaking every comparison.
 */
export function rotatedArgMin(
  candidates: readonly Candidate[],
  cursor: number,
  cost: (candidate: Candidate) => number,
): number {
  const n = candidates.length;
  const start = normalizeCursor(cursor) % n;
  let bestIndex = start;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let k = 0; k < n; k++) {
    const index = (start + k) % n;
    const candidate = candidates[index];
    if (candidate === undefined) continue;
    const raw = cost(candidate);
    const c = Number.isNaN(raw) ? Number.POSITIVE_INFINITY : raw;
    if (k === 0 || c < bestCost) {
      bestIndex = index;
      bestCost = c;
    }
  }
  return bestIndex;
}

/**
 * In-flight counts come from RegistryDO bookkeeping; a decrement racing a restart
 * could leave them negative, which must not make an instance look better than idle.
 */
export function sanitizeInflight(inflight: number): number {
  if (Number.isNaN(inflight)) return Number.POSITIVE_INFINITY;
  return Math.max(0, inflight);
}

/**
 * Picks an instance with the fewest in-flight requests. Ties (very common: an idle
 * service has every instance at 0) are broken by rotation from the cursor so load
 * still spreads instead of piling onto the first registered instance.
 */
export const leastConnections: PickFunction = (candidates, state) => {
  assertNonEmpty(candidates, "least-connections");
  const index = rotatedArgMin(candidates, state.cursor, (c) => sanitizeInflight(c.inflight));
  return {
    id: candidateAt(candidates, index).id,
    state: { cursor: advanceCursor(state.cursor), currentWeights: state.currentWeights },
  };
};
