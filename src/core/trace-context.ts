/**
 * W3C Trace Context (Level 1, https://www.w3.org/TR/trace-context/): reading
 * an incoming `traceparent` and `tracestate`, and writing the `traceparent`
 * the edge sends on. Pure: the random bytes new ids come from are passed in.
 *
 * The edge takes part in the trace as one span per request. A valid incoming
 * traceparent is continued: same trace id, the caller's sampled flag, and the
 * edge's own span id as the parent-id of every call it makes for the request;
 * its tracestate is passed on unchanged when it is a valid list. Anything else
 * (no traceparent, or one that breaks the rules) starts a new trace with the
 * sampled flag unset (the spec's default for a component that leaves the
 * recording decision to others) and no tracestate.
 *
 * Parsing walks the characters once with a lookup table and no regular
 * expression; the hot path without a traceparent only formats ids.
 */

/** What the edge knows of one request's trace. */
export interface TraceContext {
  /** 32 lowercase hex digits, never all zero: the client's trace when continued, otherwise a new one. */
  readonly traceId: string;
  /** 16 lowercase hex digits, never all zero: the edge's own span, the parent-id of every call it makes for this request. */
  readonly spanId: string;
  /** The caller's span (the incoming parent-id) when the trace was continued; null when it started here. */
  readonly parentId: string | null;
  /** The sampled flag as received (false for a trace started here). */
  readonly sampled: boolean;
  /** The incoming tracestate, passed on unchanged; null when absent, empty, invalid, or when the trace started here. */
  readonly tracestate: string | null;
}

/** A parsed traceparent: the fields the edge uses, whatever version sent them. */
export interface TraceParent {
  readonly traceId: string;
  readonly parentId: string;
  readonly sampled: boolean;
}

export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;
/** Random bytes traceContextFrom reads from its offset: a trace id and a span id. */
export const TRACE_RANDOM_BYTES = TRACE_ID_BYTES + SPAN_ID_BYTES;

/** A version-00 traceparent's length, and the least any later version may have. */
const TRACEPARENT_LENGTH = 55;
const DASH = 0x2d;
const SAMPLED = 0x01;

/** Two lowercase hex digits per byte value. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** Lowercase hex digit → its value; -1 for every other character code below 128 (uppercase included: the spec allows lowercase only). */
const NIBBLE = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) NIBBLE[digit.toString(16).charCodeAt(0)] = digit;

function nibble(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code < 128 ? (NIBBLE[code] as number) : -1;
}

/** `length` lowercase hex digits from `at`, not all zero (an all-zero trace or parent id is invalid). */
function isHexId(text: string, at: number, length: number): boolean {
  let nonZero = false;
  for (let i = at; i < at + length; i++) {
    const value = nibble(text, i);
    if (value < 0) return false;
    if (value !== 0) nonZero = true;
  }
  return nonZero;
}

const isOws = (code: number): boolean => code === 0x20 || code === 0x09;

/**
 * Parses a traceparent value (§3.2). Version 00 is exactly 55 characters.
 * A later version is parsed by the forward-compatibility rule (§3.2.4): at
 * least 55 characters, the version-00 fields at their places, and after the
 * flags either the end or a dash that starts fields this version does not
 * know (ignored). Version ff, uppercase hex and all-zero ids are invalid.
 * Surrounding spaces and tabs are ignored. Null when invalid.
 */
export function parseTraceparent(value: string): TraceParent | null {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  const length = end - start;
  if (length < TRACEPARENT_LENGTH) return null;
  const high = nibble(value, start);
  const low = nibble(value, start + 1);
  if (high < 0 || low < 0 || value.charCodeAt(start + 2) !== DASH) return null;
  const version = high * 16 + low;
  if (version === 0xff) return null;
  if (version === 0 ? length !== TRACEPARENT_LENGTH : length > TRACEPARENT_LENGTH && value.charCodeAt(start + TRACEPARENT_LENGTH) !== DASH) return null;
  if (!isHexId(value, start + 3, 32) || value.charCodeAt(start + 35) !== DASH) return null;
  if (!isHexId(value, start + 36, 16) || value.charCodeAt(start + 52) !== DASH) return null;
  const flagsHigh = nibble(value, start + 53);
  const flagsLow = nibble(value, start + 54);
  if (flagsHigh < 0 || flagsLow < 0) return null;
  return { traceId: value.slice(start + 3, start + 35), parentId: value.slice(start + 36, start + 52), sampled: (flagsLow & SAMPLED) === SAMPLED };
}

/**
 * The traceparent the edge sends: version 00, the trace, the edge's span as
 * parent-id, and only the sampled flag (Level 1 defines no other; the rest
 * must be sent as zero).
 */
