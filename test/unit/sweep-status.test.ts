/**
 * LoopStatus's view of sweeps split over shards and vantage points: the last
 * sweep as handed out, and the last one whose rounds have all been decided,
 * summed over them (durable-objects/metrics/sweep-status.ts).
 */
import { describe, expect, it } from "vitest";
import { SweepStatus } from "../../durable-objects/metrics/sweep-status";

const T = 1_700_000_000_000;
const kick = (probed: number, rounds: number) => ({ probed, shards: 4, rounds, inFlight: 0, nextAt: T + 30_000 });
const decision = (counted: string[], discounted: string[] = [], missing: string[] = [], verdicts = 2) => ({
  verdicts: Array.from({ length: verdicts }, (_, i) => ({ id: `i${i}`, at: T, verdict: "pass" as const, probe: null, passVotes: 1, failVotes: 0 })),
  counted,
  discounted,
  missing,
});
const perVantage = (names: string[], failed = 0) => new Map(names.map((n) => [n, { probes: 2, failed }]));

describe("SweepStatus", () => {
  it("completes a sweep when its last round is decided, with registry calls and per-vantage-point counts", () => {
    const status = new SweepStatus();
    status.started(T, kick(4, 2));
    expect(status.lastSweepProbed).toBe(4);
    expect(status.lastSweepShards).toBe(4);
    expect(status.lastCompletedSweep).toBeNull();
    status.roundDecided(T, decision(["wnam", "enam"], ["weur"]), perVantage(["wnam", "enam", "weur"]), true, T + 300);
    expect(status.lastCompletedSweep).toBeNull();
    status.roundDecided(T, decision(["wnam", "enam", "weur"]), perVantage(["wnam", "enam", "weur"]), true, T + 900);
    expect(status.lastCompletedSweep).toMatchObject({ at: T, probed: 4, rounds: 2, decided: 4, registryCalls: 3, durationMs: 900 });
    expect(status.lastCompletedSweep?.vantagePoints.find((v) => v.name === "weur")).toEqual({ name: "weur", answered: 2, missing: 0, discounted: 1, probes: 4, failed: 0 });
    expect(status.lastSweepDurationMs).toBe(900);
  });

  it("a round nobody answered costs no registry call and shows the vantage points missing", () => {
    const status = new SweepStatus();
    status.started(T, kick(1, 1));
    status.roundDecided(T, decision([], [], ["wnam", "enam"], 0), new Map(), false, T + 5_000);
    expect(status.lastCompletedSweep).toMatchObject({ registryCalls: 1, decided: 0 });
    expect(status.lastCompletedSweep?.vantagePoints.map((v) => [v.name, v.missing])).toEqual([
      ["wnam", 1],
      ["enam", 1],
    ]);
  });

  it("an empty sweep moves lastSweepAt but keeps the last completed sweep", () => {
    const status = new SweepStatus();
    status.started(T, kick(1, 1));
    status.roundDecided(T, decision(["local"]), perVantage(["local"]), true, T + 100);
    status.started(T + 1_000, kick(0, 0));
    expect(status.lastSweepAt).toBe(T + 1_000);
    expect(status.lastSweepProbed).toBe(0);
    expect(status.lastCompletedSweep?.at).toBe(T);
    expect(status.lastSweepDurationMs).toBe(100);
  });

  it("keeps the newest events first", () => {
    const status = new SweepStatus();
    status.addEvents([
      { instanceId: "a", service: "s", at: 1, type: "recovered" },
      { instanceId: "b", service: "s", at: 2, type: "recovered" },
    ]);
    expect(status.recentEvents.map((e) => e.instanceId)).toEqual(["b", "a"]);
  });
});
