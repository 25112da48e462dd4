/**
 * How many times in the last second something happened, counted exactly up
 * to a cap, in constant time and without allocating per event: a ring of the
 * newest timestamps. It replaced an array that was pushed, shifted and
 * spliced on every request, which cost a copy of up to `cap` entries per
 * request for a busy client (the token pool asks on every request).
 *
 * Beyond `cap` the count stays at `cap`: callers only need to know that the
 * rate is at least that high.
 */
const WINDOW_MS = 1_000;
const INITIAL_CAPACITY = 16;

export class RecentTimes {
  private times: Float64Array;
  /** Index of the oldest kept timestamp. */
  private start = 0;
  private size = 0;

  constructor(private readonly cap: number) {
    this.times = new Float64Array(Math.min(cap, INITIAL_CAPACITY));
  }

  /** Records an event at `now` (never earlier than the previous one) and forgets those older than a second. */
  note(now: number): void {
    if (this.size === this.cap) {
      // Full: the newest overwrites the oldest.
      this.times[this.start] = now;
      this.start = (this.start + 1) % this.times.length;
    } else {
      if (this.size === this.times.length) this.grow();
      this.times[(this.start + this.size) % this.times.length] = now;
      this.size++;
    }
    this.forgetBefore(now);
  }

  /** Events in the last second (as of the latest `note`), at most `cap`. */
  get count(): number {
    return this.size;
  }

  private forgetBefore(now: number): void {
    const oldestKept = now - WINDOW_MS;
    while (this.size > 0 && (this.times[this.start] as number) <= oldestKept) {
      this.start = (this.start + 1) % this.times.length;
      this.size--;
    }
  }

  /** Doubles the ring (up to `cap`), oldest first, so quiet clients keep a small one. */
  private grow(): void {
    const next = new Float64Array(Math.min(this.cap, this.times.length * 2));
    for (let i = 0; i < this.size; i++) next[i] = this.times[(this.start + i) % this.times.length] as number;
    this.times = next;
    this.start = 0;
  }
}
