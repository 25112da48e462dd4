import { describe, expect, it } from "vitest";
import { type Probe, type VantageBatch, PARTITION_EVIDENCE, decideQuorum } from "../../src/core/health/index";

const pass = (latencyMs = 50): Probe => ({ ok: true, kind: "pass", latencyMs });
const fail: Probe = { ok: false, kind: "fail", latencyMs: null, error: "connect ECONNREFUSED" };
const timeout: Probe = { ok: false, kind: "timeout", latencyMs: null, error: "no answer within 5000 ms" };

function batch(vantagePoint: string, results: Record<string, Probe>): VantageBatch {
  return { vantagePoint, results: Object.entries(results).map(([id, probe]) => ({ id, probe })) };
}

const verdictOf = (decision: ReturnType<typeof decideQuorum>, id: string) => decision.verdicts.find((v) => v.id === id)?.verdict;

describe("decideQuorum: majority of the vantage points that answered", () => {
  it("2 of 3 passing passes, 2 of 3 failing fails", () => {
    const d = decideQuorum([
      batch("wnam", { a: pass(), b: fail }),
      batch("enam", { a: pass(), b: fail }),
      batch("weur", { a: fail, b: pass() }),
    ]);
    expect(verdictOf(d, "a")).toBe("pass");
    expect(verdictOf(d, "b")).toBe("fail");
    expect(d.counted).toEqual(["wnam", "enam", "weur"]);
    expect(d.discounted).toEqual([]);
    expect(d.verdicts.find((v) => v.id === "a")).toMatchObject({ passVotes: 2, failVotes: 1 });
  });

  it("a vantage point that did not answer has no vote: 2 answering that agree decide", () => {
    const d = decideQuorum([batch("wnam", { a: fail }), batch("enam", { a: fail })]);
    expect(verdictOf(d, "a")).toBe("fail");
  });

  it("feeds the state machine the passing probe with the median latency", () => {
    const d = decideQuorum([batch("wnam", { a: pass(30) }), batch("enam", { a: pass(300) }), batch("weur", { a: pass(90) })]);
    expect(d.verdicts[0]?.probe?.latencyMs).toBe(90);
  });

  it("a failing verdict names the vantage point after its error when there are several, so the error's class stays first", () => {
    const d = decideQuorum([batch("wnam", { a: timeout, b: pass() }), batch("enam", { a: fail, b: pass() })]);
    expect(d.verdicts[0]?.probe).toMatchObject({ ok: false, kind: "timeout", error: "no answer within 5000 ms (from wnam)" });
    const classed = decideQuorum([batch("wnam", { a: { ...fail, error: "dns: lookup failed for api.internal" } }), batch("enam", { a: fail })]);
    expect(classed.verdicts[0]?.probe?.error).toBe("dns: lookup failed for api.internal (from wnam)");
  });
});

