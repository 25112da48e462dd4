/**
 * X-Request-Id: a client's id is kept when it is a sane token (so traces join
 * up across hops), otherwise a new one is made. Anything else a client sends
 * there could end up in logs, so it is not trusted.
 *
 * New ids are UUID-shaped (RFC 9562 version 8, the layout for custom ids):
 * 74 random bits drawn once per isolate, then a 48-bit per-isolate counter
 * passed through a keyed permutation (a four-round Feistel network with
 * per-isolate random keys). Unique within an isolate by construction (a
 * permutation of distinct counters) and across isolates with overwhelming
 * probability, without asking the random number generator on every request,
 * and they do not count up: consecutive ids say nothing about traffic volume
 * (security review finding 8).
 *
 * Also the request's W3C trace context (traceFor, below): the trace id an
 * operator follows into an upstream's logs.
 */
import { TRACE_RANDOM_BYTES, type TraceContext, traceContextFrom } from "../core/trace-context";

const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
const HALF = 2 ** 24;
const COUNTER_SPACE = HALF * HALF;

let prefix: string | null = null;
let counter = 0;
let roundKeys: Uint32Array = new Uint32Array(4);

function isolatePrefix(): string {
  // One draw: 16 bytes for the prefix and the counter's start, 16 for the permutation's keys.
  const drawn = crypto.getRandomValues(new Uint8Array(32));
  const bytes = drawn.subarray(0, 16);
  roundKeys = new Uint32Array(drawn.slice(16).buffer);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80; // version 8
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  counter = Number.parseInt(hex.slice(20, 32), 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-`;
}

/** A bijection of [0, 2^48): Feistel rounds over two 24-bit halves, keyed per isolate. */
export function permute48(n: number, keys: ArrayLike<number>): number {
  let left = Math.floor(n / HALF) % HALF;
  let right = n % HALF;
  for (let i = 0; i < keys.length; i++) {
    const mixed = (Math.imul((right ^ (keys[i] as number)) >>> 0, 0x9e3779b1) >>> 8) & (HALF - 1);
    const next = left ^ mixed;
    left = right;
    right = next;
  }
  return left * HALF + right;
}

export function newRequestId(): string {
  prefix ??= isolatePrefix();
  counter = (counter + 1) % COUNTER_SPACE;
  return prefix + permute48(counter, roundKeys).toString(16).padStart(12, "0");
}

export function requestIdFor(request: Request): string {
  return requestIdFrom(request.headers.get("x-request-id"));
}

/** The same, from the X-Request-Id value the edge's header scan already read. */
export function requestIdFrom(given: string | null): string {
  return given !== null && ACCEPTABLE_REQUEST_ID.test(given) ? given : newRequestId();
}

/**
 * Random bytes for trace and span ids, drawn from the platform in one call
 * per RANDOM_POOL_BYTES / TRACE_RANDOM_BYTES requests rather than one per
 * request. Filled on first use: the Workers runtime refuses to generate
 * random values at global scope.
 */
const RANDOM_POOL_BYTES = 4096;
const randomPool = new Uint8Array(RANDOM_POOL_BYTES);
let poolAt = RANDOM_POOL_BYTES;

function drawRandom(bytes: number): number {
  if (poolAt + bytes > RANDOM_POOL_BYTES) {
    crypto.getRandomValues(randomPool);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += bytes;
  return at;
}

/**
 * The request's W3C trace context (core/trace-context.ts): the client's
 * traceparent continued when valid, otherwise a new trace. `present` is the
 * header scan's list of request headers the proxy rewrites, which names
 * traceparent and tracestate when they were sent: a request without them
 * (nearly all) asks the headers for nothing.
 */
export function traceFor(headers: Headers, present: readonly string[]): TraceContext {
  const traceparent = present.includes("traceparent") ? headers.get("traceparent") : null;
  const tracestate = traceparent !== null && present.includes("tracestate") ? headers.get("tracestate") : null;
  return traceContextFrom(traceparent, tracestate, randomPool, drawRandom(TRACE_RANDOM_BYTES));
}
