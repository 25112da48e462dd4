/**
 * Durable Object calls made by this isolate, counted where they are made, so
 * the benchmark can report calls per proxied request from the code itself
 * rather than from a guess. `awaited` counts the calls a request waited for
 * (the ones on its critical path); the others ran in the background
 * (ctx.waitUntil). Exposed at GET /debug/do-calls (DEV_MODE only).
 */
export const doCallCounts = {
  proxiedRequests: 0,
  registry: 0,
  rateLimiter: 0,
  metrics: 0,
  awaited: 0,
};

export type DoCallKind = Exclude<keyof typeof doCallCounts, "proxiedRequests" | "awaited">;

export function countDoCall(kind: DoCallKind, n = 1, awaited = false): void {
  doCallCounts[kind] += n;
  if (awaited) doCallCounts.awaited += n;
}
