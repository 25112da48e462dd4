import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { HealthStatus } from "../../src/core/balancer/types";
import {
  type ActiveCheckConfig,
  type OutlierConfig,
  type OutlierState,
  type Probe,
  LATENCY_WINDOW,
  RESULT_WINDOW,
  applyProbe,
  effectiveWeight,
  initialActiveState,
  initialOutlierState,
  isEjected,
  mapWithConcurrency,
  mayEject,
  planSweep,
  recordOutcome,
} from "../../src/core/health/index";

const probeArb: fc.Arbitrary<Probe> = fc.oneof(
  fc.record({ ok: fc.constant(true), latencyMs: fc.integer({ min: 0, max: 6_000 }), kind: fc.constant("pass" as const) }),
  fc.record({
    ok: fc.constant(false),
    latencyMs: fc.option(fc.integer({ min: 0, max: 6_000 })),
    kind: fc.constantFrom("fail" as const, "timeout" as const),
  }),
);

const configArb: fc.Arbitrary<ActiveCheckConfig> = fc.record({
  retries: fc.integer({ min: 1, max: 6 }),
  rise: fc.integer({ min: 1, max: 6 }),
  alertThreshold: fc.integer({ min: 1, max: 6 }),
  degradedLatencyMs: fc.integer({ min: 1, max: 5_000 }),
  degradedErrorRate: fc.double({ min: 0.01, max: 1, noNaN: true }),
});

const startArb = fc.constantFrom<HealthStatus>("healthy", "degraded", "unhealthy");

/** True when the last n probes up to and including index i all have `passed` equal to want. */
function lastRun(passes: readonly boolean[], i: number, n: number, want: boolean): boolean {
  if (i + 1 < n) return false;
  for (let k = i - n + 1; k <= i; k++) if (passes[k] !== want) return false;
  return true;
}

describe("active check properties", () => {
  it("falls only after `retries` consecutive failures and rises only after `rise` consecutive passes", () => {
    fc.assert(
      fc.property(configArb, startArb, fc.array(probeArb, { maxLength: 80 }), (config, start, probes) => {
        let state = initialActiveState(start);
        const passes = probes.map((p) => p.ok && p.kind === "pass");
        probes.forEach((probe, i) => {
          const from = state.status;
          const out = applyProbe(state, probe, i * 1_000, config);
          state = out.state;
          const to = state.status;
          if (from !== "unhealthy" && to === "unhealthy") {
            expect(lastRun(passes, i, config.retries, false)).toBe(true);
          }
          if (from === "unhealthy" && to !== "unhealthy") {
            expect(lastRun(passes, i, config.rise, true)).toBe(true);
            expect(out.events).toContainEqual({ type: "recovered" });
          }
          // Events describe exactly what happened to the status.
          const changes = out.events.filter((e) => e.type === "status-changed");
          expect(changes).toEqual(from === to ? [] : [{ type: "status-changed", from, to }]);
          expect(state.recentLatenciesMs.length).toBeLessThanOrEqual(LATENCY_WINDOW);
          expect(state.recentResults.length).toBeLessThanOrEqual(RESULT_WINDOW);
        });
      }),
    );
  });

  it("emits one failure-threshold event per failure streak reaching alertThreshold", () => {
    fc.assert(
      fc.property(configArb, fc.array(probeArb, { maxLength: 80 }), (config, probes) => {
        let state = initialActiveState();
        let alerts = 0;
        let expected = 0;
        let streak = 0;
        probes.forEach((probe, i) => {
          const out = applyProbe(state, probe, i, config);
          state = out.state;
          alerts += out.events.filter((e) => e.type === "failure-threshold").length;
          streak = probe.ok && probe.kind === "pass" ? 0 : streak + 1;
          if (streak === config.alertThreshold) expected++;
        });
        expect(alerts).toBe(expected);
      }),
    );
  });
});

