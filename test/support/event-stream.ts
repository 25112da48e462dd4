/**
 * The server-sent events endpoint of the test upstreams (e2e, reliability,
 * workers): `GET /sse?events=N&intervalMs=M` answers `text/event-stream` and
 * sends N events M ms apart, the first at once, then ends the response. A
 * stream that lasts longer than a service's timeout shows whether the gateway
 * cuts a response that has already started.
 *
 * Each event is `id: <seq>`, `event: tick`, `data: {"upstream","seq","of","at"}`.
 */
import type { ServerResponse } from "node:http";

export const EVENT_STREAM_PATH = "/sse";
const DEFAULT_EVENTS = 5;
const DEFAULT_INTERVAL_MS = 1_000;
const MAX_EVENTS = 10_000;
const MAX_INTERVAL_MS = 10 * 60_000;

/** Serves the stream on `res`; `query` is the request's query (events, intervalMs). */
export function serveEventStream(res: ServerResponse, query: URLSearchParams, upstream: string): void {
  const events = bounded(query.get("events"), DEFAULT_EVENTS, MAX_EVENTS);
  const intervalMs = bounded(query.get("intervalMs"), DEFAULT_INTERVAL_MS, MAX_INTERVAL_MS);
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "x-upstream-name": upstream,
  });
  res.flushHeaders();
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    if (res.destroyed) return;
    if (seq >= events) {
      res.end();
      return;
    }
    seq++;
    res.write(`id: ${seq}\nevent: tick\ndata: ${JSON.stringify({ upstream, seq, of: events, at: new Date().toISOString() })}\n\n`);
    timer = setTimeout(send, seq >= events ? 0 : intervalMs);
  };
  res.once("close", () => clearTimeout(timer));
  send();
}

function bounded(text: string | null, fallback: number, max: number): number {
  const value = Number(text ?? Number.NaN);
  return Number.isInteger(value) && value >= 0 ? Math.min(value, max) : fallback;
}
