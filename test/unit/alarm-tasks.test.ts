import { describe, expect, it } from "vitest";
import { type AlarmTask, AlarmTaskRunner, backOffUntil, earliest, isDue, type TaskFailure } from "../../src/core/alarm-tasks";

/** A task whose run answers from a script (a number, null, or an Error to throw) and records when it ran. */
function scripted(name: string, runs: AlarmTask["runs"], onFailure: AlarmTask["onFailure"], answer: (now: number) => number | null | Error) {
  const ranAt: number[] = [];
  const task: AlarmTask = {
    name,
    runs,
    onFailure,
    run: async (now) => {
      ranAt.push(now);
      const result = answer(now);
      if (result instanceof Error) throw result;
      return result;
    },
  };
  return { task, ranAt };
}

const backOff = (maxDelayMs: number): AlarmTask["onFailure"] => ({ kind: "back-off", message: "failed", maxDelayMs });

describe("alarm task scheduling", () => {
  it("backs off 1 s per consecutive failure, up to the cap", () => {
    expect(backOffUntil(10_000, 1, 30_000)).toBe(11_000);
    expect(backOffUntil(10_000, 3, 30_000)).toBe(13_000);
    expect(backOffUntil(10_000, 50, 30_000)).toBe(40_000);
    expect(backOffUntil(10_000, 5, 200)).toBe(10_200);
  });

  it("picks the earliest time, ignoring nulls", () => {
    expect(earliest([3_000, null, 1_000, 2_000])).toBe(1_000);
    expect(earliest([null, null])).toBeNull();
    expect(earliest([])).toBeNull();
    expect(earliest([0])).toBe(0);
  });

  it("is due from the time on, never for a null time", () => {
    expect(isDue(1_000, 999)).toBe(false);
    expect(isDue(1_000, 1_000)).toBe(true);
    expect(isDue(0, 0)).toBe(true);
    expect(isDue(null, Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});

describe("AlarmTaskRunner", () => {
  it("runs every task on the first tick, then a when-due task only once its time has come", async () => {
    const sweep = scripted("sweep", "when-due", backOff(30_000), (now) => now + 5_000);
    const push = scripted("push", "every-tick", { kind: "end-tick" }, () => null);
    const runner = new AlarmTaskRunner([sweep.task, push.task], () => undefined);

    expect(await runner.tick(1_000)).toBe(6_000);
    expect(await runner.tick(3_000)).toBe(6_000);
    expect(await runner.tick(6_000)).toBe(11_000);
    expect(sweep.ranAt).toEqual([1_000, 6_000]);
    expect(push.ranAt).toEqual([1_000, 3_000, 6_000]);
  });

  it("runs the tasks in the order given and arms for the earliest time any of them asked for", async () => {
    const order: string[] = [];
    const task = (name: string, at: number | null): AlarmTask => ({
      name,
      runs: "every-tick",
      onFailure: { kind: "end-tick" },
      run: async () => {
        order.push(name);
        return at;
      },
    });
    const runner = new AlarmTaskRunner([task("a", 9_000), task("b", null), task("c", 4_000), task("d", 7_000)], () => undefined);
    expect(await runner.tick(0)).toBe(4_000);
    expect(order).toEqual(["a", "b", "c", "d"]);
    expect(await new AlarmTaskRunner([task("idle", null)], () => undefined).tick(0)).toBeNull();
  });

  it("counts a backing-off task's failures, retries it sooner than its interval, and carries on with the tick", async () => {
    let failing = true;
    const failures: TaskFailure[] = [];
    const sweep = scripted("sweep", "when-due", backOff(30_000), (now) => (failing ? new Error("registry down") : now + 30_000));
    const after = scripted("after", "every-tick", { kind: "end-tick" }, () => null);
    const runner = new AlarmTaskRunner([sweep.task, after.task], (f) => failures.push(f));

    expect(await runner.tick(0)).toBe(1_000);
    expect(await runner.tick(1_000)).toBe(3_000);
    expect(await runner.tick(3_000)).toBe(6_000);
    expect(runner.failures("sweep")).toBe(3);
    expect(after.ranAt).toEqual([0, 1_000, 3_000]);
    expect(failures.map((f) => [f.task, f.policy, f.message, f.failures, String(f.error)])).toEqual([
      ["sweep", "back-off", "failed", 1, "Error: registry down"],
      ["sweep", "back-off", "failed", 2, "Error: registry down"],
      ["sweep", "back-off", "failed", 3, "Error: registry down"],
    ]);

    failing = false;
    expect(await runner.tick(6_000)).toBe(36_000);
    expect(runner.failures("sweep")).toBe(0);
    expect(failures).toHaveLength(3);
  });

  it("never backs off further than the policy's cap", async () => {
    const alerts = scripted("alerts", "when-due", backOff(2_500), () => new Error("boom"));
    const runner = new AlarmTaskRunner([alerts.task], () => undefined);
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const next = (await runner.tick(now)) as number;
      delays.push(next - now);
      now = next;
    }
    expect(delays).toEqual([1_000, 2_000, 2_500, 2_500, 2_500]);
  });

  it("reports a logged failure, wakes for the task when its policy says, and runs it again on the next tick", async () => {
    let calls = 0;
    const failures: TaskFailure[] = [];
    const autoscale = scripted(
      "autoscale",
      "every-tick",
      { kind: "log", message: "autoscale failed", wakeAt: (now) => now + 1_000 },
      () => (++calls === 1 ? new Error("flaky") : null),
    );
    const later = scripted("later", "when-due", backOff(10_000), (now) => now + 10_000);
    const runner = new AlarmTaskRunner([autoscale.task, later.task], (f) => failures.push(f));

    expect(await runner.tick(0)).toBe(1_000);
    expect(later.ranAt).toEqual([0]);
    expect(failures).toEqual([{ task: "autoscale", policy: "log", message: "autoscale failed", failures: 1, error: new Error("flaky") }]);
    expect(await runner.tick(500)).toBe(10_000);
    expect(autoscale.ranAt).toEqual([0, 500]);
    expect(runner.failures("autoscale")).toBe(0);
  });

  it("lets an end-tick failure stop the tick and reach the caller, unreported", async () => {
    const failures: TaskFailure[] = [];
    const delivery = scripted("delivery", "every-tick", { kind: "end-tick" }, () => new Error("storage full"));
    const push = scripted("push", "every-tick", { kind: "end-tick" }, () => null);
    const runner = new AlarmTaskRunner([delivery.task, push.task], (f) => failures.push(f));

    await expect(runner.tick(0)).rejects.toThrow("storage full");
    expect(push.ranAt).toEqual([]);
    expect(failures).toEqual([]);
    expect(runner.failures("delivery")).toBe(1);
  });

  it("catches a task that throws before returning a promise", async () => {
    const failures: TaskFailure[] = [];
    const task: AlarmTask = {
      name: "sync",
      runs: "when-due",
      onFailure: backOff(5_000),
      run: () => {
        throw new Error("thrown synchronously");
      },
    };
    const runner = new AlarmTaskRunner([task], (f) => failures.push(f));
    expect(await runner.tick(100)).toBe(1_100);
    expect(failures).toHaveLength(1);
  });

  it("runs a when-due task early when it is rescheduled, and leaves one that returned null idle until then", async () => {
    const sweep = scripted("sweep", "when-due", backOff(30_000), (now) => now + 30_000);
    const once = scripted("once", "when-due", backOff(30_000), () => null);
    const runner = new AlarmTaskRunner([sweep.task, once.task], () => undefined);

    expect(await runner.tick(0)).toBe(30_000);
    runner.scheduleAt("sweep", 0);
    expect(runner.nextAt("sweep")).toBe(0);
    expect(await runner.tick(2_000)).toBe(32_000);
    expect(sweep.ranAt).toEqual([0, 2_000]);

    expect(once.ranAt).toEqual([0]);
    runner.scheduleAt("once", 5_000);
    await runner.tick(5_000);
    expect(once.ranAt).toEqual([0, 5_000]);
  });

  it("keeps a reschedule made while the tick is still running", async () => {
    let release: () => void = () => undefined;
    let started: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const sweep = scripted("sweep", "when-due", backOff(30_000), (now) => now + 30_000);
    const slow: AlarmTask = {
      name: "slow",
      runs: "every-tick",
      onFailure: { kind: "end-tick" },
      run: async () => {
        started();
        await gate;
        return null;
      },
    };
    const runner = new AlarmTaskRunner([sweep.task, slow], () => undefined);
    const tick = runner.tick(0);
    // The sweep has finished and the tick is waiting on a later task, as when a test resets the sweep mid-tick.
    await slowStarted;
    runner.scheduleAt("sweep", 0);
    release();
    expect(await tick).toBe(0);
  });

  it("refuses two tasks with one name, and names it asks about that it does not know", () => {
    const a = scripted("same", "every-tick", { kind: "end-tick" }, () => null).task;
    expect(() => new AlarmTaskRunner([a, a], () => undefined)).toThrow("duplicate alarm task name: same");
    expect(() => new AlarmTaskRunner([a], () => undefined).failures("other")).toThrow("unknown alarm task: other");
  });
});
