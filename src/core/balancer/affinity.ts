/**
 * Client affinity by consistent hashing: requests that carry the same key
 * (a header, a cookie or the client's IP) go to the same instance for as long
 * as it stays in the ring, and a change of membership moves only the keys of
 * the instance that joined or left.
 *
 * Two pure halves, for whoever picks an instance for a request:
 * - affinityKey reads the key of one request, as the service's setting says;
 * - buildHashRing / ringLookup are a ketama ring in the spirit of Envoy's
 *   ring_hash load balancer: every member owns points on a 32-bit circle, and
 *   a key belongs to the member owning the first point at or after its hash.
 *
 * Unlike Envoy, a member's number of points comes from its weight against a
 * FIXED unit (not normalised over the ring), so its points do not depend on
 * who else is in the ring. That is what makes adding or removing one member
 * move exactly the keys that member gains or loses, and what lets slow start
 * grow a member's share without disturbing anyone else's keys.
 */
import { DEFAULT_WEIGHT_SCALE } from "../health/slow-start";
import { continueHash, finishHash, HASH_START, hash32 } from "../string-hash";

/**
 * Where a client's affinity key comes from: a request header, a cookie, or the
 * client's IP (CF-Connecting-IP). Requests with the same key go to the same
 * instance while it stays eligible. Part of the RPC contract (ServiceRoute,
 * ServiceView; src/contracts/registry.ts re-exports it); declared here because
 * core may not import the contract. Header names are stored lower-cased;
 * cookie names are case-sensitive and kept as given.
 */
export type AffinitySetting = { readonly source: "header" | "cookie"; readonly name: string } | { readonly source: "ip" };

// ------------------------------------------------------------------ the key of one request

/**
 * Only this many characters of a key are used. Keys are identifiers (a user
 * id, a session token); past 1 KiB a key says nothing more, and bounding it
 * keeps a client from making every one of its requests hash a huge header.
 */
export const MAX_AFFINITY_KEY_CHARS = 1024;

export interface AffinityRequest {
  readonly headers: Headers;
  /** CF-Connecting-IP, or null when the request did not come through Cloudflare's edge. */
  readonly clientIp: string | null;
}

/** The request's affinity key, or null when it carries none (the service's strategy then picks). */
export function affinityKey(setting: AffinitySetting, request: AffinityRequest): string | null {
  switch (setting.source) {
    case "header":
      return boundedKey(headerValue(request.headers, setting.name));
    case "cookie": {
      const cookies = headerValue(request.headers, "cookie");
      return cookies === null ? null : boundedKey(cookieValue(cookies, setting.name));
    }
    case "ip":
      return boundedKey(request.clientIp);
  }
}

/**
 * The settings API only stores valid header names, but a name that reached the
 * registry some other way must not make Headers.get throw on every request of
 * the service: an unreadable header is a missing key.
 */
function headerValue(headers: Headers, name: string): string | null {
  try {
    return headers.get(name);
  } catch {
    return null;
  }
}

/** Trimmed and cut to MAX_AFFINITY_KEY_CHARS; empty is no key. Cut before trimming the end, so a huge value costs no more than a small one. */
function boundedKey(value: string | null): string | null {
  if (value === null) return null;
  const key = value.trimStart().slice(0, MAX_AFFINITY_KEY_CHARS).trimEnd();
  return key === "" ? null : key;
}

/**
 * One cookie's value from a Cookie request header (`a=1; b="two"`), or null.
 * Names are case-sensitive and the first pair with the name wins (RFC 6265
 * §5.4 puts the most specific path first); surrounding whitespace is ignored,
 * one pair of double quotes around the value is removed, and pairs without
 * `=` are skipped. The value is not percent-decoded: as a key it only has to
 * be the same string every time, and decoding would cost on every request.
 * An empty first occurrence is no value (a later one is not looked for).
 */
