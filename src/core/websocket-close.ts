/**
 * Which close frame one end of a relayed WebSocket gets when the other end's
 * connection ends (RFC 6455 §7.4). A clean close is passed through with its
 * code and reason; what cannot be sent on the wire is translated:
 *
 * - 1005 (the peer sent a close frame without a code) is forwarded as a close
 *   frame without a code, so the other end sees 1005 too;
 * - 1006 and 1015 (no close frame at all: the connection died, or TLS failed)
 *   and codes no endpoint may send become 1014 "bad gateway" towards the
 *   client when the upstream died, and 1001 "going away" towards the upstream
 *   when the client did: the far end learns promptly, instead of waiting on a
 *   connection nobody will write to again.
 */

export type RelaySide = "client" | "upstream";

/** A close frame to send: `code` null sends one without a status code. */
export interface CloseFrame {
  readonly code: number | null;
  readonly reason: string;
}

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_NO_STATUS = 1005;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_INTERNAL_ERROR = 1011;
export const CLOSE_BAD_GATEWAY = 1014;

/** RFC 6455 limits a close frame's reason to 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;

/** Codes an endpoint may put in a close frame (RFC 6455 §7.4.1, the IANA registry, and 3000–4999 for libraries and applications). */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code === 1000 || code === 1001 || code === 1002 || code === 1003 || (code >= 1007 && code <= 1014);
}

/** The close frame for the other end when `from` ended the connection with `code`. */
export function forwardedClose(from: RelaySide, code: number, reason: string): CloseFrame {
  if (isSendableCloseCode(code)) return { code, reason: truncateReason(reason) };
  if (code === CLOSE_NO_STATUS) return { code: null, reason: "" };
  return from === "upstream" ? { code: CLOSE_BAD_GATEWAY, reason: "upstream connection lost" } : { code: CLOSE_GOING_AWAY, reason: "client connection lost" };
}

/** Cuts a reason to what a close frame can carry, never in the middle of a character. */
export function truncateReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= MAX_REASON_BYTES) return reason;
  let end = MAX_REASON_BYTES;
  // Back up to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
