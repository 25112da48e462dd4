/**
 * The token pool's count of a client's requests in the last second, against
 * the plain array model it replaced (push, drop what is a second old, keep at
 * most `cap`): the same count after every event, through the ring's growth
 * and wrap-around.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RecentTimes } from "../../src/edge/recent-times";

function arrayModel(cap: number) {
  const times: number[] = [];
  return {
    note(now: number): number {
      times.push(now);
      while (times.length > 0 && (times[0] as number) <= now - 1000) times.shift();
      if (times.length > cap) times.splice(0, times.length - cap);
      return times.length;
    },
  };
}

describe("RecentTimes", () => {
  it("counts the events of the last second, forgetting one that is exactly a second old", () => {
    const recent = new RecentTimes(100);
    recent.note(1_000);
    recent.note(1_500);
    recent.note(1_999);
    expect(recent.count).toBe(3);
    recent.note(2_000); // 1_000 is now a second old
    expect(recent.count).toBe(3);
    recent.note(3_500); // only itself left
    expect(recent.count).toBe(1);
  });

  it("stops at the cap however many arrive at once", () => {
    const recent = new RecentTimes(20);
    for (let i = 0; i < 1_000; i++) recent.note(5_000);
    expect(recent.count).toBe(20);
  });

  it("agrees with the array model on any sequence of event times", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 2_000 }), (cap, gaps) => {
        const recent = new RecentTimes(cap);
        const model = arrayModel(cap);
        let now = 1_000_000;
        for (const gap of gaps) {
          now += gap % 7 === 0 ? gap : gap % 5; // mostly bursts, now and then a pause
          recent.note(now);
          expect(recent.count).toBe(model.note(now));
        }
      }),
      { numRuns: 200 },
    );
  });
});