export function formatTraceparent(trace: Pick<TraceContext, "traceId" | "spanId" | "sampled">): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? "01" : "00"}`;
}

/** `length` bytes of `random` from `offset` as lowercase hex; never all zero (a draw of zeros ends in 01 instead). */
export function hexId(random: Uint8Array, offset: number, length: number): string {
  let hex = "";
  let any = 0;
  for (let i = offset; i < offset + length; i++) {
    const byte = random[i] as number;
    any |= byte;
    hex += HEX[byte] as string;
  }
  return any === 0 ? `${hex.slice(0, -2)}01` : hex;
}

/**
 * The request's trace: the incoming traceparent continued when valid (with
 * its tracestate when that is a valid list), otherwise a new trace. Reads
 * TRACE_RANDOM_BYTES of `random` from `offset` (the trace id's part only for
 * a new trace). `tracestate` is only looked at when the traceparent is
 * valid, as the spec requires.
 */
export function traceContextFrom(traceparent: string | null, tracestate: string | null, random: Uint8Array, offset: number): TraceContext {
  const spanId = hexId(random, offset + TRACE_ID_BYTES, SPAN_ID_BYTES);
  const incoming = traceparent === null ? null : parseTraceparent(traceparent);
  if (incoming === null) return { traceId: hexId(random, offset, TRACE_ID_BYTES), spanId, parentId: null, sampled: false, tracestate: null };
  return {
    traceId: incoming.traceId,
    spanId,
    parentId: incoming.parentId,
    sampled: incoming.sampled,
    tracestate: tracestate === null ? null : tracestateToForward(tracestate),
  };
}

// ------------------------------------------------------------------ tracestate (§3.3)

export const MAX_TRACESTATE_MEMBERS = 32;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const AT = 0x40;

const isLcAlpha = (code: number): boolean => code >= 0x61 && code <= 0x7a;
const isDigit = (code: number): boolean => code >= 0x30 && code <= 0x39;
/** lcalpha / DIGIT / "_" / "-" / "*" / "/" */
const isKeyChar = (code: number): boolean => isLcAlpha(code) || isDigit(code) || code === 0x5f || code === 0x2d || code === 0x2a || code === 0x2f;

/** key chars from `from` to `to` (exclusive): a first character passing `first`, at most `max` in all. */
function isKeyPart(text: string, from: number, to: number, max: number, first: (code: number) => boolean): boolean {
  if (to <= from || to - from > max || !first(text.charCodeAt(from))) return false;
  for (let i = from + 1; i < to; i++) if (!isKeyChar(text.charCodeAt(i))) return false;
  return true;
}

/** simple-key (lcalpha, up to 256 in all) or tenant-id "@" system-id (up to 241 and 14). */
function isKey(text: string, from: number, to: number): boolean {
  let at = -1;
  for (let i = from; i < to; i++) {
    if (text.charCodeAt(i) === AT) {
      if (at >= 0) return false;
      at = i;
    }
  }
  if (at < 0) return isKeyPart(text, from, to, 256, isLcAlpha);
  return isKeyPart(text, from, at, 241, (code) => isLcAlpha(code) || isDigit(code)) && isKeyPart(text, at + 1, to, 14, isLcAlpha);
}

/** 1–256 printable ASCII characters but "," and "=", the last not a space. */
function isValue(text: string, from: number, to: number): boolean {
  if (to <= from || to - from > 256 || text.charCodeAt(to - 1) === 0x20) return false;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === COMMA || code === EQUALS) return false;
  }
  return true;
}

/**
 * The tracestate to pass on: the value as received when it is a valid list
 * (at most 32 members, keys and values per the grammar, no key twice; empty
 * members and spaces or tabs around members allowed), null when it is empty
 * or invalid. The edge adds no member of its own, so a valid list goes on
 * unchanged; an invalid one is dropped whole rather than half-forwarded.
 */
export function tracestateToForward(value: string): string | null {
  const keys: string[] = [];
  let from = 0;
  while (from <= value.length) {
    let to = value.indexOf(",", from);
    if (to < 0) to = value.length;
    let start = from;
    let end = to;
    while (start < end && isOws(value.charCodeAt(start))) start++;
    while (end > start && isOws(value.charCodeAt(end - 1))) end--;
    if (end > start) {
      const equals = value.indexOf("=", start);
      if (equals < 0 || equals >= end || !isKey(value, start, equals) || !isValue(value, equals + 1, end)) return null;
      const key = value.slice(start, equals);
      if (keys.length === MAX_TRACESTATE_MEMBERS || keys.includes(key)) return null;
      keys.push(key);
    }
    from = to + 1;
  }
  return keys.length === 0 ? null : value;
}
