/**
 * An object's alarm as a list of named tasks (health sweep, alert evaluation,
 * delivery, ...) that one runner goes through in order on every tick. The
 * runner applies each task's failure policy, so the try/catch/back-off lives
 * here once instead of being copied into every step, and it says when the
 * alarm should fire next: the earliest time any task asked for.
 *
 * Nothing here touches the platform: the clock comes in as `now`, failures go
 * out through a callback (the object logs them), and tasks are plain async
 * functions, so the scheduling is unit-tested with fakes.
 */

/** Each consecutive failure of a backing-off task adds this much to its retry delay, up to the policy's cap. */
export const BACK_OFF_STEP_MS = 1_000;

export type FailurePolicy =
  /**
   * Counted (the count is the task's `failures`, reset by a success) and reported with the
   * count; the task is retried after min(maxDelayMs, 1 s × consecutive failures), so a
   * persistent fault slows it down without stopping the loop.
   */
  | { readonly kind: "back-off"; readonly message: string; readonly maxDelayMs: number }
  /**
   * Reported; the tick carries on. `wakeAt` says when the alarm should still come back for
   * the task (null: it need not), since a failed run returned nothing to go by.
   */
  | { readonly kind: "log"; readonly message: string; readonly wakeAt: (now: number) => number | null }
  /**
   * Not handled: the tick stops here (later tasks do not run) and the error goes to the
   * caller, whose `finally` still re-arms the alarm.
   */
  | { readonly kind: "end-tick" };

export interface AlarmTask {
  /** Unique within a runner; how status and logs name it. */
  readonly name: string;
  /**
   * "when-due": runs once `now` reaches the time it last returned (at once on the first
   * tick; a null return leaves it idle until `scheduleAt`).
   * "every-tick": runs on every tick and finds out itself whether there is work; what it
   * returns only brings the next alarm forward.
   */
  readonly runs: "when-due" | "every-tick";
  /** The work. Resolves to when the alarm should fire for this task next, or null when it need not. */
  run(now: number): Promise<number | null>;
  readonly onFailure: FailurePolicy;
}

/** A failure the runner handled (back-off or log), for the object to log. */
export interface TaskFailure {
  readonly task: string;
  readonly policy: "back-off" | "log";
  readonly message: string;
  /** Consecutive failures of this task, this one included. */
  readonly failures: number;
  readonly error: unknown;
}

/** When a task that has failed `failures` times in a row is retried. */
export function backOffUntil(now: number, failures: number, maxDelayMs: number): number {
  return now + Math.min(maxDelayMs, BACK_OFF_STEP_MS * failures);
}

/** The earliest of the times, ignoring nulls; null when there is none. */
export function earliest(times: Iterable<number | null>): number | null {
  let result: number | null = null;
  for (const at of times) if (at !== null && (result === null || at < result)) result = at;
  return result;
}

/** A "when-due" task runs when its time has come; a null time never comes by itself. */
export function isDue(dueAt: number | null, now: number): boolean {
  return dueAt !== null && now >= dueAt;
}

interface TaskRecord {
  /** For "when-due" tasks, when the task runs next; for "every-tick" ones, when this tick's run asked to be woken. */
  nextAt: number | null;
  failures: number;
}

/**
 * Runs the tasks, in the order given, on each tick. Records are updated as each
 * task finishes (not at the end of the tick), so status read while a tick is
 * awaiting something sees the tasks already done, and a `scheduleAt` made
 * meanwhile is not overwritten.
 */
export class AlarmTaskRunner {
  private readonly records = new Map<string, TaskRecord>();

  constructor(
    private readonly tasks: readonly AlarmTask[],
    private readonly report: (failure: TaskFailure) => void,
  ) {
    for (const task of tasks) {
      if (this.records.has(task.name)) throw new Error(`duplicate alarm task name: ${task.name}`);
      this.records.set(task.name, { nextAt: 0, failures: 0 });
    }
  }

  /**
   * One tick: runs every task that is due, in order, and resolves to when the alarm
   * should fire next (null when no task asked). Rejects when an "end-tick" task fails.
   */
  async tick(now: number): Promise<number | null> {
    for (const task of this.tasks) {
      const record = this.record(task.name);
      if (task.runs === "when-due" && !isDue(record.nextAt, now)) continue;
      await this.runTask(task, record, now);
    }
    return earliest(this.tasks.map((task) => this.record(task.name).nextAt));
  }

  /** Consecutive failures of the task (0 after a success). */
  failures(name: string): number {
    return this.record(name).failures;
  }

  /** When the task runs next ("when-due") or asked to be woken on its last tick ("every-tick"). */
  nextAt(name: string): number | null {
    return this.record(name).nextAt;
  }

  /** Moves a "when-due" task's next run to `at` (earlier or later); 0 makes it due on the next tick. */
  scheduleAt(name: string, at: number | null): void {
    this.record(name).nextAt = at;
  }

  private async runTask(task: AlarmTask, record: TaskRecord, now: number): Promise<void> {
    try {
      record.nextAt = await task.run(now);
      record.failures = 0;
    } catch (error) {
      record.failures++;
      const policy = task.onFailure;
      if (policy.kind === "end-tick") throw error;
      record.nextAt = policy.kind === "back-off" ? backOffUntil(now, record.failures, policy.maxDelayMs) : policy.wakeAt(now);
      this.report({ task: task.name, policy: policy.kind, message: policy.message, failures: record.failures, error });
    }
  }

  private record(name: string): TaskRecord {
    const record = this.records.get(name);
    if (record === undefined) throw new Error(`unknown alarm task: ${name}`);
    return record;
  }
}
