/**
 * One active health probe: GET <instance><path> (the binding's <path> for a
 * service binding), with the check's timeout. Any 2xx passes, as in Envoy's
 * default expected_statuses; anything else, or no answer, fails.
 */
import type { Config } from "../../src/config";
import type { HealthTarget, ProbeReport } from "../../src/contracts/registry";
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
        probe: ok ? { ok, kind: "pass", latencyMs } : { ok, kind: "fail", latencyMs, error: `HTTP ${result.response.status}` },
      };
    }
    case "timeout":
      return { id: target.id, at: Date.now(), probe: { ok: false, kind: "timeout", latencyMs: null, error: `no answer within ${target.timeoutMs} ms` } };
    default:
      return { id: target.id, at: Date.now(), probe: { ok: false, kind: "fail", latencyMs: null, error: result.kind === "connect" ? result.error : "refused" } };
  }
}
