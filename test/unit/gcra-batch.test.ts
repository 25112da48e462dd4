import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gcra, type GcraState, type RateLimitPolicy } from "../../src/core/gcra";
import { refund, reserve } from "../../src/core/gcra-batch";

const policy: RateLimitPolicy = { name: "general", limit: 100, periodMs: 60_000, burst: 100 };

describe("GCRA reservations", () => {
  it("grants what is available now, never more", () => {
    let state: GcraState | null = null;
    const first = reserve(state, policy, 0, 30);
    expect(first.granted).toBe(30);
    state = first.decision.state;
    const second = reserve(state, policy, 0, 100);
    expect(second.granted).toBe(70);
    expect(reserve(second.decision.state, policy, 0, 5).granted).toBe(0);
  });

  it("a refund gives unused tokens back, but never beyond a full bucket", () => {
    const taken = reserve(null, policy, 0, 50);
    const back = refund(taken.decision.state, policy, 0, 20);
    expect(reserve(back, policy, 0, 1000).granted).toBe(70);
    const overRefund = refund(taken.decision.state, policy, 0, 10_000);
    expect(reserve(overRefund, policy, 0, 1000).granted).toBe(100);
  });

  it("reserving in batches never admits more than asking one at a time would (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ gap: fc.nat(2_000), want: fc.integer({ min: 1, max: 40 }) }), { maxLength: 60 }), (steps) => {
        let batched: GcraState | null = null;
        let single: GcraState | null = null;
        let now = 0;
        let grantedBatched = 0;
        let grantedSingle = 0;
        for (const step of steps) {
          now += step.gap;
          const r = reserve(batched, policy, now, step.want);
          grantedBatched += r.granted;
          if (r.granted > 0) batched = r.decision.state;
          for (let i = 0; i < step.want; i++) {
            const d = gcra(single, policy, now, 1);
            if (d.allowed) {
              grantedSingle++;
              single = d.state;
            }
          }
        }
        expect(grantedBatched).toBe(grantedSingle);
      }),
    );
  });
});
