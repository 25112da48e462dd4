import { assertNonEmpty, candidateAt, normalizeCursor } from "./round-robin";
import type { Candidate, PickFunction } from "./types";

/**
 * Weights are documented as positive integers, but operator input is not trusted:
 * a zero, negative or non-finite weight would either starve the instance forever or
 * poison the running sums with NaN/Infinity, so it falls back to the default of 1.
 */
function effectiveWeight(candidate: Candidate): number {
  const w = candidate.weight;
  return Number.isFinite(w) && w > 0 ? w : 1;
}

/**
 * Plain assignment of `obj["__proto__"] = n` is silently dropped by the prototype
 * setter; defining the property makes every instance id an ordinary own key.
 */
function setOwn(target: Record<string, number>, key: string, value: number): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Smooth weighted round-robin, as nginx implements it: every candidate's current
 * weight grows by its weight, the largest current weight wins (earliest candidate on
 * ties) and pays back the total. Compared with naive weighted rotation this
 * interleaves picks (5,1,1 gives a a b a c a a rather than a a a a a b c), so a heavy
 * instance never takes a long burst.
 *
 * Only ids present in `candidates` are kept in the returned state, so instances
 * that leave (or are filtered out as unhealthy) do not accumulate forever; a
 * returning or new id restarts at 0. With a stable candidate set the current
 * weights always sum to 0, as in nginx.
 *
 * The cursor is not advanced (this strategy's position lives in currentWeights),
 * only normalized, so every strategy hands back a usable cursor.
 */
export const weighted: PickFunction = (candidates, state) => {
  assertNonEmpty(candidates, "weighted");
  const previous = state.currentWeights;
  const next: Record<string, number> = {};
  let total = 0;
  let bestIndex = 0;
  let bestCurrent = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidateAt(candidates, i);
    const weight = effectiveWeight(candidate);
    // hasOwn, not `??` on a plain lookup: ids like "__proto__" or "constructor"
    // must not read inherited Object.prototype members.
    const stored = Object.hasOwn(previous, candidate.id) ? previous[candidate.id] : undefined;
    const base = typeof stored === "number" && Number.isFinite(stored) ? stored : 0;
    const current = base + weight;
    total += weight;
    // Strict `>` keeps the earliest candidate on ties, matching nginx.
    if (current > bestCurrent) {
      bestCurrent = current;
      bestIndex = i;
    }
    setOwn(next, candidate.id, current);
  }
  const chosen = candidateAt(candidates, bestIndex);
  setOwn(next, chosen.id, bestCurrent - total);
  return { id: chosen.id, state: { cursor: normalizeCursor(state.cursor), currentWeights: next } };
};
