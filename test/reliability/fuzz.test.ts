/**
 * Bad input on every endpoint, CI-sized: 10,000 fast-check-generated requests
 * (RELIABILITY_FUZZ_CASES to change it, RELIABILITY_FUZZ_SEED to replay a run)
 * against the orchestrator on plain workerd. What is checked and why: see
 * fuzz-core.ts. The long run is `npm run fuzz`.
 *
 * A known orchestrator bug can be tolerated by name while it is open
 * (KNOWN_BUGS in fuzz-core.ts): counted and printed, never silently.
 *
 * One case in ten is a well-formed request with a promise of its own
 * (CaseExpectation): names like Object.prototype's members in metadata,
 * weights and silences (security review finding 2), pathological and
 * non-RE2 silence regexes, and chunked bodies with chunk extensions within
 * and past MAX_REQUEST_BODY_BYTES to a live service.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type FuzzTarget, formatReport, runFuzz, startFuzzTarget, waitForZeroInflight } from "./fuzz-core";

const CASES = Number(process.env.RELIABILITY_FUZZ_CASES) || 10_000;
// Fixed by default so CI runs the same inputs every time; `npm run fuzz` picks a new seed per run.
const SEED = Number(process.env.RELIABILITY_FUZZ_SEED) || 20_261_128;

describe("bad input on every endpoint", () => {
  let target: FuzzTarget;

  beforeAll(async () => {
    target = await startFuzzTarget({ dir: inject("reliabilityBundleDir") });
  });

  afterAll(async () => {
    await target?.close();
  });

  it(`${CASES} generated requests: no 5xx of its own, no hang, no stack trace, problem+json errors, registry untouched by rejections, metadata and bodies kept whole`, async () => {
    const rssBefore = target.orchestrator.rssKiB();
    const report = await runFuzz({ ctx: target.ctx, api: target.api, cases: CASES, seed: SEED, concurrency: 16, batchSize: 500, budgetMs: 150_000 });
    const health = await fetch(`${target.orchestrator.baseUrl}/health`).then((r) => r.status).catch(() => 0);
    const drained = await waitForZeroInflight(target.api, 20_000);
    console.log(
      `[fuzz] ${formatReport(report)}\n[fuzz] after: /health ${health}, in flight ${drained.inflight}, workerd RSS ${Math.round((rssBefore ?? 0) / 1024)} -> ${Math.round((target.orchestrator.rssKiB() ?? 0) / 1024)} MiB`,
    );

    expect(report.casesRun, "every case ran within the time budget").toBe(CASES);
    expect(report.failures, formatReport(report)).toEqual([]);
    expect(report.stateFailures, formatReport(report)).toEqual([]);
    // Most batches must be comparable, or the registry check says little.
    expect(report.batches.compared).toBeGreaterThanOrEqual(Math.ceil(report.batches.total / 2));
    // The generator reaches far: validation, auth, routing, hygiene, proxying and workerd's own parser.
    for (const status of ["200", "400", "401", "404", "405", "431"]) expect(report.statuses, `some ${status}s`).toHaveProperty(status);
    expect(report.outcomes).toHaveProperty("200-upstream");
    expect(report.outcomes).toHaveProperty("runtime-501-unknown-method");
    expect(report.outcomes).toHaveProperty("runtime-400-invalid-uri");
    expect(report.bodies.chunked).toBeGreaterThan(0);
    // Each kind of well-formed request with a promise of its own went both ways it can.
    for (const kind of ["proto-registration-201", "proto-metadata-refused-400", "proto-weights-refused-400", "proto-silence-201", "proto-silence-smuggled-400", "regex-accepted-201", "regex-refused-400", "proxied-body-whole", "proxied-body-413"]) {
      expect(report.outcomes, `some ${kind}`).toHaveProperty(kind);
    }
    expect(report.bodies.framed).toBeGreaterThan(0);
    expect(report.batches.metadataChecked).toBeGreaterThan(0);
    // Survived it all: still up, nothing left counted in flight.
    expect(target.orchestrator.pid).not.toBeNull();
    expect(health).toBe(200);
    expect(drained.inflight).toBe(0);
  });
});
