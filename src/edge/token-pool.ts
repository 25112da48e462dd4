/**
 * Rate limiting without a Durable Object call on the request's path.
 *
 * The client's RateLimiterDO stays the authority; the isolate decides locally
 * from what it last heard from it, and tells it what it admitted afterwards:
 *
 * - **Credit.** A request the pool has no token for is admitted on credit when
 *   the isolate's estimate of the client's bucket (the limiter's last
 *   `remaining`, refilled at the policy's rate since) has room and fewer than
 *   `credit` requests are already on credit. The debt is charged to the limiter
 *   in the background (`reserve(…, debt)`, kept alive by ctx.waitUntil), and the
 *   answer updates the estimate. This is how a client's first requests in an
 *   isolate, and every request of a client that sends few, are decided: no wait.
 * - **Tokens.** A busy client (more than `lowLoadRps` a second here) is served
 *   from a small batch of tokens reserved in the background, about `poolTtlMs`
 *   of its current rate, topped up at half, refunded when the pool expires.
 * - **Refusal.** Once the limiter says the client is out (no grant, or no room
 *   left after a charge), the isolate refuses it locally until the limiter's
 *   retry-after. A request that can be decided none of these ways (credit used
 *   up, a reservation still in flight) asks the limiter and waits: the rare case.
 *
 * Bound on over-admission: credit is given only while the estimate says the
 * bucket has room, so beyond what one-at-a-time checking would admit, an
 * isolate admits at most `credit` requests per client and policy, and only
 * while another isolate spent the room it believed in during one round trip.
 * Every credit request is charged (GCRA caps the charge at an empty bucket, so
 * the client is not made to pay for more than a full bucket). Tokens are
 * admitted only as granted, so they never exceed the limit; their cost is bounded
 * under-admission (tokens parked in one isolate for up to `poolTtlMs`).
 *
 * No Durable Object, clock or timer here: the caller injects them.
 */
import type { RateLimitPolicy } from "../core/gcra";
import { RecentTimes } from "./recent-times";

export interface LimiterDecision {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly resetMs: number;
  readonly retryAfterMs: number;
}

export interface TokenPoolDeps {
  readonly now: () => number;
  readonly check: (key: string, policy: RateLimitPolicy) => Promise<LimiterDecision>;
  /** RateLimiterDO.reserve: charges `debt` (requests already admitted on credit), then grants up to `wanted` tokens (0: just the charge). */
  readonly reserve: (key: string, policy: RateLimitPolicy, wanted: number, debt: number) => Promise<LimiterDecision & { readonly granted: number }>;
  readonly refund: (key: string, policy: RateLimitPolicy, tokens: number) => void;
  readonly lowLoadRps?: number;
  readonly poolTtlMs?: number;
  readonly maxBatch?: number;
  readonly maxKeys?: number;
  /** Requests per client and policy an isolate may admit on credit before the limiter has heard of them. */
  readonly credit?: number;
}

/** Keeps a background reservation alive after the request that started it has its answer (ctx.waitUntil). */
export type KeepAlive = (work: Promise<unknown>) => void;

export type PoolDecision = LimiterDecision & { readonly source: "limiter" | "pool" | "credit" };

interface Pool {
  tokens: number;
  expiresAt: number;
  /** The limiter's own `remaining` when the batch was granted (tokens beyond this pool). */
  limiterRemaining: number;
  resetMs: number;
  policy: RateLimitPolicy;
  /** After the limiter granted nothing: refuse here until then instead of asking again. */
  refusedUntil: number;
  /** This client's requests in the last second (exact up to the largest useful batch). */
  recent: RecentTimes;
  /** When a reservation started, while one is in flight. */
  reservingSince: number | null;
  /** How many tokens the last reservation left the pool with: a top-up starts when it falls to half of that. */
  level: number;
  /** After a reservation failed: no new one before then (exact checks meanwhile). */
  reserveAgainAt: number;
  /** Reservations failed in a row. */
  reserveFailures: number;
  /** Requests admitted on credit that no reservation has carried to the limiter yet. */
  debt: number;
  /** Of those, the ones the reservation in flight carries. */
  debtInFlight: number;
  /** Tokens the reservation in flight asks for, and exact checks not yet answered: they may leave the bucket before their answers come back. */
  wantedInFlight: number;
  checksInFlight: number;
  /** The limiter's `remaining` in its last answer (tokens this pool holds already taken out), and when it came; null before any. */
  heardRemaining: number;
  heardAt: number | null;
}

