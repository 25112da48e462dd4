import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AlertName } from "../../src/core/alerts/alert";
import { appendAlertHistory, createAlertHistory } from "../../src/core/alerts/history";
import {
  type AlertInput,
  DEFAULT_PIPELINE_CONFIG,
  type Notification,
  type PipelineConfig,
  type PipelineState,
  alertStatuses,
  createPipelineState,
  evaluate,
  fingerprint,
} from "../../src/core/alerts/pipeline";
import { type Silence, addSilence, expireSilence, pruneSilences, validateSilence } from "../../src/core/alerts/silences";

const T0 = Date.UTC(2024, 0, 15, 10, 0, 0);
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const CFG = DEFAULT_PIPELINE_CONFIG;

function alert(alertname: AlertName, service: string, instance?: string): AlertInput {
  const labels = instance === undefined ? { alertname, service, severity: "warning" } : { alertname, service, instance, severity: "warning" };
  return { labels, annotations: { summary: `${alertname} ${service}`, description: "d" }, startsAt: 0 };
}

type Sent = Notification;

/**
 * Evaluates every `step` ms from `from` (inclusive) to `to` (exclusive), asking
 * `firing(t)` for the alerts firing at t (with startsAt = t, as rules do).
 */
function simulate(
  firing: (t: number) => AlertInput[],
  from: number,
  to: number,
  options: { step?: number; config?: PipelineConfig; state?: PipelineState } = {},
): { sent: Sent[]; state: PipelineState; nextEvaluationAt: number | null } {
  let state = options.state ?? createPipelineState();
  let nextEvaluationAt: number | null = null;
  const sent: Sent[] = [];
  for (let t = from; t < to; t += options.step ?? 10 * S) {
    const r = evaluate(state, firing(t).map((a) => ({ ...a, startsAt: t })), t, options.config ?? CFG);
    state = r.state;
    nextEvaluationAt = r.nextEvaluationAt;
    sent.push(...r.notifications);
  }
  return { sent, state, nextEvaluationAt };
}

describe("fingerprint", () => {
  it("is stable, order-independent and ignores empty labels", () => {
    const a = fingerprint({ alertname: "X", service: "api", instance: "i-1" });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint({ instance: "i-1", service: "api", alertname: "X" })).toBe(a);
    expect(fingerprint({ alertname: "X", service: "api", instance: "i-1", extra: "" })).toBe(a);
    expect(fingerprint({ alertname: "X", service: "api", instance: "i-2" })).not.toBe(a);
    expect(fingerprint({ a: "bc" })).not.toBe(fingerprint({ ab: "c" }));
  });
});

describe("group_wait and dedup", () => {
  it("delays the first notification of a new group by group_wait", () => {
    const { sent } = simulate(() => [alert("HighErrorRate", "api")], T0, T0 + 2 * MIN);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ at: T0 + 30 * S, status: "firing", groupKey: '{alertname="HighErrorRate",service="api"}' });
    expect(sent[0]?.alerts[0]).toMatchObject({ status: "firing", startsAt: T0, endsAt: null });
  });

  it("batches alerts of one group that start within group_wait", () => {
    const { sent } = simulate(
      (t) => (t < T0 + 20 * S ? [alert("InstanceUnhealthy", "api", "i-1")] : [alert("InstanceUnhealthy", "api", "i-1"), alert("InstanceUnhealthy", "api", "i-2")]),
      T0,
      T0 + 2 * MIN,
    );
    expect(sent).toHaveLength(1);
    expect(sent[0]?.alerts.map((a) => a.labels.instance).sort()).toEqual(["i-1", "i-2"]);
    expect(sent[0]?.counts).toEqual({ firing: 2, resolved: 0 });
  });

  it("dedups identical alerts and does not re-send an unchanged group", () => {
    const { sent, state } = simulate(() => [alert("HighLatency", "api"), alert("HighLatency", "api")], T0, T0 + 3 * HOUR, { step: 30 * S });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.alerts).toHaveLength(1);
    expect(Object.keys(state.alerts)).toHaveLength(1);
    // The first sighting's startsAt is kept for an ongoing alert.
    expect(Object.values(state.alerts)[0]?.startsAt).toBe(T0);
  });

  it("never announces an alert that fired and resolved within group_wait", () => {
    const { sent, state, nextEvaluationAt } = simulate((t) => (t < T0 + 20 * S ? [alert("HighErrorRate", "api")] : []), T0, T0 + 10 * MIN);
    expect(sent).toEqual([]);
    expect(state.alerts).toEqual({});
    expect(state.groups).toEqual({});
    expect(nextEvaluationAt).toBeNull();
  });
});

