/**
 * How one proxied WebSocket connection ended, in four buckets, so the closed
 * counter keeps a bounded label whatever codes peers send (RFC 6455 §7.4 and
 * the IANA registry give the codes their meaning):
 *
 * - normal:   1000 (done), 1001 (going away), 1005 (a close frame without a
 *             code: the handshake still completed cleanly).
 * - error:    1011–1014, the server side could not go on (internal error,
 *             restart, try again later, bad gateway): the WebSocket cousin of
 *             a 5xx, and what an operator wants to alert on.
 * - abnormal: no close handshake at all: 1006 and 1015 (reserved codes the
 *             runtime reports for a dropped connection or a TLS failure), or
 *             no code (the relay saw the connection end without a close event).
 * - other:    everything else: protocol and policy refusals (1002–1010, the
 *             4xx of WebSockets) and application codes (3000–4999).
 */

export const CLOSE_CLASSES = ["normal", "error", "abnormal", "other"] as const;
export type CloseClass = (typeof CLOSE_CLASSES)[number];

/**
 * The class of a close code; null means the connection ended without one.
 * Codes come from the network, not from our code, so an out-of-range one is
 * "other" rather than an error.
 */
export function closeClassOf(code: number | null): CloseClass {
  if (code === null || code === 1006 || code === 1015) return "abnormal";
  if (code === 1000 || code === 1001 || code === 1005) return "normal";
  if (code >= 1011 && code <= 1014) return "error";
  return "other";
}