/** A reservation taking longer than this is presumed lost (its request was cancelled). */
const RESERVE_STALL_MS = 1_000;
/**
 * After failed reservations the pool leaves the limiter's reservations alone
 * for a while (exact checks meanwhile): 50 ms after one failure, so a
 * transient one is retried before the tokens on hand run out, doubling up to
 * 1 s while they keep failing, so an outage is not asked again per request.
 */
const RESERVE_BACKOFF_MS = 50;
/** Requests per client and policy an isolate admits on credit at most (RATE_LIMIT_EDGE_CREDIT's default). */
export const DEFAULT_CREDIT = 2;
const RESERVE_BACKOFF_MAX_MS = 1_000;

export class TokenPool {
  private readonly pools = new Map<string, Pool>();
  private readonly lowLoadRps: number;
  private readonly poolTtlMs: number;
  private readonly maxBatch: number;
  private readonly maxKeys: number;
  private readonly credit: number;

  constructor(private readonly deps: TokenPoolDeps) {
    this.lowLoadRps = deps.lowLoadRps ?? 10;
    // Half a second of a busy client's rate per reservation: few enough limiter calls at load,
    // and at most that much capacity parked in one isolate.
    this.poolTtlMs = deps.poolTtlMs ?? 500;
    this.maxBatch = deps.maxBatch ?? 100;
    this.maxKeys = deps.maxKeys ?? 10_000;
    this.credit = deps.credit ?? DEFAULT_CREDIT;
  }

  /**
   * Admits or refuses one request of `key` (a client address) under `policy`:
   * synchronously when the isolate can decide, as a promise when the limiter must.
   * `keepAlive` lets background work (a credit charge, a top-up) outlive the
   * request that started it; without it nothing is started in the background,
   * so nothing is admitted on credit either.
   */
  take(key: string, policy: RateLimitPolicy, keepAlive?: KeepAlive): PoolDecision | Promise<PoolDecision> {
    const now = this.deps.now();
    const pool = this.poolOf(`${key}|${policy.name}`, policy, now);
    pool.recent.note(now);
    this.expire(key, pool, now);
    if (pool.tokens > 0) {
      if (keepAlive && pool.tokens <= pool.level / 2) this.startReservation(key, pool, now, keepAlive);
      return this.spend(pool);
    }
    if (now < pool.refusedUntil) return this.refuse(pool, now);
    if (keepAlive && this.creditAvailable(pool, now)) {
      pool.debt++;
      this.startReservation(key, pool, now, keepAlive);
      return { allowed: true, remaining: Math.max(0, this.estimatedRemaining(pool, now) - pool.debt - pool.debtInFlight), resetMs: pool.resetMs, retryAfterMs: 0, source: "credit" };
    }
    if (!this.isBusy(pool)) return this.checkExactly(key, policy, pool);
    // One request reserves a batch; requests arriving meanwhile are checked exactly rather
    // than waiting on it (in Workers, I/O started by one request dies with that request).
    if (this.reservationInFlight(pool, now)) return this.checkExactly(key, policy, pool);
    if (now < pool.reserveAgainAt) return this.checkExactly(key, policy, pool);
    return this.reserveAndTake(key, pool, now);
  }

  /**
   * Asks the limiter about this one request. Debt not yet on its way goes with
   * it (a reservation of one token that charges the debt first), so the
   * limiter counts the requests admitted on credit before this one.
   */
  private async checkExactly(key: string, policy: RateLimitPolicy, pool?: Pool): Promise<PoolDecision> {
    if (!pool) return { ...(await this.deps.check(key, policy)), source: "limiter" };
    const debt = pool.debt;
    pool.debt = 0;
    pool.debtInFlight += debt;
    pool.checksInFlight++;
    try {
      let decision: LimiterDecision;
      if (debt === 0) {
        decision = await this.deps.check(key, policy);
      } else {
        const reserved = await this.deps.reserve(key, policy, 1, debt);
        decision = { allowed: reserved.granted >= 1, remaining: reserved.remaining, resetMs: reserved.resetMs, retryAfterMs: reserved.retryAfterMs };
      }
      this.hear(pool, decision.remaining);
      return { ...decision, source: "limiter" };
    } catch (error) {
      pool.debt += debt;
      throw error;
    } finally {
      pool.debtInFlight -= debt;
      pool.checksInFlight--;
    }
  }