describe("group_interval, repeat_interval, resolve", () => {
  it("a new alert in a notified group waits for the next group_interval", () => {
    const { sent } = simulate(
      (t) => (t < T0 + MIN ? [alert("InstanceUnhealthy", "api", "i-1")] : [alert("InstanceUnhealthy", "api", "i-1"), alert("InstanceUnhealthy", "api", "i-2")]),
      T0,
      T0 + 10 * MIN,
    );
    expect(sent.map((n) => n.at)).toEqual([T0 + 30 * S, T0 + 30 * S + 5 * MIN]);
    expect(sent[1]?.alerts).toHaveLength(2);
  });

  it("re-sends an unchanged firing group after repeat_interval", () => {
    const { sent } = simulate(() => [alert("ServiceDown", "api")], T0, T0 + 9 * HOUR, { step: MIN });
    expect(sent).toHaveLength(3);
    const times = sent.map((n) => n.at - T0);
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
      expect(gap).toBeGreaterThanOrEqual(4 * HOUR);
      expect(gap).toBeLessThan(4 * HOUR + CFG.groupIntervalMs + MIN);
    }
  });

  it("sends a resolved notification once the group recovers, then forgets it", () => {
    const recovery = T0 + 10 * MIN;
    const { sent, state, nextEvaluationAt } = simulate((t) => (t < recovery ? [alert("HighErrorRate", "api")] : []), T0, T0 + 30 * MIN);
    expect(sent.map((n) => n.status)).toEqual(["firing", "resolved"]);
    const resolved = sent[1];
    expect(resolved?.alerts).toEqual([expect.objectContaining({ status: "resolved", startsAt: T0, endsAt: recovery })]);
    expect(resolved?.at).toBeLessThanOrEqual(recovery + CFG.groupIntervalMs);
    expect(state.alerts).toEqual({});
    expect(state.groups).toEqual({});
    expect(nextEvaluationAt).toBeNull();
  });

  it("reports a partial recovery inside a still-firing group", () => {
    const { sent } = simulate(
      (t) => (t < T0 + 2 * MIN ? [alert("InstanceUnhealthy", "api", "i-1"), alert("InstanceUnhealthy", "api", "i-2")] : [alert("InstanceUnhealthy", "api", "i-2")]),
      T0,
      T0 + 7 * MIN,
    );
    expect(sent).toHaveLength(2);
    expect(sent[1]?.status).toBe("firing");
    expect(sent[1]?.alerts.map((a) => `${a.labels.instance}:${a.status}`)).toEqual(["i-2:firing", "i-1:resolved"]);
  });

  it("with send_resolved off, recovery is silent", () => {
    const config = { ...CFG, sendResolved: false };
    const { sent, state } = simulate((t) => (t < T0 + 2 * MIN ? [alert("HighErrorRate", "api")] : []), T0, T0 + 20 * MIN, { config });
    expect(sent.map((n) => n.status)).toEqual(["firing"]);
    expect(state.groups).toEqual({});
  });

  it("tells the caller when to evaluate next", () => {
    const r = evaluate(createPipelineState(), [{ ...alert("HighErrorRate", "api"), startsAt: T0 }], T0, CFG);
    expect(r.nextEvaluationAt).toBe(T0 + CFG.groupWaitMs);
    const r2 = evaluate(r.state, [{ ...alert("HighErrorRate", "api"), startsAt: T0 }], T0 + CFG.groupWaitMs, CFG);
    expect(r2.notifications).toHaveLength(1);
    expect(r2.nextEvaluationAt).toBe(T0 + CFG.groupWaitMs + CFG.groupIntervalMs);
  });
});