describe("decideQuorum: a vantage point failing every probe", () => {
  it("is discounted when another vantage point reached the same instances (its own partition)", () => {
    // weur is cut off: every probe it makes fails while the others reach a and b (4 such failures before this round, 2 in it).
    const d = decideQuorum(
      [batch("wnam", { a: pass(), b: pass() }), batch("enam", { a: pass(), b: fail }), batch("weur", { a: timeout, b: timeout })],
      (v) => (v === "weur" ? 4 : 0),
    );
    expect(d.discounted).toEqual(["weur"]);
    expect(d.counted).toEqual(["wnam", "enam"]);
    expect(verdictOf(d, "a")).toBe("pass");
    // Without weur's vote, b is 1 : 1: a split, not a failure.
    expect(verdictOf(d, "b")).toBe("split");
  });

  it("two cut-off vantage points out of three cannot fail instances the third reaches", () => {
    const d = decideQuorum([batch("wnam", { a: pass() }), batch("enam", { a: fail }), batch("weur", { a: timeout })], () => 10);
    expect(d.discounted).toEqual(["enam", "weur"]);
    expect(verdictOf(d, "a")).toBe("pass");
  });

  it("needs a run of PARTITION_EVIDENCE failed probes: a flapping instance alone in its round is decided by plain majority", () => {
    // Two of three caught it failing: not two partitions, a failure.
    const d = decideQuorum([batch("wnam", { a: fail }), batch("enam", { a: pass() }), batch("weur", { a: fail })], (v) => (v === "enam" ? 0 : 1));
    expect(d.discounted).toEqual([]);
    expect(verdictOf(d, "a")).toBe("fail");
    // The same round, once weur has failed everything for a while: weur's vote goes, 1 : 1 is a split.
    const later = decideQuorum([batch("wnam", { a: fail }), batch("enam", { a: pass() }), batch("weur", { a: fail })], (v) => (v === "weur" ? PARTITION_EVIDENCE - 1 : 0));
    expect(later.discounted).toEqual(["weur"]);
    expect(verdictOf(later, "a")).toBe("split");
  });

  it("is discounted on one round's evidence when that round alone has enough probes", () => {
    const ids = ["a", "b", "c", "d", "e", "f"];
    const all = (probe: Probe) => Object.fromEntries(ids.map((id) => [id, probe]));
    const d = decideQuorum([batch("wnam", all(pass())), batch("enam", all(pass())), batch("weur", all(timeout))]);
    expect(d.discounted).toEqual(["weur"]);
  });

  it("is not discounted when nobody reached those instances: then they are down", () => {
    const d = decideQuorum([batch("wnam", { a: fail, b: fail }), batch("enam", { a: timeout, b: fail }), batch("weur", { a: fail, b: fail })], () => 100);
    expect(d.discounted).toEqual([]);
    expect(verdictOf(d, "a")).toBe("fail");
    expect(verdictOf(d, "b")).toBe("fail");
  });

  it("is not discounted when it passed anything", () => {
    const d = decideQuorum([batch("wnam", { a: pass(), b: pass() }), batch("enam", { a: pass(), b: pass() }), batch("weur", { a: pass(), b: fail })], () => 100);
    expect(d.discounted).toEqual([]);
    expect(verdictOf(d, "b")).toBe("pass");
  });
});

describe("decideQuorum: ties", () => {
  it("an even split is inconclusive: no probe to feed, the votes kept", () => {
    const d = decideQuorum([batch("wnam", { a: pass(), b: pass() }), batch("enam", { a: fail, b: pass() })]);
    expect(d.verdicts[0]).toEqual({ id: "a", verdict: "split", probe: null, passVotes: 1, failVotes: 1 });
    expect(verdictOf(d, "b")).toBe("pass");
  });
});

describe("decideQuorum: one vantage point", () => {
  it("its results are the verdicts, errors as they are", () => {
    const d = decideQuorum([batch("local", { a: pass(12), b: fail })]);
    expect(d.verdicts).toEqual([
      { id: "a", verdict: "pass", probe: pass(12), passVotes: 1, failVotes: 0 },
      { id: "b", verdict: "fail", probe: fail, passVotes: 0, failVotes: 1 },
    ]);
  });

  it("failing everything is never discounted (nobody else to compare with)", () => {
    const d = decideQuorum([batch("local", { a: fail, b: timeout })], () => 100);
    expect(d.discounted).toEqual([]);
    expect(d.verdicts.map((v) => v.verdict)).toEqual(["fail", "fail"]);
  });

  it("no batch at all decides nothing", () => {
    expect(decideQuorum([])).toEqual({ verdicts: [], counted: [], discounted: [], failureRuns: new Map() });
  });
});

describe("decideQuorum: the runs of contradicted failures it hands back", () => {
  it("count failures another vantage point passed, keep still when nobody passed, and restart at a pass", () => {
    const d = decideQuorum(
      [batch("wnam", { a: pass(), b: fail }), batch("enam", { a: pass(), b: fail }), batch("weur", { a: fail, b: fail })],
      (v) => ({ wnam: 3, enam: 0, weur: 2 })[v] ?? 0,
    );
    // weur: a was passed elsewhere (+1), b was not (nothing); wnam and enam passed something.
    expect([...d.failureRuns]).toEqual([
      ["wnam", 0],
      ["enam", 0],
      ["weur", 3],
    ]);
    const down = decideQuorum([batch("wnam", { a: fail }), batch("weur", { a: timeout })], () => 4);
    expect([...down.failureRuns]).toEqual([
      ["wnam", 4],
      ["weur", 4],
    ]);
  });
});
