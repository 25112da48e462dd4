/**
 * What the loop remembers about its health sweeps, for LoopStatus (shown on
 * the dashboard): the last sweep and the latest health events. In memory
 * only: after a restart the next sweep fills it in again.
 */
import type { InstanceHealthEvent } from "../../src/contracts/registry";
import type { SweepResult } from "./health-sweep";

/** Enough history for the dashboard's event list without growing with the fleet's age. */
const MAX_RECENT_EVENTS = 200;

export interface SweepStatus {
  readonly lastSweepAt: number | null;
  readonly lastSweepProbed: number;
  /** Only sweeps that probed something count: an empty one says nothing about how long probing takes. */
  readonly lastSweepDurationMs: number | null;
  /** Newest first. */
  readonly recentEvents: InstanceHealthEvent[];
}

export const NO_SWEEP_YET: SweepStatus = { lastSweepAt: null, lastSweepProbed: 0, lastSweepDurationMs: null, recentEvents: [] };

/** The status after a sweep that started at `startedAt` and is finished at `finishedAt`. */
export function afterSweep(status: SweepStatus, sweep: SweepResult, startedAt: number, finishedAt: number): SweepStatus {
  return {
    lastSweepAt: startedAt,
    lastSweepProbed: sweep.probed,
    lastSweepDurationMs: sweep.probed > 0 ? finishedAt - startedAt : status.lastSweepDurationMs,
    recentEvents: sweep.events.length === 0 ? status.recentEvents : [...sweep.events.slice().reverse(), ...status.recentEvents].slice(0, MAX_RECENT_EVENTS),
  };
}
