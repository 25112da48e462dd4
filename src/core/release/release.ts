/**
 * A release as the registry remembers it (persisted whole, as JSON): its
 * spec, where it is in its state machine, and its history of transitions.
 *
 *   running ──pass at the end of a step──> running (next step)
 *      │    ──pass into the 100 % step───> promoted
 *      │    ──a threshold crossed────────> rolled-back     (weight 0 at once)
 *      │    ──3 inconclusive intervals───> paused (by the controller)
 *      │    ──operator: pause / promote / abort──> paused / promoted / aborted
 *   paused ──a threshold crossed─────────> rolled-back     (the canary still takes traffic)
 *      │    ──operator: resume / promote / abort──> running (a fresh window) / promoted / aborted
 *   promoted, rolled-back, aborted: final.
 *
 * "rolled-back" is the controller's decision; "aborted" is an operator's.
 * controller.ts makes every transition; this file holds the shapes and the
 * weight a state routes.
 */
import type { Analysis } from "./analysis";
import { type ReleaseSpec, stepWeight } from "./spec";

export const RELEASE_STATES = ["running", "paused", "promoted", "rolled-back", "aborted"] as const;
export type ReleaseState = (typeof RELEASE_STATES)[number];

export const TRANSITION_KINDS = ["started", "advanced", "extended", "paused", "resumed", "promoted", "rolled-back", "aborted"] as const;
/** `extended`: the step ended inconclusive and runs one more interval (not a change of state). */
export type TransitionKind = (typeof TRANSITION_KINDS)[number];

/** Who made a transition: an admin key's fingerprint, or the controller. */
export const RELEASE_CONTROLLER = "release-controller";

export interface Transition {
  readonly at: number;
  readonly kind: TransitionKind;
  readonly from: ReleaseState | null;
  readonly to: ReleaseState;
  readonly stepIndex: number;
  /** The canary's weight after it (what the edge routes; in a dry run, what it would route). */
  readonly weightPercent: number;
  readonly actor: string;
  readonly detail: string;
}

export interface Release {
  readonly id: string;
  readonly service: string;
  readonly spec: ReleaseSpec;
  readonly state: ReleaseState;
  readonly stepIndex: number;
  /** When the current step's window began (the step's start, or its resumption). */
  readonly stepStartedAt: number;
  /** Running: when the step is next judged (its end, pushed back by each inconclusive interval). Null otherwise. */
  readonly judgeAt: number | null;
  /** Consecutive inconclusive ends of the current step. */
  readonly inconclusiveIntervals: number;
  /** Paused: by an operator, or by the controller after too many inconclusive intervals. */
  readonly pausedBy: "operator" | "controller" | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When it reached a final state. */
  readonly endedAt: number | null;
  readonly createdBy: string;
  /** The analysis behind the last automatic transition (its numbers stay readable after the window is gone). */
  readonly lastAnalysis: Analysis | null;
  /** Oldest first, the newest MAX_HISTORY kept. */
  readonly history: readonly Transition[];
}

export const MAX_HISTORY = 100;

export function isActive(release: Release): boolean {
  return release.state === "running" || release.state === "paused";
}

/** The canary's weight in this state: the step's while running or paused, 100 once promoted, 0 once rolled back or aborted. */
export function weightOf(release: Pick<Release, "spec" | "state" | "stepIndex">): number {
  switch (release.state) {
    case "running":
    case "paused":
      return stepWeight(release.spec, release.stepIndex);
    case "promoted":
      return 100;
    case "rolled-back":
    case "aborted":
      return 0;
  }
}

export function withTransition(release: Release, transition: Transition): readonly Transition[] {
  const history = [...release.history, transition];
  return history.length > MAX_HISTORY ? history.slice(history.length - MAX_HISTORY) : history;
}
