import { describe, expect, it } from "vitest";
import { type OutcomeRecord, type StatusClass, aggregateBatch } from "../../src/core/metrics/record";
import { quantile } from "../../src/core/metrics/sketch";
import { tallyRequests } from "../../src/core/metrics/tally";
import {
  MINUTE_MS,
  WINDOW_HISTORY_MINUTES,
  type Windows,
  addToWindows,
  createWindows,
  mergeWindows,
  rollWindows,
  throughput,
  windowStats,
} from "../../src/core/metrics/windows";

const T0 = Date.UTC(2024, 0, 15, 10, 0, 0); // a minute boundary

function entry(at: number, n: number, statusClass: StatusClass = "2xx", durationMs = 10) {
  const records: OutcomeRecord[] = Array.from({ length: n }, () => ({
    service: "api",
    instance: "i-1",
    statusClass,
    durationMs,
    bytes: 100,
    at,
  }));
  const e = aggregateBatch(records).entries[0];
  if (e === undefined) throw new Error("empty batch");
  return e;
}

/** `perMinute` requests booked in each whole minute [from, to) (minute offsets from T0). */
function steady(perMinute: number, from: number, to: number, now: number): Windows {
  let w = createWindows();
  for (let m = from; m < to; m++) w = addToWindows(w, entry(T0 + m * MINUTE_MS + 1000, perMinute), now);
  return w;
}

describe("throughput", () => {
  it("steady 1 request/s reads 1 rps over 1, 5 and 15 minutes, mid-minute too", () => {
    const now = T0 + 20 * MINUTE_MS + 30_000; // 30 s into minute 20
    let w = steady(60, 0, 20, now);
    w = addToWindows(w, entry(now - 1000, 30), now); // the current minute so far
    const t = throughput(w, now);
    expect(t.m1).toBeCloseTo(1, 10);
    expect(t.m5).toBeCloseTo(1, 10);
    expect(t.m15).toBeCloseTo(1, 10);
  });

  it("a burst in the current minute is averaged over each window length", () => {
    const now = T0 + 30_000;
    const w = addToWindows(createWindows(), entry(now, 600), now);
    const t = throughput(w, now);
    expect(t.m1).toBeCloseTo(10, 10);
    expect(t.m5).toBeCloseTo(2, 10);
    expect(t.m15).toBeCloseTo(600 / 900, 10);
  });

  it("pro-rates the oldest minute by its overlap with the window", () => {
    const now = T0 + MINUTE_MS + 45_000; // 45 s into minute 1
    const w = addToWindows(createWindows(), entry(T0 + 5000, 60), now); // minute 0
    // The 1-minute window (now − 60 s, now] covers the last 15 s of minute 0.
    expect(windowStats(w, now, 1).requests).toBeCloseTo(15, 10);
    expect(windowStats(w, now, 2).requests).toBeCloseTo(60, 10);
  });

  it("traffic that stopped fades out of m1, then m5, then m15", () => {
    const w = steady(120, 0, 10, T0 + 10 * MINUTE_MS);
    const at = (minutes: number) => throughput(w, T0 + minutes * MINUTE_MS);
    expect(at(10).m1).toBeCloseTo(2, 10);
    expect(at(11).m1).toBe(0);
    expect(at(11).m5).toBeCloseTo(1.6, 10);
    expect(at(15).m5).toBe(0);
    expect(at(15).m15).toBeCloseTo((10 * 120) / 900, 10);
    expect(at(20).m15).toBeCloseTo((5 * 120) / 900, 10);
    expect(at(25).m15).toBe(0);
  });
});