  /**
   * Takes in the limiter's word on the client's room. Answers may arrive out of
   * order (a reservation sent before checks that came back first), so a new word
   * never raises the estimate: only time refills it.
   */
  private hear(pool: Pool, remaining: number): void {
    const now = this.deps.now();
    const known = pool.heardAt === null ? remaining : this.refilledHeard(pool, now);
    pool.heardRemaining = Math.min(known, remaining);
    pool.heardAt = now;
  }

  private refilledHeard(pool: Pool, now: number): number {
    if (pool.heardAt === null) return pool.policy.burst;
    const refilled = Math.max(0, Math.floor(((now - pool.heardAt) * pool.policy.limit) / pool.policy.periodMs));
    return Math.min(pool.policy.burst, pool.heardRemaining + refilled);
  }

  private isBusy(pool: Pool): boolean {
    return pool.recent.count > this.lowLoadRps;
  }

  private reservationInFlight(pool: Pool, now: number): boolean {
    return pool.reservingSince !== null && now - pool.reservingSince < RESERVE_STALL_MS;
  }

  /**
   * Credit while the limiter's last word, refilled since, leaves room for one
   * more on top of what is already on credit, up to `credit` at a time.
   */
  private creditAvailable(pool: Pool, now: number): boolean {
    const onCredit = pool.debt + pool.debtInFlight;
    return onCredit < Math.min(this.credit, pool.policy.burst) && this.estimatedRemaining(pool, now) > onCredit;
  }

  /**
   * The client's bucket as this isolate last heard of it, refilled at the
   * policy's rate since (a full one if never heard), less what a reservation
   * or exact checks in flight may take: for one isolate alone, never more than
   * the limiter has.
   */
  private estimatedRemaining(pool: Pool, now: number): number {
    return this.refilledHeard(pool, now) - pool.wantedInFlight - pool.checksInFlight;
  }

  private async reserveAndTake(key: string, pool: Pool, now: number): Promise<PoolDecision> {
    pool.reservingSince = now;
    try {
      await this.reserveBatch(key, pool, now);
    } catch {
      // The reservation failed, but the limiter may still answer plain checks: ask it rather than fail open.
      this.backOff(pool, now);
      return this.checkExactly(key, pool.policy, pool);
    } finally {
      // Only this reservation's own flag: a newer one may have started after this one stalled.
      if (pool.reservingSince === now) pool.reservingSince = null;
    }
    if (pool.tokens > 0) return this.spend(pool);
    return this.refuse(pool, this.deps.now());
  }

  /**
   * A reservation in the background: the debt so far, plus tokens when the
   * client is busy. At most one at a time; debt run up meanwhile goes with the
   * next one, started (and kept alive the same way) as this one ends. A
   * failure backs off and keeps the debt for the next one.
   */
  private startReservation(key: string, pool: Pool, now: number, keepAlive: KeepAlive): void {
    if (this.reservationInFlight(pool, now) || now < pool.reserveAgainAt) return;
    if (pool.debt === 0 && !this.isBusy(pool)) return;
    pool.reservingSince = now;
    keepAlive(
      this.reserveBatch(key, pool, now).then(
        () => {
          if (pool.reservingSince === now) pool.reservingSince = null;
          if (pool.debt > 0 && this.pools.get(`${key}|${pool.policy.name}`) === pool) this.startReservation(key, pool, this.deps.now(), keepAlive);
        },
        () => {
          if (pool.reservingSince === now) pool.reservingSince = null;
          this.backOff(pool, now);
        },
      ),
    );
  }

  private backOff(pool: Pool, now: number): void {
    pool.reserveFailures++;
    pool.reserveAgainAt = now + Math.min(RESERVE_BACKOFF_MAX_MS, RESERVE_BACKOFF_MS * 2 ** (pool.reserveFailures - 1));
  }

  private refuse(pool: Pool, now: number): PoolDecision {
    return { allowed: false, remaining: 0, resetMs: pool.resetMs, retryAfterMs: Math.max(1, pool.refusedUntil - now), source: "pool" as const };
  }

  /** Tokens held locally right now (tests, debugging). */
  held(key: string, policyName: string): number {
    return this.pools.get(`${key}|${policyName}`)?.tokens ?? 0;
  }

  /** Requests admitted on credit and not yet charged to the limiter (tests, debugging). */
  owed(key: string, policyName: string): number {
    const pool = this.pools.get(`${key}|${policyName}`);
    return pool ? pool.debt + pool.debtInFlight : 0;
  }

  /** Gives back every unused token (e.g. before a test checks the limiter). */
  drain(): void {
    for (const [poolKey, pool] of this.pools) {
      if (pool.tokens > 0) this.deps.refund(poolKey.split("|")[0] as string, pool.policy, pool.tokens);
      pool.tokens = 0;
    }
  }

