import type { Candidate, PickFunction } from "./types";

/*
 * Rotation primitives shared with the other strategies (they use the cursor as a
 * tie-breaker). Not re-exported from index.ts: implementation details.
 */

/**
 * Persisted state can outlive code versions or be hand-edited, so a cursor that is
 * not a safe non-negative integer is treated as a fresh start instead of letting
 * NaN or a negative index leak into array access.
 */
export function normalizeCursor(cursor: number): number {
  return Number.isSafeInteger(cursor) && cursor >= 0 ? cursor : 0;
}

/**
 * The cursor only ever grows by one per pick; wrapping before it leaves the safe
 * integer range keeps `cursor + 1` exact forever. The one-off rotation jump at the
 * wrap is irrelevant next to 2^53 picks.
 */
export function advanceCursor(cursor: number): number {
  const c = normalizeCursor(cursor);
  return c >= Number.MAX_SAFE_INTEGER ? 0 : c + 1;
}

/**
 * PickFunction has no "nothing to pick" result; pickInstance guards the empty case,
 * so reaching this is a caller bug worth failing loudly on.
 */
export function assertNonEmpty(candidates: readonly Candidate[], strategy: string): void {
  if (candidates.length === 0) {
    throw new RangeError(`${strategy}: cannot pick from an empty candidate list`);
  }
}

/** Reads an index that the caller has already bounds-checked, satisfying strict indexing. */
export function candidateAt(candidates: readonly Candidate[], index: number): Candidate {
  const candidate = candidates[index];
  if (candidate === undefined) {
    throw new RangeError(`candidate index ${index} out of range (n=${candidates.length})`);
  }
  return candidate;
}

/**
 * Even rotation over the candidates: picks `candidates[cursor % n]` and advances the
 * cursor by one. The cursor is kept absolute rather than reduced mod n because n
 * changes between picks (instances join, leave or flip health) and the state must
 * stay meaningful for any list length without remembering the previous one.
 */
export const roundRobin: PickFunction = (candidates, state) => {
  assertNonEmpty(candidates, "round-robin");
  const cursor = normalizeCursor(state.cursor);
  const chosen = candidateAt(candidates, cursor % candidates.length);
  return {
    id: chosen.id,
    state: { cursor: advanceCursor(cursor), currentWeights: state.currentWeights },
  };
};