describe("flapping", () => {
  it("an instance flapping for 5 simulated minutes: one firing notification, then one resolve after recovery", () => {
    // Unhealthy 60 s, healthy 30 s, repeated for 5 minutes; healthy afterwards.
    const flapEnd = T0 + 5 * MIN;
    const failing = (t: number) => t < flapEnd && (t - T0) % (90 * S) < 60 * S;
    const { sent, state } = simulate((t) => (failing(t) ? [alert("InstanceUnhealthy", "api", "i-1")] : []), T0, T0 + 20 * MIN);
    expect(sent.map((n) => [n.status, n.at - T0])).toEqual([
      ["firing", 30 * S],
      ["resolved", 30 * S + 5 * MIN],
    ]);
    expect(state.alerts).toEqual({});
  });

  it("whatever the flapping pattern, a live group notifies at most once per group_interval", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 30, maxLength: 30 }), (pattern) => {
        // 30 steps of 10 s = 5 minutes of flapping for two instances, then recovery.
        const firing = (t: number) => {
          const step = pattern[Math.floor((t - T0) / (10 * S))];
          if (step === undefined) return [];
          return [...(step[0] ? [alert("InstanceUnhealthy", "api", "i-1")] : []), ...(step[1] ? [alert("InstanceUnhealthy", "api", "i-2")] : [])];
        };
        const { sent, state } = simulate(firing, T0, T0 + 30 * MIN);
        for (let i = 1; i < sent.length; i++) {
          const prev = sent[i - 1];
          const cur = sent[i];
          if (prev === undefined || cur === undefined) continue;
          // A resolved notification closes the group; a new one starts with group_wait.
          const minGap = prev.status === "resolved" ? CFG.groupWaitMs : CFG.groupIntervalMs;
          expect(cur.at - prev.at).toBeGreaterThanOrEqual(minGap);
        }
        // After recovery the receiver is never left believing something fires.
        const last = sent.at(-1);
        if (last !== undefined) expect(last.status).toBe("resolved");
        expect(state.groups).toEqual({});
      }),
      { numRuns: 200 },
    );
  });
});

describe("inhibition", () => {
  it("ServiceDown mutes the same service's error-rate, latency and instance alerts, not other services'", () => {
    const { sent } = simulate(
      () => [alert("ServiceDown", "api"), alert("HighErrorRate", "api"), alert("HighLatency", "api"), alert("InstanceUnhealthy", "api", "i-1"), alert("HighErrorRate", "banking")],
      T0,
      T0 + 10 * MIN,
    );
    expect(sent.map((n) => n.groupKey).sort()).toEqual(['{alertname="HighErrorRate",service="banking"}', '{alertname="ServiceDown",service="api"}']);
  });

  it("once ServiceDown resolves, the still-firing symptoms are notified", () => {
    const up = T0 + 2 * MIN;
    const { sent } = simulate((t) => (t < up ? [alert("ServiceDown", "api"), alert("HighErrorRate", "api")] : [alert("HighErrorRate", "api")]), T0, T0 + 12 * MIN);
    const her = sent.filter((n) => n.groupKey.includes("HighErrorRate"));
    expect(her).toHaveLength(1);
    expect(her[0]?.at).toBeGreaterThan(up);
    expect(sent.find((n) => n.groupKey.includes("ServiceDown") && n.status === "resolved")).toBeDefined();
  });

  it("alertStatuses explains why an alert is quiet", () => {
    const r = evaluate(createPipelineState(), [alert("ServiceDown", "api"), alert("HighLatency", "api")].map((a) => ({ ...a, startsAt: T0 })), T0, CFG);
    const statuses = alertStatuses(r.state, T0, CFG);
    expect(statuses.map((s) => [s.alert.labels.alertname, s.state]).sort()).toEqual([
      ["HighLatency", "suppressed"],
      ["ServiceDown", "active"],
    ]);
  });
});

