/**
 * One active health probe: GET <instance><path> (the binding's <path> for a
 * service binding), with the check's timeout. Any 2xx passes, as in Envoy's
 * default expected_statuses; anything else, or no answer, fails, with an
 * error that starts with its class (core/upstream-errors.ts): "http: HTTP 503",
 * "timeout: no answer within 5000 ms", "dns: lookup failed for api.internal"….
 */
import type { Config } from "../../src/config";
import type { HealthTarget, ProbeReport } from "../../src/contracts/registry";
import { httpStatusError, oneLine, timeoutError, upstreamError } from "../../src/core/upstream-errors";
import { callUpstream } from "../../src/upstream/call-upstream";

export async function probeInstance(env: Env, config: Config, target: HealthTarget): Promise<ProbeReport> {
  const startedAt = Date.now();
  const result = await callUpstream(
    env,
    config,
    target.target,
    target.path,
    { method: "GET", headers: { "user-agent": "orchestrator-health-check/1.0", accept: "application/json, */*" } },
    target.timeoutMs,
  );
  const latencyMs = Date.now() - startedAt;
  switch (result.kind) {
    case "response": {
      await result.response.body?.cancel();
      const ok = result.response.status >= 200 && result.response.status < 300;
      return {
        id: target.id,
        at: Date.now(),
        probe: ok ? { ok, kind: "pass", latencyMs } : { ok, kind: "fail", latencyMs, error: httpStatusError(result.response.status).message },
      };
    }
    case "timeout":
      return { id: target.id, at: Date.now(), probe: { ok: false, kind: "timeout", latencyMs: null, error: timeoutError(target.timeoutMs).message } };
    case "connect":
      return { id: target.id, at: Date.now(), probe: { ok: false, kind: result.errorClass === "timeout" ? "timeout" : "fail", latencyMs: null, error: result.error } };
    case "refused":
      // A probe sets no signal of its own; kept for completeness.
      return { id: target.id, at: Date.now(), probe: { ok: false, kind: "fail", latencyMs: null, error: upstreamError("other", "the probe was stopped").message } };
  }
}

/** A probe that threw instead of answering (a bug, or the runtime giving up on the object): a failure like any other, in one line. */
export function probeCrashed(target: HealthTarget, reason: unknown): ProbeReport {
  const message = reason instanceof Error ? reason.message : String(reason);
  return { id: target.id, at: Date.now(), probe: { ok: false, kind: "fail", latencyMs: null, error: upstreamError("other", `probe failed: ${oneLine(message)}`).message } };
}
