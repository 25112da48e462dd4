/**
 * What the registry counts for a service's WebSocket connections, read the
 * way an operator reads it (`GET /metrics/worker/{service}`), for the e2e and
 * reliability suites: requests in flight and open connections, summed over
 * the service's instances and per instance, and a bounded wait for both to
 * come back to 0 once every connection has ended.
 */
import { eventually } from "./eventually";

export interface InstanceCounts {
  readonly inflight: number;
  readonly websockets: number;
}

export interface SocketCounts {
  /** In flight over the service's instances (open connections included). */
  readonly inflight: number;
  /** Open WebSocket connections over the service's instances. */
  readonly websockets: number;
  /** By instance id; empty when the registry has no count for any instance yet. */
  readonly perInstance: Readonly<Record<string, InstanceCounts>>;
}

interface WorkerMetrics {
  readonly workers: Record<string, { readonly instances: Record<string, { readonly inflight: number | null; readonly websockets?: { readonly open: number | null } }> }>;
}

/** The registry's counts for `service`, through the orchestrator at `baseUrl`; `headers` go with the request (a client address, a credential). */
export async function socketCounts(baseUrl: string, service: string, headers: Record<string, string> = {}): Promise<SocketCounts> {
  const response = await fetch(`${baseUrl}/metrics/worker/${encodeURIComponent(service)}`, { headers, signal: AbortSignal.timeout(10_000) });
  if (response.status !== 200) throw new Error(`GET /metrics/worker/${service}: ${response.status} ${await response.text()}`);
  const view = (await response.json()) as WorkerMetrics;
  const perInstance: Record<string, InstanceCounts> = {};
  let inflight = 0;
  let websockets = 0;
  for (const [id, instance] of Object.entries(view.workers[service]?.instances ?? {})) {
    const counts = { inflight: instance.inflight ?? 0, websockets: instance.websockets?.open ?? 0 };
    inflight += counts.inflight;
    websockets += counts.websockets;
    perInstance[id] = counts;
  }
  return { inflight, websockets, perInstance };
}

/** Waits (at most `timeoutMs`) until `accept` takes the service's counts; resolves with them. */
export function countsWhen(baseUrl: string, service: string, accept: (counts: SocketCounts) => boolean, timeoutMs: number, headers: Record<string, string> = {}): Promise<SocketCounts> {
  let last: SocketCounts | null = null;
  return eventually(async () => {
    last = await socketCounts(baseUrl, service, headers);
    return accept(last) ? last : undefined;
  }, timeoutMs).catch((error: unknown) => {
    throw new Error(`${service}: ${String(error)}; last counts ${JSON.stringify(last)}`);
  });
}

/** Waits (at most `timeoutMs`) until nothing is in flight and no connection is open for a service the registry counts instances of. */
export function countsBackToZero(baseUrl: string, service: string, timeoutMs = 15_000, headers: Record<string, string> = {}): Promise<SocketCounts> {
  return countsWhen(baseUrl, service, (now) => now.inflight === 0 && now.websockets === 0 && Object.keys(now.perInstance).length > 0, timeoutMs, headers);
}