  private spend(pool: Pool): PoolDecision {
    pool.tokens--;
    return { allowed: true, remaining: pool.limiterRemaining + pool.tokens, resetMs: pool.resetMs, retryAfterMs: 0, source: "pool" as const };
  }

  /**
   * Charges the debt and, for a busy client, brings the pool up to about
   * `poolTtlMs` of its current rate (at most maxBatch): a top-up asks only for
   * what the tokens on hand do not cover, so the pool never holds much more
   * than one TTL's worth, and at a steady rate it reaches its next top-up
   * before it expires. A quiet client's reservation asks for no tokens.
   */
  private async reserveBatch(key: string, pool: Pool, now: number): Promise<void> {
    const rate = pool.recent.count; // requests in the last second
    const target = Math.max(2, Math.min(this.maxBatch, Math.ceil((rate * this.poolTtlMs) / 1000)));
    const wanted = this.isBusy(pool) ? Math.max(1, target - pool.tokens) : 0;
    const debt = pool.debt;
    pool.debt = 0;
    pool.debtInFlight += debt;
    pool.wantedInFlight += wanted;
    let granted: LimiterDecision & { readonly granted: number };
    try {
      granted = await this.deps.reserve(key, pool.policy, wanted, debt);
    } catch (error) {
      // Not charged: carried by the next reservation.
      pool.debt += debt;
      throw error;
    } finally {
      pool.debtInFlight -= debt;
      pool.wantedInFlight -= wanted;
    }
    if (this.pools.get(`${key}|${pool.policy.name}`) !== pool) {
      // The pool was evicted while the limiter answered: nobody can spend these tokens, so they go back.
      if (granted.granted > 0) this.deps.refund(key, pool.policy, granted.granted);
      return;
    }
    pool.reserveFailures = 0;
    this.hear(pool, granted.remaining);
    pool.limiterRemaining = granted.remaining;
    pool.resetMs = granted.resetMs;
    if (wanted === 0) {
      // Just the charge: no tokens; out of room means refused here until the limiter's retry-after.
      pool.refusedUntil = granted.remaining > 0 ? 0 : now + Math.max(1, granted.retryAfterMs);
      return;
    }
    // Added, not replaced: a top-up arrives while the previous batch is still being spent.
    pool.tokens += granted.granted;
    pool.level = pool.tokens;
    // Never earlier than a newer reservation already set (a late answer must not expire fresh tokens).
    pool.expiresAt = Math.max(pool.expiresAt, now + this.poolTtlMs);
    pool.refusedUntil = granted.granted > 0 ? 0 : now + Math.max(1, granted.retryAfterMs);
  }

  private expire(key: string, pool: Pool, now: number): void {
    if (now < pool.expiresAt) return;
    if (pool.tokens > 0) this.deps.refund(key, pool.policy, pool.tokens);
    pool.tokens = 0;
  }

  /** Beyond the largest batch (and the low-load threshold) the exact rate does not matter. */
  private recentCap(): number {
    return Math.max(this.lowLoadRps + 1, Math.ceil((this.maxBatch * 1000) / this.poolTtlMs));
  }

  private poolOf(poolKey: string, policy: RateLimitPolicy, now: number): Pool {
    let pool = this.pools.get(poolKey);
    if (!pool) {
      if (this.pools.size >= this.maxKeys) this.evictOldest(now);
      pool = {
        tokens: 0,
        expiresAt: 0,
        limiterRemaining: 0,
        resetMs: 0,
        policy,
        refusedUntil: 0,
        recent: new RecentTimes(this.recentCap()),
        reservingSince: null,
        level: 0,
        reserveAgainAt: 0,
        reserveFailures: 0,
        debt: 0,
        debtInFlight: 0,
        wantedInFlight: 0,
        checksInFlight: 0,
        heardRemaining: 0,
        heardAt: null,
      };
      this.pools.set(poolKey, pool);
    }
    return pool;
  }

  /**
   * Bounded: the oldest client's pool goes first, its unused tokens refunded.
   * Debt it still held is forgotten (at most `credit` requests, never charged).
   */
  private evictOldest(now: number): void {
    const oldest = this.pools.keys().next().value;
    if (oldest === undefined) return;
    const pool = this.pools.get(oldest) as Pool;
    this.expire(oldest.split("|")[0] as string, { ...pool, expiresAt: now }, now);
    this.pools.delete(oldest);
  }
}
