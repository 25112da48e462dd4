import { describe, expect, it } from "vitest";
import {
  type AutoscalePolicy,
  DEFAULT_EVALUATION_PERIOD_MS,
  DEFAULT_TOLERANCE,
  validatePolicy,
  withDefaults,
} from "../../src/core/autoscale/index";

const valid: AutoscalePolicy = {
  minInstances: 1,
  maxInstances: 10,
  targets: { inflightPerInstance: 10 },
  mode: "enforce",
};

/** The valid policy with some fields replaced, possibly by values of the wrong type (as from JSON config). */
function withFields(fields: Record<string, unknown>): AutoscalePolicy {
  return { ...valid, ...fields } as unknown as AutoscalePolicy;
}

function fieldsOf(p: AutoscalePolicy): string[] {
  return validatePolicy(p).map((x) => x.field);
}

describe("validatePolicy", () => {
  it("accepts a minimal policy and a fully specified one", () => {
    expect(validatePolicy(valid)).toEqual([]);
    const full: AutoscalePolicy = {
      minInstances: 0,
      maxInstances: 500,
      targets: { cpuPercent: 70, inflightPerInstance: 8, p95Ms: 250, errorRatePercent: 5 },
      evaluationPeriodMs: 15_000,
      mode: "dry-run",
      tolerance: 0,
      scaleUp: { stabilizationMs: 0, maxPercentPer15s: 100, maxInstancesPer15s: 4 },
      scaleDown: { stabilizationMs: 3_600_000, maxPercentPer15s: 100 },
    };
    expect(validatePolicy(full)).toEqual([]);
    expect(validatePolicy({ ...valid, minInstances: 0, maxInstances: 0 })).toEqual([]);
  });

  it.each<[string, Record<string, unknown>]>([
    ["minInstances", { minInstances: -1 }],
    ["minInstances", { minInstances: 1.5 }],
    ["minInstances", { minInstances: "1" }],
    ["maxInstances", { maxInstances: 501 }],
    ["maxInstances", { maxInstances: Number.NaN }],
    ["maxInstances", { minInstances: 5, maxInstances: 4 }],
    ["targets", { targets: {} }],
    ["targets", { targets: null }],
    ["targets.cpuPercent", { targets: { cpuPercent: 0 } }],
    ["targets.cpuPercent", { targets: { cpuPercent: 101 } }],
    ["targets.inflightPerInstance", { targets: { inflightPerInstance: -3 } }],
    ["targets.inflightPerInstance", { targets: { inflightPerInstance: Number.POSITIVE_INFINITY } }],
    ["targets.p95Ms", { targets: { p95Ms: 0 } }],
    ["targets.p95Ms", { targets: { p95Ms: "250" } }],
    ["targets.errorRatePercent", { targets: { errorRatePercent: 150 } }],
    ["evaluationPeriodMs", { evaluationPeriodMs: 0 }],
    ["evaluationPeriodMs", { evaluationPeriodMs: 999 }],
    ["evaluationPeriodMs", { evaluationPeriodMs: 3_600_001 }],
    ["mode", { mode: "on" }],
    ["mode", { mode: undefined }],
    ["tolerance", { tolerance: -0.1 }],
    ["tolerance", { tolerance: 1 }],
    ["scaleUp", { scaleUp: 5 }],
    ["scaleUp.stabilizationMs", { scaleUp: { stabilizationMs: -1 } }],
    ["scaleUp.stabilizationMs", { scaleUp: { stabilizationMs: 3_600_001 } }],
    ["scaleUp.maxPercentPer15s", { scaleUp: { maxPercentPer15s: 0 } }],
    ["scaleUp.maxPercentPer15s", { scaleUp: { maxPercentPer15s: 12.5 } }],
    ["scaleUp.maxInstancesPer15s", { scaleUp: { maxInstancesPer15s: 0 } }],
    ["scaleUp.maxInstancesPer15s", { scaleUp: { maxInstancesPer15s: 501 } }],
    ["scaleDown", { scaleDown: [] }],
    ["scaleDown.stabilizationMs", { scaleDown: { stabilizationMs: Number.NaN } }],
    ["scaleDown.maxPercentPer15s", { scaleDown: { maxPercentPer15s: 101 } }],
    ["scaleDown.maxPercentPer15s", { scaleDown: { maxPercentPer15s: 0 } }],
  ])("reports %s for %j", (field, fields) => {
    const problems = validatePolicy(withFields(fields));
    expect(problems.map((x) => x.field)).toEqual([field]);
    expect(problems[0]?.message.length).toBeGreaterThan(0);
  });

  it("reports a misspelt target by name, and that no known target remains", () => {
    expect(fieldsOf(withFields({ targets: { p95ms: 200 } }))).toEqual(["targets.p95ms", "targets"]);
  });

  it("reports every bad field at once, in field order", () => {
    const p = withFields({
      minInstances: -1,
      maxInstances: 600,
      targets: { cpuPercent: 0, p95Ms: -1 },
      mode: "off",
      tolerance: 2,
      scaleUp: { maxInstancesPer15s: 0 },
      scaleDown: { stabilizationMs: -5 },
    });
    expect(fieldsOf(p)).toEqual([
      "minInstances",
      "maxInstances",
      "targets.cpuPercent",
      "targets.p95Ms",
      "mode",
      "tolerance",
      "scaleUp.maxInstancesPer15s",
      "scaleDown.stabilizationMs",
    ]);
  });

  it("rejects a non-object policy", () => {
    expect(fieldsOf(null as unknown as AutoscalePolicy)).toEqual([""]);
  });

  it("ignores targets explicitly set to undefined but still needs one defined", () => {
    expect(fieldsOf(withFields({ targets: { cpuPercent: undefined, p95Ms: 200 } }))).toEqual([]);
    expect(fieldsOf(withFields({ targets: { cpuPercent: undefined } }))).toEqual(["targets"]);
  });
});

describe("withDefaults", () => {
  it("fills in HPA's behavior defaults", () => {
    expect(withDefaults(valid)).toEqual({
      minInstances: 1,
      maxInstances: 10,
      targets: { inflightPerInstance: 10 },
      evaluationPeriodMs: DEFAULT_EVALUATION_PERIOD_MS,
      mode: "enforce",
      tolerance: DEFAULT_TOLERANCE,
      scaleUp: { stabilizationMs: 0, maxPercentPer15s: 100, maxInstancesPer15s: 4 },
      scaleDown: { stabilizationMs: 300_000, maxPercentPer15s: 100 },
    });
    expect(DEFAULT_EVALUATION_PERIOD_MS).toBe(15_000);
    expect(DEFAULT_TOLERANCE).toBe(0.1);
  });

  it("keeps what is set, field by field", () => {
    const r = withDefaults({
      ...valid,
      tolerance: 0,
      evaluationPeriodMs: 30_000,
      scaleUp: { maxInstancesPer15s: 2 },
      scaleDown: { stabilizationMs: 60_000 },
    });
    expect(r.tolerance).toBe(0);
    expect(r.evaluationPeriodMs).toBe(30_000);
    expect(r.scaleUp).toEqual({ stabilizationMs: 0, maxPercentPer15s: 100, maxInstancesPer15s: 2 });
    expect(r.scaleDown).toEqual({ stabilizationMs: 60_000, maxPercentPer15s: 100 });
  });
});
