/**
 * Silences: operator-created, time-bounded mutes for alerts whose labels match
 * all of a silence's matchers. A silence is active for startsAt ≤ now < endsAt;
 * expired ones are ignored until pruned. Silences come from authenticated admins
 * only (regex matchers run in-process; there is no sandbox against a slow one).
 */
import type { LabelSet } from "./alert";
import { type Matcher, matcherProblem, matches, matchesAll } from "./labels";

export interface Silence {
  readonly id: string;
  readonly matchers: readonly Matcher[];
  readonly startsAt: number;
  readonly endsAt: number;
  readonly createdBy: string;
  readonly comment: string;
}

export const MAX_SILENCES = 1000;
const MAX_MATCHERS = 32;

/** Null when the silence is acceptable, otherwise why not. */
export function validateSilence(s: Silence): string | null {
  if (typeof s.id !== "string" || s.id.length === 0 || s.id.length > 128) return "id must be 1..128 characters";
  if (!Array.isArray(s.matchers) || s.matchers.length === 0 || s.matchers.length > MAX_MATCHERS) {
    return `a silence needs 1..${MAX_MATCHERS} matchers`;
  }
  for (const m of s.matchers) {
    const problem = matcherProblem(m);
    if (problem !== null) return problem;
  }
  // As in Alertmanager: matchers that all accept an empty label would silence nearly everything.
  if (s.matchers.every((m) => matches(m, {}))) return "at least one matcher must require a non-empty label value";
  if (!Number.isFinite(s.startsAt) || !Number.isFinite(s.endsAt) || s.endsAt <= s.startsAt) {
    return "startsAt and endsAt must be finite with endsAt > startsAt";
  }
  if (typeof s.createdBy !== "string" || s.createdBy.trim() === "") return "createdBy is required";
  if (typeof s.comment !== "string") return "comment must be a string";
  return null;
}

export function isSilenceActive(s: Silence, now: number): boolean {
  return s.startsAt <= now && now < s.endsAt;
}

/** Ids of the active silences that match the labels (empty: not silenced). */
export function silencedBy(labels: LabelSet, silences: readonly Silence[], now: number): string[] {
  return silences.filter((s) => isSilenceActive(s, now) && matchesAll(s.matchers, labels)).map((s) => s.id);
}

export type SilenceUpdate = { readonly ok: true; readonly silences: Silence[] } | { readonly ok: false; readonly error: string };

/**
 * Adds a silence, or replaces the one with the same id (how an operator edits
 * one). Rejected when invalid, already over, or when MAX_SILENCES unexpired
 * silences exist, so the stored list stays bounded.
 */
export function addSilence(silences: readonly Silence[], silence: Silence, now: number): SilenceUpdate {
  const problem = validateSilence(silence);
  if (problem !== null) return { ok: false, error: problem };
  if (silence.endsAt <= now) return { ok: false, error: "the silence has already ended" };
  const others = pruneSilences(silences, now).filter((s) => s.id !== silence.id);
  if (others.length >= MAX_SILENCES) return { ok: false, error: `too many silences (limit ${MAX_SILENCES})` };
  return { ok: true, silences: [...others, silence] };
}

/** Ends a silence now (kept, expired, until pruned). Unknown id: unchanged. */
export function expireSilence(silences: readonly Silence[], id: string, now: number): Silence[] {
  return silences.map((s) => (s.id === id && s.endsAt > now ? { ...s, endsAt: Math.max(now, s.startsAt) } : s));
}

/** Drops silences that have ended. */
export function pruneSilences(silences: readonly Silence[], now: number): Silence[] {
  return silences.filter((s) => s.endsAt > now);
}
