/**
 * Edge-side cooldown: remembers, per isolate, which clients the rate limiter
 * has just refused and until when, so their next requests are answered at the
 * edge instead of each costing a Durable Object call. This is sound because a
 * GCRA refusal does not change the limiter's state: skipping the call until
 * the retry time gives the same answers the limiter would have given.
 *
 * The limiter stays the source of truth; this cache only ever refuses what it
 * was told to refuse, and only until the given time. It is bounded because
 * the keys are client addresses, which an attacker can spray.
 */
export class CooldownCache {
  // Map iteration order is insertion order, so the oldest entry is the first one.
  private readonly entries = new Map<string, number>();
  /**
   * One long-lived iterator finds that first entry. A fresh `keys().next()` per
   * eviction is not O(1) in V8: it rescans the deleted slots left at the front of
   * the hash table until the next rehash, which made a 10k-entry cache ~20x
   * slower under an address spray. The live iterator walks past each slot once.
   * Everything it has yielded was evicted at once, so its next key is always the
   * oldest live one (re-blocked keys move behind it, as they should).
   */
  private oldest: Iterator<string> = this.entries.keys();
  private readonly maxEntries: number;

  /** maxEntries = 0 disables the cache (nothing is remembered). */
  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError(`maxEntries must be a non-negative integer, got ${String(maxEntries)}`);
    }
    this.maxEntries = maxEntries;
  }

  /**
   * Blocks `key` until `untilMs` (exclusive), replacing any earlier entry: the
   * latest answer from the limiter wins, even if it is sooner. Re-inserting
   * moves the key to the young end so an active flooder is not the one evicted.
   * A non-finite time is ignored: the edge must never block for ever on its own.
   */
  block(key: string, untilMs: number): void {
    if (!Number.isFinite(untilMs) || this.maxEntries === 0) return;
    this.entries.delete(key);
    this.entries.set(key, untilMs);
    if (this.entries.size > this.maxEntries) this.evictOldest();
  }

  private evictOldest(): void {
    let next = this.oldest.next();
    if (next.done === true) {
      // Not expected (the map is non-empty here), but a finished iterator never restarts.
      this.oldest = this.entries.keys();
      next = this.oldest.next();
    }
    if (next.done !== true) this.entries.delete(next.value);
  }

  /**
   * The time `key` is blocked until, or null if it is not blocked at `now`.
   * An expired entry is deleted here, so expiry needs no timer; entries that are
   * never looked up again are pushed out by the size bound instead.
   */
  blockedUntil(key: string, now: number): number | null {
    const until = this.entries.get(key);
    if (until === undefined) return null;
    if (until <= now) {
      this.entries.delete(key);
      return null;
    }
    return until;
  }

  get size(): number {
    return this.entries.size;
  }
}
