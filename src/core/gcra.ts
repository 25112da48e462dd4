/**
 * Generic Cell Rate Algorithm (GCRA): a leaky bucket stored as a single number,
 * the theoretical arrival time (TAT) at which the bucket will be empty again.
 *
 *   T (emission interval) = periodMs / limit        time one request "occupies"
 *   capacity              = burst × T              (= τ + T, τ the ITU tolerance)
 *   base                  = max(tat, now)
 *   allowed  ⇔  base + cost×T − now ≤ capacity;     then tat' = base + cost×T
 *
 * From idle exactly `burst` simultaneous requests fit, then one more every T.
 * There are no windows, so there is no double burst at a window edge: in any
 * interval of length L at most burst + floor(L / T) requests are allowed.
 *
 * Arithmetic is done in integer microseconds so decisions are exact (no float
 * drift at the allow/deny edge): T is rounded UP to a whole microsecond, so the
 * enforced rate never exceeds the configured one (it is lower by under 1 µs per
 * request; rates above one per microsecond are capped there, far beyond what a
 * single Durable Object can serve anyway). The state keeps the TAT in ms as the
 * interface promises; a µs count divided by 1000 survives the float round trip
 * exactly for epoch timestamps (error < 0.5 µs until the year 2100).
 */

export interface RateLimitPolicy {
  /** Shown to clients in the RateLimit headers; also the bucket key inside one client. */
  readonly name: string;
  /** Requests per periodMs on average; a positive integer (it is advertised as q). */
  readonly limit: number;
  readonly periodMs: number;
  /** Requests that may arrive at once from idle; a positive integer, usually = limit. */
  readonly burst: number;
}

export interface GcraState {
  /** Theoretical arrival time, ms: when the bucket is completely full again. */
  readonly tat: number;
}

export interface GcraDecision {
  readonly allowed: boolean;
  /** The state to persist. Equal to the input on refusal (only normalized if it was corrupt or out of range). */
  readonly state: GcraState;
  /** Unit-cost requests that would still be allowed right now (after this one, if allowed); 0..burst. */
  readonly remaining: number;
  /** Whole ms until the bucket is full again (tat ≤ now), rounded up; ≥ 0. */
  readonly resetMs: number;
  /** 0 when allowed; otherwise whole ms until this same request (same cost) would be allowed, ≥ 1. */
  readonly retryAfterMs: number;
}

const US_PER_MS = 1000;

/**
 * Upper bound on burst × T and on the period, about 31 years in µs. It keeps
 * now + capacity (epoch µs ≈ 1.8e15) far inside the safe-integer range, so every
 * sum and product below is exact.
 */
const MAX_SPAN_US = 1e15;

/* Exact integer division helpers: the float quotient can be off by one ulp, so nudge it. */
function floorDiv(n: number, d: number): number {
  let q = Math.floor(n / d);
  if (q * d > n) q -= 1;
  else if ((q + 1) * d <= n) q += 1;
  return q;
}

function ceilDiv(n: number, d: number): number {
  let q = Math.ceil(n / d);
  if (q * d < n) q += 1;
  else if ((q - 1) * d >= n) q -= 1;
  return q;
}

/** T in whole µs, rounded up so the enforced rate is never above the configured one. */
function emissionIntervalUs(policy: RateLimitPolicy): number {
  return Math.max(1, ceilDiv(policy.periodMs * US_PER_MS, policy.limit));
}

function isPositiveInteger(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 1;
}

/**
 * Null when the policy is usable, otherwise why not. Policies come from operator
 * config (and cross the RPC boundary to the Durable Object), so the checks are
 * done at runtime despite the types.
 */
export function validatePolicy(p: RateLimitPolicy): string | null {
  if (typeof p.name !== "string" || p.name.length === 0) return "name must be a non-empty string";
  if (!isPositiveInteger(p.limit)) return `limit must be a positive integer, got ${String(p.limit)}`;
  if (!isPositiveInteger(p.burst)) return `burst must be a positive integer, got ${String(p.burst)}`;
  if (typeof p.periodMs !== "number" || !Number.isFinite(p.periodMs) || p.periodMs <= 0) {
    return `periodMs must be a positive finite number, got ${String(p.periodMs)}`;
  }
  if (p.periodMs * US_PER_MS > MAX_SPAN_US || p.burst * emissionIntervalUs(p) > MAX_SPAN_US) {
    return "period and burst × period / limit must each be under about 31 years";
  }
  return null;
}

/**
 * Decides one request of `cost` units arriving at `now` (ms) for a client whose
 * previous state is `previous` (null = never seen, i.e. idle).
 *
 * - A refusal leaves the state unchanged, so a flooding client is held to the
 *   rate and no further (it gets in again as soon as it would have anyway), and
 *   the state stays within now + capacity. That also makes answering a known
 *   refusal elsewhere (the edge cooldown) equivalent to asking again.
 * - cost > burst can never be allowed; it is refused with retryAfterMs = periodMs
 *   as a finite back-off, since "never" is not expressible in Retry-After.
 * - A stored TAT that is not finite is treated as idle (fail open for one client
 *   rather than block it forever); one beyond now + capacity (clock moved back,
 *   policy tightened) is clamped there: a client never owes more than a full bucket.
 * - Invalid policy, non-finite now or a cost that is not a positive integer are
 *   caller bugs and throw RangeError rather than silently allow or deny.
 */
export function gcra(previous: GcraState | null, policy: RateLimitPolicy, now: number, cost = 1): GcraDecision {
  const problem = validatePolicy(policy);
  if (problem !== null) throw new RangeError(`invalid rate limit policy "${String(policy.name)}": ${problem}`);
  if (!isPositiveInteger(cost)) throw new RangeError(`cost must be a positive integer, got ${String(cost)}`);
  const t = emissionIntervalUs(policy);
  const capacity = policy.burst * t;
  const nowUs = Math.floor(now * US_PER_MS);
  if (!Number.isFinite(now) || Math.abs(nowUs) > Number.MAX_SAFE_INTEGER - 2 * MAX_SPAN_US) {
    throw new RangeError(`now must be a finite ms timestamp, got ${String(now)}`);
  }

  const storedUs = previous !== null && Number.isFinite(previous.tat) ? Math.round(previous.tat * US_PER_MS) : nowUs;
  const baseUs = Math.min(Math.max(storedUs, nowUs), nowUs + capacity);
  const level = baseUs - nowUs; // µs of capacity in use right now, 0..capacity
  const needed = level + cost * t;

  if (needed <= capacity) {
    return {
      allowed: true,
      state: { tat: (nowUs + needed) / US_PER_MS },
      remaining: floorDiv(capacity - needed, t),
      resetMs: ceilDiv(needed, US_PER_MS),
      retryAfterMs: 0,
    };
  }
  // Hand back the caller's own object unless it had to be normalized, so "unchanged" is literal.
  const normal = previous !== null && Number.isFinite(previous.tat) && storedUs <= nowUs + capacity;
  const state = normal ? previous : { tat: baseUs / US_PER_MS };
  return {
    allowed: false,
    state,
    remaining: floorDiv(capacity - level, t),
    resetMs: ceilDiv(level, US_PER_MS),
    // The bucket drains 1 µs per µs, so the request fits once `needed - capacity` has drained.
    retryAfterMs: cost > policy.burst ? Math.max(1, Math.ceil(policy.periodMs)) : ceilDiv(needed - capacity, US_PER_MS),
  };
}
