/**
 * Scheduling of active checks: which instances to probe on this alarm, when to
 * wake next, and running the probes without exceeding the Workers limit of
 * simultaneous outbound connections.
 */

/** Workers allow 6 simultaneous open outbound connections per invocation; more just queue. */
export const MAX_OUTBOUND_CONNECTIONS = 6;

export const DEFAULT_JITTER_FRACTION = 0.1;
/**
 * Jitter above half the interval would let consecutive probes of one instance
 * come almost back to back, which is no longer "every interval"; clamp there.
 */
export const MAX_JITTER_FRACTION = 0.5;

export interface SweepInstance {
  readonly id: string;
  readonly lastCheckAt: number | null;
}

export interface SweepPlan {
  /** Ids to probe now, in input order. */
  readonly due: string[];
  /** Earliest moment another instance becomes due (always > now); set the alarm here. */
  readonly nextAt: number;
}

/** Uniform in [-1, 1) from a [0, 1) source; out-of-range or NaN draws mean no jitter rather than unbounded jitter. */
function signedUnit(random: () => number): number {
  const r = random();
  if (!(r >= 0 && r < 1)) return 0;
  return r * 2 - 1;
}

/**
 * An instance is due when now ≥ lastCheckAt + interval + j, with j drawn uniformly
 * from ±jitterFraction × interval on each plan. Jitter spreads instances that were
 * registered together (and orchestrators restarted together) so their probes
 * stop landing in the same instant.
 *
 * - Never-checked instances (or a non-finite lastCheckAt) are due immediately.
 * - A lastCheckAt in the future (clock skew) is treated as now, so an instance
 *   cannot be left unprobed for longer than an interval plus jitter.
 * - For due instances the next time assumes they are probed now.
 * - With no instances, nextAt is now + interval so the sweep keeps ticking.
 *
 * `random` is called once per already-checked instance, then once per due
 * instance, in input order, so a seeded source gives reproducible plans.
 */
export function planSweep(
  instances: readonly SweepInstance[],
  now: number,
  intervalMs: number,
  random: () => number,
  jitterFraction: number = DEFAULT_JITTER_FRACTION,
): SweepPlan {
  if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
    throw new RangeError(`intervalMs must be a positive number, got ${String(intervalMs)}`);
  }
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite ms timestamp, got ${String(now)}`);
  const fraction = Number.isFinite(jitterFraction) ? Math.min(MAX_JITTER_FRACTION, Math.max(0, jitterFraction)) : 0;
  const jitterMs = () => signedUnit(random) * fraction * intervalMs;

  const due: string[] = [];
  let nextAt = Number.POSITIVE_INFINITY;
  for (const instance of instances) {
    const last = instance.lastCheckAt;
    if (last === null || !Number.isFinite(last)) {
      due.push(instance.id);
      continue;
    }
    const dueAt = Math.min(last, now) + intervalMs + jitterMs();
    if (now >= dueAt) due.push(instance.id);
    else nextAt = Math.min(nextAt, dueAt);
  }
  for (let i = 0; i < due.length; i++) nextAt = Math.min(nextAt, now + intervalMs + jitterMs());
  return { due, nextAt: Number.isFinite(nextAt) ? nextAt : now + intervalMs };
}

export interface SweepTarget extends SweepInstance {
  /** Its interval now (by state: core/health/check-interval.ts). */
  readonly intervalMs: number;
  /** It asked for a probe before its interval is up. */
  readonly probeNow: boolean;
}

export interface DueTargets<T> {
  readonly due: T[];
  readonly nextAt: number;
}

/**
 * Which targets a sweep hands out now, and when the next sweep is due. Each
 * target is planned on its own interval (planSweep per interval, jittered);
 * one that asked for a probe is due at once; one still in flight (handed out
 * in a round not decided yet) waits for its result, and its next check is at
 * least 0.9 of an interval away (the most jitter takes off). `defaultIntervalMs`
 * keeps an empty fleet ticking.
 */
export function planDueTargets<T extends SweepTarget>(
  targets: readonly T[],
  now: number,
  defaultIntervalMs: number,
  random: () => number,
  inFlight: (id: string) => boolean,
): DueTargets<T> {
  const byInterval = new Map<number, T[]>();
  const dueIds = new Set<string>();
  let nextAt = now + defaultIntervalMs;
  for (const target of targets) {
    if (inFlight(target.id) || target.probeNow) {
      if (!inFlight(target.id)) dueIds.add(target.id);
      nextAt = Math.min(nextAt, now + target.intervalMs * (1 - DEFAULT_JITTER_FRACTION));
      continue;
    }
    const group = byInterval.get(target.intervalMs);
    if (group) group.push(target);
    else byInterval.set(target.intervalMs, [target]);
  }
  for (const [intervalMs, group] of byInterval) {
    const plan = planSweep(group, now, intervalMs, random);
    for (const id of plan.due) dueIds.add(id);
    nextAt = Math.min(nextAt, plan.nextAt);
  }
  // In input order.
  return { due: targets.filter((t) => dueIds.has(t.id)), nextAt };
}

/** A round's deadline allows this much beyond its worst case, for queueing and the RPCs. */
export const ROUND_GRACE_MS = 1_000;

/**
 * When a round is given up on: its probes all timing out, six at a time, one
 * more timeout for a prober that was still finishing its previous batch, and grace.
 */
export function roundDeadline(targets: readonly { readonly timeoutMs: number }[], now: number): number {
  let longest = 0;
  for (const t of targets) longest = Math.max(longest, t.timeoutMs);
  return now + (Math.ceil(targets.length / MAX_OUTBOUND_CONNECTIONS) + 1) * longest + ROUND_GRACE_MS;
}

/**
 * Runs fn over items with at most `limit` calls in flight, returning one settled
 * result per item in input order. Probes are expected to catch their own errors,
 * but a throw (sync or async) becomes a { status: "rejected", reason } entry
 * instead of failing the whole sweep, so one bad instance cannot hide the
 * results of the others. A limit below 1 (or NaN) is treated as 1.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  // `limit >= 1` is false for NaN; Infinity stays Infinity and min() caps it at the item count.
  const workers = Math.min(items.length, limit >= 1 ? Math.floor(limit) : 1);
  let nextIndex = 0;

  const worker = async (): Promise<void> => {
    // Claiming the index synchronously before awaiting means no two workers take the same item.
    while (nextIndex < items.length) {
      const index = nextIndex++;
      // In bounds by the loop test; the cast only drops the `| undefined` that strict indexing adds.
      const item = items[index] as T;
      try {
        results[index] = { status: "fulfilled", value: await fn(item, index) };
      } catch (reason: unknown) {
        results[index] = { status: "rejected", reason };
      }
    }
  };

  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}
