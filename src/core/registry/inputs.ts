/**
 * What callers hand the registry: the inputs of its RPC methods that core's
 * decisions read. Part of the RPC contract (src/contracts/registry.ts
 * re-exports every one under the same name); defined here because core may
 * not import the contract.
 */
import type { AffinitySetting } from "../balancer/affinity";
import type { Strategy } from "../balancer/types";
import type { ServiceHealthSettings, Target } from "./records";

export interface RegisterInput {
  readonly service: string;
  readonly target: Target;
  readonly weight: number;
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * The instance's version (core/release/version.ts). Absent: `metadata.version`, if it has one
   * (it must then be a valid version too); neither: the instance has no version.
   */
  readonly version?: string;
  readonly ttlSeconds?: number;
  /** Joins the service's standby pool (out of rotation until the autoscaler needs it). */
  readonly standby?: boolean;
}

export interface HeartbeatInput {
  readonly inflight?: number;
  readonly cpu?: number;
}

export interface ServiceSettingsInput {
  readonly strategy?: Strategy;
  readonly timeoutMs?: number;
  readonly weights?: Readonly<Record<string, number>>;
  readonly healthCheck?: ServiceHealthSettings;
  /** null removes the hook. */
  readonly lifecycleHook?: Target | null;
  /** false: WebSocket upgrades to the service are refused (403). */
  readonly websockets?: boolean;
  /** null removes it. A header name is expected lower-cased (the HTTP schema does it). */
  readonly affinity?: AffinitySetting | null;
}

export interface AcquireOptions {
  /** Instances already tried for this request: never picked again. */
  readonly exclude?: readonly string[];
  /** This acquire is a retry and counts against the retry budget. */
  readonly retry?: boolean;
}

export interface ReleaseOutcome {
  /** Upstream HTTP status, or null when no response arrived. */
  readonly status: number | null;
  readonly durationMs: number;
  readonly failure: "timeout" | "connect" | "aborted" | null;
}

/** One outcome of a request routed at the edge: [upstream status or null, duration ms, failure]. */
export type EdgeOutcome = readonly [status: number | null, durationMs: number, failure: "timeout" | "connect" | null];

/**
 * What an edge isolate reports when it syncs with the registry: its own
 * in-flight counts (absolute, so a lost report cannot make them drift) and
 * the outcomes of requests it finished since its last report.
 */
export interface EdgeReport {
  readonly isolateId: string;
  readonly inflight: Readonly<Record<string, number>>;
  /** Of `inflight`, the open WebSocket connections per instance (absent when there are none). */
  readonly sockets?: Readonly<Record<string, number>>;
  readonly outcomes: Readonly<Record<string, readonly EdgeOutcome[]>>;
  /**
   * Instances this isolate could not connect to since its last report, and
   * has stopped sending to for a while (edge-router.ts, local ejection). The
   * registry ejects them at once: having stopped, the isolate will not send
   * the consecutive failures that would otherwise trip outlier detection.
   */
  readonly refused?: readonly string[];
}

/**
 * One instance's result in a sweep: one probe, or the verdict of several
 * vantage points (core/health/quorum.ts).
 */
export interface ProbeReport {
  readonly id: string;
  readonly at: number;
  readonly probe: { readonly ok: boolean; readonly latencyMs: number | null; readonly kind: "pass" | "fail" | "timeout"; readonly error?: string };
  /**
   * The vantage points that counted split evenly: the instance was checked (its check
   * time moves on) but its state does not change; `probe` is then not read.
   */
  readonly split?: boolean;
}
