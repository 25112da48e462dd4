import { describe, expect, it } from "vitest";
import { type BatchResult, type Probe, type RoundPlan, SweepRounds, decideRound, planDueTargets, roundDeadline } from "../../src/core/health/index";

const NOW = 1_700_000_000_000;
const PASS: Probe = { ok: true, kind: "pass", latencyMs: 10 };
const FAIL: Probe = { ok: false, kind: "timeout", latencyMs: null, error: "no answer" };
const plan = (shard: number, ids: string[], vantagePoints = ["wnam", "enam", "weur"]): RoundPlan => ({ round: NOW, shard, vantagePoints, deadline: NOW + 10_000, ids });
const results = (probe: Probe, ...ids: string[]): BatchResult[] => ids.map((id) => ({ id, at: NOW + 100, probe }));

describe("SweepRounds", () => {
  it("a round completes when every vantage point has answered, and frees its instances", () => {
    const book = new SweepRounds();
    book.start(plan(0, ["a", "b"]));
    expect(book.isInFlight("a")).toBe(true);
    expect(book.add({ ...plan(0, ["a", "b"]), vantagePoint: "wnam", results: results(PASS, "a", "b") }, NOW + 200).kind).toBe("waiting");
    expect(book.add({ ...plan(0, ["a", "b"]), vantagePoint: "enam", results: results(PASS, "a", "b") }, NOW + 200).kind).toBe("waiting");
    const done = book.add({ ...plan(0, ["a", "b"]), vantagePoint: "weur", results: results(FAIL, "a", "b") }, NOW + 300);
    expect(done.kind).toBe("complete");
    expect(book.openCount()).toBe(0);
    if (done.kind !== "complete") return;
    // Still in flight until its decision is applied and the round released.
    expect(book.isInFlight("a")).toBe(true);
    book.release(done.round);
    expect(book.isInFlight("a")).toBe(false);
    // weur failed everything, and had been failing for a while before this round.
    const decision = decideRound(done.round, (v) => (v === "weur" ? 10 : 0));
    expect(decision.discounted).toEqual(["weur"]);
    expect(decision.verdicts.map((v) => [v.id, v.verdict, v.at])).toEqual([
      ["a", "pass", NOW + 100],
      ["b", "pass", NOW + 100],
    ]);
  });

  it("at its deadline a round closes with the batches it has; the silent vantage point is missing", () => {
    const book = new SweepRounds();
    book.start(plan(3, ["a"]));
    book.add({ ...plan(3, ["a"]), vantagePoint: "wnam", results: results(FAIL, "a") }, NOW + 100);
    book.add({ ...plan(3, ["a"]), vantagePoint: "enam", results: results(FAIL, "a") }, NOW + 100);
    expect(book.nextDeadline()).toBe(NOW + 10_000);
    expect(book.expire(NOW + 9_999)).toEqual([]);
    const [expired] = book.expire(NOW + 10_000);
    expect(expired).toBeDefined();
    const decision = decideRound(expired as NonNullable<typeof expired>);
    expect(decision.missing).toEqual(["weur"]);
    expect(decision.verdicts[0]?.verdict).toBe("fail");
    book.release(expired as NonNullable<typeof expired>);
    expect(book.isInFlight("a")).toBe(false);
    expect(book.nextDeadline()).toBeNull();
  });

  it("a batch after its round closed is late and has no vote", () => {
    const book = new SweepRounds();
    book.start(plan(0, ["a"], ["local"]));
    expect(book.add({ ...plan(0, ["a"], ["local"]), vantagePoint: "local", results: results(PASS, "a") }, NOW + 1).kind).toBe("complete");
    // The same batch again (a retried alarm): late.
    expect(book.add({ ...plan(0, ["a"], ["local"]), vantagePoint: "local", results: results(PASS, "a") }, NOW + 2).kind).toBe("late");
    // A batch for a round nobody knows, past its deadline: late.
    expect(new SweepRounds().add({ ...plan(1, ["b"], ["local"]), vantagePoint: "local", results: results(PASS, "b") }, NOW + 20_000).kind).toBe("late");
  });

  it("a batch for a round the coordinator forgot (it restarted) reopens the round", () => {
    const book = new SweepRounds();
    const outcome = book.add({ ...plan(2, ["a"], ["local"]), vantagePoint: "local", results: results(PASS, "a") }, NOW + 1);
    expect(outcome.kind).toBe("complete");
  });
});

describe("planDueTargets", () => {
  const target = (id: string, lastCheckAt: number | null, intervalMs = 30_000, probeNow = false) => ({ id, lastCheckAt, intervalMs, probeNow, timeoutMs: 5_000 });
  const noJitter = () => 0.5;

  it("plans each target on its own interval", () => {
    const targets = [target("healthy", NOW - 10_000), target("unhealthy", NOW - 5_000, 5_000), target("new", null)];
    const plan = planDueTargets(targets, NOW, 30_000, noJitter, () => false);
    expect(plan.due.map((t) => t.id)).toEqual(["unhealthy", "new"]);
    expect(plan.nextAt).toBe(NOW + 5_000);
  });

  it("a target that asked for a probe is due at once; one in flight is not handed out again", () => {
    const targets = [target("asked", NOW - 1_000, 5_000, true), target("busy", NOW - 60_000)];
    const plan = planDueTargets(targets, NOW, 30_000, noJitter, (id) => id === "busy");
    expect(plan.due.map((t) => t.id)).toEqual(["asked"]);
    expect(plan.nextAt).toBe(NOW + 4_500);
  });

  it("an empty fleet keeps ticking at the default interval", () => {
    expect(planDueTargets([], NOW, 30_000, noJitter, () => false)).toEqual({ due: [], nextAt: NOW + 30_000 });
  });
});

describe("roundDeadline", () => {
  it("allows every probe to time out six at a time, one timeout more, and a second of grace", () => {
    const targets = Array.from({ length: 13 }, () => ({ timeoutMs: 5_000 }));
    expect(roundDeadline(targets, NOW)).toBe(NOW + (3 + 1) * 5_000 + 1_000);
  });
});

describe("one round per shard at a time", () => {
  it("a shard with a round open is busy until that round closes", () => {
    const rounds = new SweepRounds();
    rounds.start({ round: NOW, shard: 3, vantagePoints: ["a"], deadline: NOW + 5_000, ids: ["x"] });
    rounds.start({ round: NOW, shard: 5, vantagePoints: ["a"], deadline: NOW + 5_000, ids: ["y"] });
    expect([...rounds.busyShards()].sort()).toEqual([3, 5]);
    const outcome = rounds.add({ round: NOW, shard: 3, vantagePoints: ["a"], deadline: NOW + 5_000, ids: ["x"], vantagePoint: "a", results: [] }, NOW + 100);
    expect(outcome.kind).toBe("complete");
    expect([...rounds.busyShards()]).toEqual([5]);
    rounds.expire(NOW + 5_000);
    expect(rounds.busyShards().size).toBe(0);
  });
});