describe("silences", () => {
  const silence = (over: Partial<Silence> = {}): Silence => ({
    id: "s1",
    matchers: [
      { name: "service", value: "api" },
      { name: "alertname", value: "High.*", isRegex: true },
    ],
    startsAt: T0,
    endsAt: T0 + 10 * MIN,
    createdBy: "ops@example.com",
    comment: "deploy in progress",
    ...over,
  });

  it("a matching silence mutes until it expires; then the alert is notified", () => {
    const added = addSilence([], silence(), T0);
    if (!added.ok) throw new Error(added.error);
    const { sent } = simulate(() => [alert("HighLatency", "api"), alert("HighLatency", "banking")], T0, T0 + 20 * MIN, { state: createPipelineState(added.silences) });
    const api = sent.filter((n) => n.groupLabels.service === "api");
    const banking = sent.filter((n) => n.groupLabels.service === "banking");
    expect(banking.map((n) => n.at)).toEqual([T0 + 30 * S]);
    expect(api).toHaveLength(1);
    expect(api[0]?.at).toBeGreaterThanOrEqual(T0 + 10 * MIN);
    expect(api[0]?.at).toBeLessThanOrEqual(T0 + 10 * MIN + CFG.groupIntervalMs);
  });

  it("matchers: regex is anchored, negative matchers work, missing labels read as empty", () => {
    const state = (s: Silence) => createPipelineState([s]);
    const firing = [alert("HighLatency", "api-gateway")];
    const quiet = (s: Silence) => simulate(() => firing, T0, T0 + MIN, { state: state(s) }).sent.length === 0;
    expect(quiet(silence({ matchers: [{ name: "service", value: "api" }] }))).toBe(false);
    expect(quiet(silence({ matchers: [{ name: "service", value: "api", isRegex: true }] }))).toBe(false);
    expect(quiet(silence({ matchers: [{ name: "service", value: "api.*", isRegex: true }] }))).toBe(true);
    expect(quiet(silence({ matchers: [{ name: "service", value: "banking", isEqual: false }] }))).toBe(true);
    expect(quiet(silence({ matchers: [{ name: "service", value: "api-gateway" }, { name: "instance", value: "" }] }))).toBe(true);
  });

  it("ignores silences that have not started or have ended", () => {
    const later = createPipelineState([silence({ startsAt: T0 + HOUR, endsAt: T0 + 2 * HOUR })]);
    expect(simulate(() => [alert("HighLatency", "api")], T0, T0 + MIN, { state: later }).sent).toHaveLength(1);
    const over = createPipelineState([silence({ startsAt: T0 - 2 * HOUR, endsAt: T0 - HOUR })]);
    expect(simulate(() => [alert("HighLatency", "api")], T0, T0 + MIN, { state: over }).sent).toHaveLength(1);
  });

  it("validates, replaces by id, expires and prunes", () => {
    expect(validateSilence(silence())).toBeNull();
    expect(validateSilence(silence({ matchers: [] }))).not.toBeNull();
    expect(validateSilence(silence({ matchers: [{ name: "service", value: ".*", isRegex: true }] }))).not.toBeNull(); // matches everything
    expect(validateSilence(silence({ matchers: [{ name: "bad-name", value: "x" }] }))).not.toBeNull();
    expect(validateSilence(silence({ matchers: [{ name: "service", value: "(", isRegex: true }] }))).not.toBeNull();
    expect(validateSilence(silence({ endsAt: T0 }))).not.toBeNull();
    expect(validateSilence(silence({ createdBy: " " }))).not.toBeNull();
    expect(addSilence([], silence({ endsAt: T0 + MIN }), T0 + 2 * MIN).ok).toBe(false);

    const first = addSilence([], silence(), T0);
    const second = first.ok ? addSilence(first.silences, silence({ comment: "edited" }), T0) : first;
    expect(second.ok && second.silences.map((s) => s.comment)).toEqual(["edited"]);
    const list = second.ok ? second.silences : [];
    const expired = expireSilence(list, "s1", T0 + MIN);
    expect(expired[0]?.endsAt).toBe(T0 + MIN);
    expect(pruneSilences(expired, T0 + MIN)).toEqual([]);
    expect(pruneSilences(list, T0 + MIN)).toHaveLength(1);
  });
});

describe("bounds and persistence", () => {
  it("truncates big notifications and says how many were left out", () => {
    const many = Array.from({ length: 60 }, (_, i) => alert("InstanceUnhealthy", "api", `i-${String(i).padStart(2, "0")}`));
    const { sent } = simulate(() => many, T0, T0 + MIN);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.alerts).toHaveLength(CFG.maxAlertsPerNotification);
    expect(sent[0]?.truncated).toBe(10);
    expect(sent[0]?.counts.firing).toBe(60);
  });

  it("state survives a JSON round trip mid-incident", () => {
    const firing = (t: number) => (t < T0 + 3 * MIN ? [alert("HighErrorRate", "api")] : []);
    const direct = simulate(firing, T0, T0 + 20 * MIN);
    const half = simulate(firing, T0, T0 + MIN);
    const restored = JSON.parse(JSON.stringify(half.state)) as PipelineState;
    const rest = simulate(firing, T0 + MIN, T0 + 20 * MIN, { state: restored });
    expect([...half.sent, ...rest.sent]).toEqual(direct.sent);
  });

  it("alert history is newest first and bounded, counting what it dropped", () => {
    const n = (at: number): Notification => ({ groupKey: "g", groupLabels: {}, status: "firing", alerts: [], counts: { firing: 0, resolved: 0 }, at });
    let h = createAlertHistory();
    h = appendAlertHistory(h, [n(1), n(2)], 3);
    h = appendAlertHistory(h, [n(3), n(4)], 3);
    expect(h.entries.map((e) => e.at)).toEqual([4, 3, 2]);
    expect(h.dropped).toBe(1);
    expect(appendAlertHistory(h, [], 3)).toBe(h);
  });
});
