/**
 * X-Request-Id: a client's id is kept when it is a sane token (so traces join
 * up across hops), otherwise a new one is made. Anything else a client sends
 * there could end up in logs, so it is not trusted.
 *
 * New ids are UUID-shaped (RFC 9562 version 8, the layout for custom ids):
 * 74 random bits drawn once per isolate, then a 48-bit counter that starts at
 * a random point. Unique within an isolate by construction and across
 * isolates with overwhelming probability, without asking the random number
 * generator on every request.
 */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
const COUNTER_SPACE = 2 ** 48;

let prefix: string | null = null;
let counter = 0;

function isolatePrefix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80; // version 8
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  counter = Number.parseInt(hex.slice(20, 32), 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-`;
}

export function newRequestId(): string {
  prefix ??= isolatePrefix();
  counter = (counter + 1) % COUNTER_SPACE;
  return prefix + counter.toString(16).padStart(12, "0");
}

export function requestIdFor(request: Request): string {
  return requestIdFrom(request.headers.get("x-request-id"));
}

/** The same, from the X-Request-Id value the edge's header scan already read. */
export function requestIdFrom(given: string | null): string {
  return given !== null && ACCEPTABLE_REQUEST_ID.test(given) ? given : newRequestId();
}
