/**
 * Durable Object calls made by this isolate, counted where they are made, so
 * the benchmark can report calls per proxied request from the code itself
 * rather than from a guess. Exposed at GET /debug/do-calls (DEV_MODE only).
 */
export const doCallCounts = {
  proxiedRequests: 0,
  registry: 0,
  rateLimiter: 0,
  metrics: 0,
};

export type DoCallKind = Exclude<keyof typeof doCallCounts, "proxiedRequests">;

export function countDoCall(kind: DoCallKind, n = 1): void {
  doCallCounts[kind] += n;
}