describe("windowed error rate and latency", () => {
  it("counts 5xx and gateway as failures, not 4xx", () => {
    const now = T0 + 10_000;
    let w = createWindows();
    w = addToWindows(w, entry(now, 80), now);
    w = addToWindows(w, entry(now, 10, "4xx"), now);
    w = addToWindows(w, entry(now, 6, "5xx"), now);
    w = addToWindows(w, entry(now, 4, "gateway"), now);
    const s = windowStats(w, now, 5);
    expect(s.requests).toBe(100);
    expect(s.failures).toBe(10);
    expect(s.clientErrors).toBe(10);
    expect(s.errorRatePercent).toBeCloseTo(10, 10);
  });

  it("merges the latency of every minute in the window", () => {
    const now = T0 + 3 * MINUTE_MS;
    let w = createWindows();
    w = addToWindows(w, entry(T0 + MINUTE_MS, 90, "2xx", 10), now);
    w = addToWindows(w, entry(T0 + 2 * MINUTE_MS, 10, "2xx", 8000), now);
    const s = windowStats(w, now, 5);
    expect(s.sketch.count).toBe(100);
    expect(quantile(s.sketch, 0.95)).toBeCloseTo(8000, -2);
    expect(quantile(s.sketch, 0.5)).toBeCloseTo(10, 0);
  });

  it("an empty window has 0 requests and 0 % errors", () => {
    const s = windowStats(createWindows(), T0, 5);
    expect(s).toMatchObject({ requests: 0, failures: 0, errorRatePercent: 0, throughputRps: 0 });
  });

  it("rejects window lengths outside 1..15 whole minutes", () => {
    expect(() => windowStats(createWindows(), T0, 0)).toThrow(RangeError);
    expect(() => windowStats(createWindows(), T0, 16)).toThrow(RangeError);
    expect(() => windowStats(createWindows(), T0, 2.5)).toThrow(RangeError);
  });
});

describe("bounded memory", () => {
  it("keeps at most 15 past minutes plus the current one, however long it runs", () => {
    let w = createWindows();
    for (let m = 0; m < 200; m++) {
      const now = T0 + m * MINUTE_MS + 100;
      w = addToWindows(w, entry(now, 3), now);
      expect(w.minutes.length).toBeLessThanOrEqual(WINDOW_HISTORY_MINUTES + 1);
    }
    expect(w.minutes.length).toBe(WINDOW_HISTORY_MINUTES + 1);
    const last = T0 + 199 * MINUTE_MS;
    expect(w.minutes[0]?.minute).toBe(Math.floor(last / MINUTE_MS) - WINDOW_HISTORY_MINUTES);
  });

  it("rollWindows drops minutes that left the range, and idle windows empty out", () => {
    const w = steady(10, 0, 16, T0 + 15 * MINUTE_MS);
    expect(w.minutes).toHaveLength(16);
    expect(rollWindows(w, T0 + 16 * MINUTE_MS).minutes).toHaveLength(15);
    expect(rollWindows(w, T0 + 40 * MINUTE_MS).minutes).toHaveLength(0);
    expect(rollWindows(w, T0 + 15 * MINUTE_MS)).toBe(w); // nothing to drop: same object
  });

  it("does not window entries older than the range, and books future ones now", () => {
    const now = T0 + 30 * MINUTE_MS;
    const old = addToWindows(createWindows(), entry(T0, 5), now);
    expect(old.minutes).toHaveLength(0);
    const future = addToWindows(createWindows(), entry(now + 10 * MINUTE_MS, 5), now);
    expect(future.minutes.map((b) => b.minute)).toEqual([Math.floor(now / MINUTE_MS)]);
  });

  it("mergeWindows adds minute by minute", () => {
    const now = T0 + 5 * MINUTE_MS;
    const a = steady(10, 0, 4, now);
    const b = steady(5, 2, 6, now);
    const m = mergeWindows(a, b);
    expect(m.minutes.map((x) => tallyRequests(x.tally))).toEqual([10, 10, 15, 15, 5, 5]);
    expect(m.minutes.map((x) => x.minute)).toEqual([...m.minutes.map((x) => x.minute)].sort((x, y) => x - y));
  });
});
