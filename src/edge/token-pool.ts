/**
 * Rate limiting at load without a Durable Object call per request.
 *
 * A client that sends a policy fewer than `lowLoadRps` requests a second from
 * this isolate is checked exactly, one RateLimiterDO call per request. A
 * busier one is served from a small local pool: the isolate reserves a batch
 * of tokens (about a quarter second of its current rate) from the limiter,
 * spends them locally, and refunds what it did not use when the pool expires.
 *
 * The limit is never exceeded: every request admitted spends a token the
 * limiter granted. The price is bounded under-admission: tokens sitting in
 * one isolate's pool (about `poolTtlMs` of the client's rate, at most
 * `maxBatch` plus the half batch a top-up finds still on hand, for at most
 * `poolTtlMs` after the last reservation) are not available to the same
 * client through other isolates until refunded.
 *
 * A busy pool is topped up before it runs dry: when it falls to half of
 * what its last reservation left it with, the request that notices starts the next reservation in the
 * background (kept alive by its `ctx.waitUntil`) and is itself served from
 * the tokens still on hand. So at a steady rate requests neither wait for the
 * limiter nor fall back to exact checks, and a request served from the pool
 * costs no promise at all (`take` answers synchronously).
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
  readonly reserve: (key: string, policy: RateLimitPolicy, wanted: number) => Promise<LimiterDecision & { readonly granted: number }>;
  readonly refund: (key: string, policy: RateLimitPolicy, tokens: number) => void;
  readonly lowLoadRps?: number;
  readonly poolTtlMs?: number;
  readonly maxBatch?: number;
  readonly maxKeys?: number;
}

/** Keeps a background reservation alive after the request that started it has its answer (ctx.waitUntil). */
export type KeepAlive = (work: Promise<unknown>) => void;

export type PoolDecision = LimiterDecision & { readonly source: "limiter" | "pool" };

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
const RESERVE_BACKOFF_MAX_MS = 1_000;

export class TokenPool {
  private readonly pools = new Map<string, Pool>();
  private readonly lowLoadRps: number;
  private readonly poolTtlMs: number;
  private readonly maxBatch: number;
  private readonly maxKeys: number;

  constructor(private readonly deps: TokenPoolDeps) {
    this.lowLoadRps = deps.lowLoadRps ?? 10;
    // Half a second of a busy client's rate per reservation: few enough limiter calls at load,
    // and at most that much capacity parked in one isolate.
    this.poolTtlMs = deps.poolTtlMs ?? 500;
    this.maxBatch = deps.maxBatch ?? 100;
    this.maxKeys = deps.maxKeys ?? 10_000;
  }

  /**
   * Admits or refuses one request of `key` (a client address) under `policy`:
   * synchronously when the pool can answer, as a promise when the limiter must.
   * `keepAlive` lets a background top-up outlive the request that started it.
   */
  take(key: string, policy: RateLimitPolicy, keepAlive?: KeepAlive): PoolDecision | Promise<PoolDecision> {
    const now = this.deps.now();
    const pool = this.poolOf(`${key}|${policy.name}`, policy, now);
    pool.recent.note(now);
    this.expire(key, pool, now);
    if (pool.tokens > 0) {
      if (keepAlive && pool.tokens <= pool.level / 2 && pool.reservingSince === null && now >= pool.reserveAgainAt) this.topUp(key, pool, now, keepAlive);
      return this.spend(pool);
    }
    if (now < pool.refusedUntil) return this.refuse(pool, now);
    if (pool.recent.count <= this.lowLoadRps) return this.checkExactly(key, policy);
    // One request reserves a batch; requests arriving meanwhile are checked exactly rather
    // than waiting on it (in Workers, I/O started by one request dies with that request).
    if (pool.reservingSince !== null && now - pool.reservingSince < RESERVE_STALL_MS) return this.checkExactly(key, policy);
    if (now < pool.reserveAgainAt) return this.checkExactly(key, policy);
    return this.reserveAndTake(key, pool, now);
  }

  private async checkExactly(key: string, policy: RateLimitPolicy): Promise<PoolDecision> {
    return { ...(await this.deps.check(key, policy)), source: "limiter" };
  }

  private async reserveAndTake(key: string, pool: Pool, now: number): Promise<PoolDecision> {
    pool.reservingSince = now;
    try {
      await this.reserveBatch(key, pool, now);
    } catch {
      // The reservation failed, but the limiter may still answer plain checks: ask it rather than fail open.
      this.backOff(pool, now);
      return this.checkExactly(key, pool.policy);
    } finally {
      // Only this reservation's own flag: a newer one may have started after this one stalled.
      if (pool.reservingSince === now) pool.reservingSince = null;
    }
    if (pool.tokens > 0) return this.spend(pool);
    return this.refuse(pool, this.deps.now());
  }

  /** The next batch, reserved while this one is still being spent; a failure just leaves the pool to run dry. */
  private topUp(key: string, pool: Pool, now: number, keepAlive: KeepAlive): void {
    pool.reservingSince = now;
    keepAlive(
      this.reserveBatch(key, pool, now)
        .catch(() => this.backOff(pool, now))
        .finally(() => {
          if (pool.reservingSince === now) pool.reservingSince = null;
        }),
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
   * Brings the pool up to about `poolTtlMs` of the client's current rate
   * (at most maxBatch): a top-up asks only for what the tokens on hand do not
   * cover, so the pool never holds much more than one TTL's worth, and at a
   * steady rate it reaches its next top-up before it expires.
   */
  private async reserveBatch(key: string, pool: Pool, now: number): Promise<void> {
    const rate = pool.recent.count; // requests in the last second
    const target = Math.max(2, Math.min(this.maxBatch, Math.ceil((rate * this.poolTtlMs) / 1000)));
    const wanted = Math.max(1, target - pool.tokens);
    const granted = await this.deps.reserve(key, pool.policy, wanted);
    if (this.pools.get(`${key}|${pool.policy.name}`) !== pool) {
      // The pool was evicted while the limiter answered: nobody can spend these tokens, so they go back.
      if (granted.granted > 0) this.deps.refund(key, pool.policy, granted.granted);
      return;
    }
    pool.reserveFailures = 0;
    // Added, not replaced: a top-up arrives while the previous batch is still being spent.
    pool.tokens += granted.granted;
    pool.level = pool.tokens;
    pool.limiterRemaining = granted.remaining;
    pool.resetMs = granted.resetMs;
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
      pool = { tokens: 0, expiresAt: 0, limiterRemaining: 0, resetMs: 0, policy, refusedUntil: 0, recent: new RecentTimes(this.recentCap()), reservingSince: null, level: 0, reserveAgainAt: 0, reserveFailures: 0 };
      this.pools.set(poolKey, pool);
    }
    return pool;
  }

  /** Bounded: the oldest client's pool goes first, its unused tokens refunded. */
  private evictOldest(now: number): void {
    const oldest = this.pools.keys().next().value;
    if (oldest === undefined) return;
    const pool = this.pools.get(oldest) as Pool;
    this.expire(oldest.split("|")[0] as string, { ...pool, expiresAt: now }, now);
    this.pools.delete(oldest);
  }
}
