/**
 * Mirroring (shadow traffic) for a release (issue #20): a copy of an
 * idempotent request the stable side serves goes to an instance of the
 * canary version, and its answer is thrown away. Its outcome still counts,
 * through the edge router's release, towards the canary's health and the
 * release's analysis in the registry (not towards /metrics: a copy is not a
 * client's request).
 *
 * Bounded so that it can never slow down or fail the real request: the copy
 * starts only when the isolate can pick an instance at once (no waiting for
 * the registry), runs in the background (ctx.waitUntil) beside the real one,
 * has its own deadline (the service's timeout, at most MAX_MIRROR_TIMEOUT_MS),
 * and at most MAX_MIRRORS_IN_FLIGHT copies run per isolate: past that, copies
 * are skipped, not queued. The instance can tell a copy by its
 * `X-Orchestrator-Mirror: 1` header.
 */
import type { Config } from "../config";
import type { ReleaseOutcome } from "../contracts/registry";
import { edgeRouter, scheduleEdgeFlush } from "../edge/isolate-router";
import { callUpstream } from "../upstream/call-upstream";

export const MAX_MIRRORS_IN_FLIGHT = 8;
export const MAX_MIRROR_TIMEOUT_MS = 10_000;
export const MIRROR_HEADER = "x-orchestrator-mirror";

let inFlight = 0;

/** This isolate's mirrored copies: sent, skipped (over the bound or no instance to take them), and running now. */
export const mirrorCounts = { sent: 0, skipped: 0, inFlight: () => inFlight };

export interface MirrorRequest {
  readonly service: string;
  /** The canary version to copy the request to. */
  readonly version: string;
  readonly method: string;
  readonly pathAndQuery: string;
  /** The headers the real request goes upstream with (copied, not shared). */
  readonly headers: Headers;
}

/** Starts a copy of the request in the background, or skips it; never throws, never waits. */
export function mirror(env: Env, ctx: ExecutionContext, config: Config, copy: MirrorRequest): void {
  if (inFlight >= MAX_MIRRORS_IN_FLIGHT) {
    mirrorCounts.skipped++;
    return;
  }
  const router = edgeRouter(env);
  const picked = router.pick(copy.service, { version: copy.version }, (work) => ctx.waitUntil(work));
  if (picked instanceof Promise) {
    // The registry is being asked: the real request may be waiting too; a copy must not add to it.
    ctx.waitUntil(picked.then((late) => ("ok" in late ? undefined : router.release(late, ABORTED_NOW)), () => undefined));
    mirrorCounts.skipped++;
    return;
  }
  if ("ok" in picked) {
    mirrorCounts.skipped++;
    return;
  }
  inFlight++;
  mirrorCounts.sent++;
  const headers = new Headers(copy.headers);
  headers.set(MIRROR_HEADER, "1");
  const startedAt = Date.now();
  const sent = callUpstream(env, config, picked.target, copy.pathAndQuery, { method: copy.method, headers }, Math.min(picked.timeoutMs, MAX_MIRROR_TIMEOUT_MS)).then(
    async (result) => {
      let outcome: Omit<ReleaseOutcome, "durationMs">;
      if (result.kind === "response") {
        await result.response.body?.cancel().catch(() => undefined);
        outcome = { status: result.response.status, failure: null };
      } else {
        outcome = { status: null, failure: result.kind === "timeout" ? "timeout" : result.kind === "connect" ? "connect" : "aborted" };
      }
      scheduleEdgeFlush(env, ctx, router.release(picked, { ...outcome, durationMs: Date.now() - startedAt }));
    },
    () => {
      scheduleEdgeFlush(env, ctx, router.release(picked, { status: null, failure: "aborted", durationMs: Date.now() - startedAt }));
    },
  );
  ctx.waitUntil(
    sent.finally(() => {
      inFlight--;
    }),
  );
}

const ABORTED_NOW: ReleaseOutcome = { status: null, failure: "aborted", durationMs: 0 };
