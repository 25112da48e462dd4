/**
 * RateLimiterDO: one object per client IP (idFromName(ip)), holding a GCRA
 * bucket per policy. The decision logic is core/gcra.ts; this class only keeps
 * the buckets durable (an eviction must not hand an abuser a fresh burst) and
 * deletes them once they are full again, so storage does not grow with every
 * address that ever called.
 */
import { DurableObject } from "cloudflare:workers";
import { gcra, type GcraState, type RateLimitPolicy } from "../../src/core/gcra";
import { refund, settleReservation } from "../../src/core/gcra-batch";
import type { RateDecision } from "../../src/contracts/rate-limiter";
import { applyMigrations } from "../migrations";


/** More debt than an isolate can run up (its credit) is a caller bug; this caps what one call can charge. */
const MAX_DEBT = 1_000;

const RATE_LIMITER_MIGRATIONS = [["CREATE TABLE buckets (policy TEXT PRIMARY KEY, tat REAL NOT NULL)"]];

export class RateLimiterDO extends DurableObject<Env> {
  private readonly buckets = new Map<string, GcraState>();
  private cleanupAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage.sql, RATE_LIMITER_MIGRATIONS);
      for (const row of ctx.storage.sql.exec<{ policy: string; tat: number }>("SELECT policy, tat FROM buckets")) {
        this.buckets.set(row.policy, { tat: row.tat });
      }
      this.cleanupAt = await ctx.storage.getAlarm();
    });
  }

  check(policy: RateLimitPolicy, cost = 1): RateDecision {
    const decision = gcra(this.buckets.get(policy.name) ?? null, policy, Date.now(), cost);
    if (decision.allowed) this.store(policy.name, decision.state);
    return { allowed: decision.allowed, remaining: decision.remaining, resetMs: decision.resetMs, retryAfterMs: decision.retryAfterMs };
  }

  /** The decision a request would get now, changing nothing: the failed-authentication gate asks before a credential is checked. */
  peek(policy: RateLimitPolicy): RateDecision {
    const decision = gcra(this.buckets.get(policy.name) ?? null, policy, Date.now(), 1);
    return { allowed: decision.allowed, remaining: decision.remaining, resetMs: decision.resetMs, retryAfterMs: decision.retryAfterMs };
  }

  /**
   * Up to `wanted` tokens at once, for an edge isolate's token pool (src/edge/token-pool.ts),
   * after charging `debt`: requests the isolate already admitted on credit before it heard from here.
   */
  reserve(policy: RateLimitPolicy, wanted: number, debt = 0): RateDecision & { readonly granted: number } {
    const owed = Number.isSafeInteger(debt) && debt > 0 ? Math.min(debt, MAX_DEBT) : 0;
    const settled = settleReservation(this.buckets.get(policy.name) ?? null, policy, Date.now(), Math.max(0, Math.floor(wanted) || 0), owed);
    if (settled.changed && settled.state !== null) this.store(policy.name, settled.state);
    return { granted: settled.granted, allowed: settled.allowed, remaining: settled.remaining, resetMs: settled.resetMs, retryAfterMs: settled.retryAfterMs };
  }

  /** Tokens an isolate reserved and did not use. */
  refund(policy: RateLimitPolicy, tokens: number): void {
    const state = this.buckets.get(policy.name);
    if (state) this.store(policy.name, refund(state, policy, Date.now(), tokens));
  }

  private store(policyName: string, state: GcraState): void {
    this.buckets.set(policyName, state);
    this.ctx.storage.sql.exec("INSERT INTO buckets (policy, tat) VALUES (?, ?) ON CONFLICT (policy) DO UPDATE SET tat = excluded.tat", policyName, state.tat);
    this.scheduleCleanup(state.tat);
  }

  /** Once every bucket is full again the client is indistinguishable from a new one: forget it. */
  override async alarm(): Promise<void> {
    this.cleanupAt = null;
    const now = Date.now();
    let latest = 0;
    for (const state of this.buckets.values()) latest = Math.max(latest, state.tat);
    if (latest <= now) {
      this.buckets.clear();
      this.ctx.storage.sql.exec("DELETE FROM buckets");
      return;
    }
    this.scheduleCleanup(latest);
  }

  private scheduleCleanup(tat: number): void {
    // One pending alarm is enough: when it fires early it re-arms at the latest
    // refill, so a busy client costs one alarm write per refill, not per request.
    if (this.cleanupAt !== null) return;
    this.cleanupAt = Math.ceil(tat) + 1000;
    void this.ctx.storage.setAlarm(this.cleanupAt);
  }
}
