/**
 * The health-check settings of issue #17: vantage points (location hints,
 * each once; empty is one local vantage point) and the intervals by state.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config";

function refusal(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("accepted");
}

describe("HEALTH_CHECK_VANTAGE_POINTS", () => {
  it("defaults to one vantage point without a location hint", () => {
    expect(parseConfig({}).health.vantagePoints).toEqual(["local"]);
    expect(parseConfig({ HEALTH_CHECK_VANTAGE_POINTS: " " }).health.vantagePoints).toEqual(["local"]);
  });

  it("takes comma-separated location hints, trimmed and lower-cased, in order", () => {
    expect(parseConfig({ HEALTH_CHECK_VANTAGE_POINTS: "wnam, ENAM ,weur" }).health.vantagePoints).toEqual(["wnam", "enam", "weur"]);
  });

  it.each(["wnam,mars", "local", "wnam,wnam", "us-east-1"])("refuses %j, naming the variable", (value) => {
    expect(refusal({ HEALTH_CHECK_VANTAGE_POINTS: value }).variable).toBe("HEALTH_CHECK_VANTAGE_POINTS");
  });
});

describe("intervals by state", () => {
  it("default to 5 s each", () => {
    const health = parseConfig({}).health;
    expect([health.unhealthyIntervalMs, health.unhealthyEdgeIntervalMs, health.healthyEdgeIntervalMs]).toEqual([5_000, 5_000, 5_000]);
  });

  it.each(["HEALTH_CHECK_UNHEALTHY_INTERVAL_MS", "HEALTH_CHECK_UNHEALTHY_EDGE_INTERVAL_MS", "HEALTH_CHECK_HEALTHY_EDGE_INTERVAL_MS"])("%s is validated (100 ms – 1 h)", (name) => {
    expect(refusal({ [name]: "50" }).variable).toBe(name);
    expect(refusal({ [name]: "soon" }).variable).toBe(name);
    expect(() => parseConfig({ [name]: "2500" })).not.toThrow();
  });
});