describe("outlier properties", () => {
  const outlierConfigArb: fc.Arbitrary<OutlierConfig> = fc.record({
    consecutiveFailures: fc.integer({ min: 1, max: 5 }),
    baseEjectionMs: fc.integer({ min: 1, max: 60_000 }),
    maxEjectionMs: fc.integer({ min: 1, max: 600_000 }),
    maxEjectionPercent: fc.integer({ min: 0, max: 100 }),
  });
  const eventArb = fc.record({
    instance: fc.nat({ max: 29 }),
    gatewayFailure: fc.boolean(),
    advanceMs: fc.integer({ min: 0, max: 20_000 }),
  });

  it("never ejects more than the cap at once, and every ejection lasts base..max", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        outlierConfigArb,
        fc.array(eventArb, { maxLength: 300 }),
        (total, config, events) => {
          const states: OutlierState[] = Array.from({ length: total }, () => initialOutlierState);
          const cap = Math.max(1, Math.floor((total * config.maxEjectionPercent) / 100));
          let now = 0;
          for (const e of events) {
            now += e.advanceMs;
            const index = e.instance % total;
            const current = states[index] ?? initialOutlierState;
            const ejectedNow = states.filter((s) => isEjected(s, now)).length;
            const r = recordOutcome(current, e, now, config, mayEject(total, ejectedNow, config.maxEjectionPercent));
            states[index] = r.state;
            if (r.ejected) {
              const duration = (r.state.ejectedUntil ?? now) - now;
              expect(duration).toBeGreaterThanOrEqual(Math.min(config.baseEjectionMs, config.maxEjectionMs));
              expect(duration).toBeLessThanOrEqual(config.maxEjectionMs);
            }
            expect(states.filter((s) => isEjected(s, now)).length).toBeLessThanOrEqual(cap);
          }
        },
      ),
    );
  });
});

describe("slow start properties", () => {
  it("is monotone in time, positive, and full at the window end", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.001, max: 1_000, noNaN: true }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: -1, max: 2, noNaN: true }),
        fc.array(fc.integer({ min: 0, max: 700_000 }), { minLength: 2, maxLength: 20 }),
        (weight, windowMs, minFraction, offsets) => {
          const since = 1_700_000_000_000;
          const sorted = [...offsets].sort((a, b) => a - b);
          let previous = 0;
          for (const offset of sorted) {
            const w = effectiveWeight(weight, since, since + offset, windowMs, minFraction);
            expect(w).toBeGreaterThan(0);
            expect(w).toBeLessThanOrEqual(weight);
            expect(w).toBeGreaterThanOrEqual(previous);
            previous = w;
          }
          expect(effectiveWeight(weight, since, since + windowMs, windowMs, minFraction)).toBe(weight);
        },
      ),
    );
  });
});

describe("sweep properties", () => {
  it("due exactly within the jitter bounds; nextAt always in the future", () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer({ min: 0, max: 200_000 })), { maxLength: 20 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
        (ages, intervalMs, draws) => {
          const now = 1_700_000_000_000;
          const iterator = draws[Symbol.iterator]();
          const random = () => iterator.next().value ?? 0.5;
          const instances = ages.map((age, i) => ({ id: `i${i}`, lastCheckAt: age === null ? null : now - age }));
          const plan = planSweep(instances, now, intervalMs, random);
          expect(plan.nextAt).toBeGreaterThan(now);
          expect(plan.nextAt).toBeLessThanOrEqual(now + 1.1 * intervalMs + 1e-6);
          instances.forEach((instance, i) => {
            const age = ages[i];
            const isDue = plan.due.includes(instance.id);
            if (age === null || age === undefined) expect(isDue).toBe(true);
            else if (age >= 1.1 * intervalMs) expect(isDue).toBe(true);
            else if (age < 0.9 * intervalMs) expect(isDue).toBe(false);
          });
        },
      ),
    );
  });

  it("mapWithConcurrency keeps at most `limit` in flight and preserves order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 4 }), fc.boolean()), { maxLength: 30 }),
        fc.integer({ min: 1, max: 8 }),
        async (jobs, limit) => {
          let inFlight = 0;
          let peak = 0;
          const results = await mapWithConcurrency(jobs, limit, async ([ticks, fails]) => {
            inFlight++;
            peak = Math.max(peak, inFlight);
            for (let i = 0; i < ticks; i++) await Promise.resolve();
            inFlight--;
            if (fails) throw new Error(`job ${ticks}`);
            return ticks;
          });
          expect(peak).toBeLessThanOrEqual(limit);
          expect(results).toHaveLength(jobs.length);
          jobs.forEach(([ticks, fails], i) => {
            const r = results[i];
            if (fails) expect(r?.status).toBe("rejected");
            else expect(r).toEqual({ status: "fulfilled", value: ticks });
          });
        },
      ),
    );
  });
});