export function cookieValue(cookieHeader: string, name: string): string | null {
  let start = 0;
  while (start < cookieHeader.length) {
    let end = cookieHeader.indexOf(";", start);
    if (end === -1) end = cookieHeader.length;
    const equals = cookieHeader.indexOf("=", start);
    if (equals !== -1 && equals < end && cookieHeader.slice(start, equals).trim() === name) {
      let value = cookieHeader.slice(equals + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value === "" ? null : value;
    }
    start = end + 1;
  }
  return null;
}

// ------------------------------------------------------------------ the ring

/**
 * Points a member gets per default weight. Weights here are routing weights
 * (core/registry/routing.ts): the operator's weight × DEFAULT_WEIGHT_SCALE
 * (100), after slow start. So an instance of weight 1 gets 512 points, one
 * of weight 3 gets 1,536, and one ramping up at a tenth of weight 1 starts
 * at 51 and grows as it warms up. Points are placed at random, so a member's
 * share of the circle strays from its weight's share by about 1/√points:
 * with 512 per default weight, about ±3% (one standard deviation; 160,
 * libketama's count, gives ±6% and 1,024, Envoy's default minimum ring for a
 * whole service, ±2% but twice the build cost).
 */
export const RING_POINTS_PER_DEFAULT_WEIGHT = 512;

/**
 * The most points a ring has (512 KiB to build, 512 KiB kept), which keeps
 * a build under 10 ms: 128 default-weight instances fit. Beyond it, every
 * member's count is halved (again, until the ring fits), keeping at least
 * one point each, so the registry's largest service, 500 instances of weight
 * 1, gets 128 points per instance. Shares stay proportional and each member
 * keeps a prefix of its own points, but a build that halves once more (or
 * once less) than the last moves keys between members that stayed:
 * consistency is exact between rings that halve the same number of times.
 * A ring whose members have one point each may exceed the cap: one point
 * per member with a positive weight is the floor.
 */
export const MAX_RING_POINTS = 65_536;

/**
 * Ties between equal point hashes go to the member whose id sorts first; the
 * member's rank is packed below the hash so one numeric sort orders both.
 * 2^32 × 2^21 stays within 2^53, where doubles are exact.
 */
const RANK_SLOTS = 2 ** 21;

export interface RingMember {
  readonly id: string;
  /** Routing weight (see RING_POINTS_PER_DEFAULT_WEIGHT); zero, negative or not finite: no points. */
  readonly weight: number;
}

/** Sorted points on the circle and, for each, the index in `ids` of the member that owns it. */
export interface HashRing {
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
  /** Members with at least one point, sorted by id. */
  readonly ids: readonly string[];
}

/** Points a member of this weight gets before any halving (not rounded). */
function pointsWanted(weight: number): number {
  return Number.isFinite(weight) && weight > 0 ? (weight * RING_POINTS_PER_DEFAULT_WEIGHT) / DEFAULT_WEIGHT_SCALE : 0;
}

function pointsAfterHalving(wanted: number, halvings: number): number {
  return wanted > 0 ? Math.max(1, Math.round(wanted / 2 ** halvings)) : 0;
}

/**
 * Builds the ring of these members. A repeated id counts once (its first
 * entry). A member's points are hash32(`${id}#${k}`) for k = 0, 1, …, so a
 * member with more weight keeps all the points it had and adds more.
 * Cost: one short hash per point and one sort of at most MAX_RING_POINTS
 * (measured on this project's machine: about 7 ms at the cap, half a
 * millisecond for ten instances; a lookup about 0.2 µs). Callers that pick
 * often should keep a ring while its members and weights stay the same.
 */
export function buildHashRing(members: readonly RingMember[]): HashRing {
  const wanted = new Map<string, number>();
  for (const member of members) if (!wanted.has(member.id)) wanted.set(member.id, pointsWanted(member.weight));
  const ids = [...wanted.keys()].filter((id) => (wanted.get(id) as number) > 0).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (ids.length >= RANK_SLOTS) throw new RangeError(`a hash ring holds fewer than ${RANK_SLOTS} members`);

  const counts = ids.map((id) => wanted.get(id) as number);
  let halvings = 0;
  let total = sumOf(counts.map((w) => pointsAfterHalving(w, 0)));
  while (total > MAX_RING_POINTS && total > ids.length) {
    halvings++;
    total = sumOf(counts.map((w) => pointsAfterHalving(w, halvings)));
  }

  const packed = new Float64Array(total);
  let next = 0;
  for (let rank = 0; rank < ids.length; rank++) {
    const id = ids[rank] as string;
    const count = pointsAfterHalving(counts[rank] as number, halvings);
    // hash32(`${id}#${k}`), with the id hashed once: most of the build's time is hashing.
    const prefix = continueHash(HASH_START, `${id}#`);
    for (let k = 0; k < count; k++) packed[next++] = finishHash(continueHash(prefix, String(k))) * RANK_SLOTS + rank;
  }
  packed.sort();

  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    const value = packed[i] as number;
    const rank = value % RANK_SLOTS;
    points[i] = (value - rank) / RANK_SLOTS;
    owners[i] = rank;
  }
  return { points, owners, ids };
}

function sumOf(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum;
}

/** The member owning the first point at or after the key's hash (wrapping around), or null for an empty ring. */
export function ringLookup(ring: HashRing, key: string): string | null {
  const { points, owners, ids } = ring;
  if (points.length === 0) return null;
  const hash = hash32(key.length > MAX_AFFINITY_KEY_CHARS ? key.slice(0, MAX_AFFINITY_KEY_CHARS) : key);
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((points[mid] as number) < hash) low = mid + 1;
    else high = mid;
  }
  return ids[owners[low === points.length ? 0 : low] as number] ?? null;
}
