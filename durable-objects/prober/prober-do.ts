/**
 * ProberDO: runs active health probes for one shard at one vantage point
 * (named `<vantage point>/<shard>`, created with that location hint; see
 * platform/stubs.ts). MetricsDO's health sweep hands it a round of targets
 * (`assign`, answered at once); its alarm probes them in its own invocation
 * with at most MAX_OUTBOUND_CONNECTIONS in flight (the Workers limit is per
 * invocation, so capacity grows with the number of probers) and sends the
 * results back to MetricsDO as one batch per round.
 *
 * Work waits in storage until its batch is sent, so an eviction or a failed
 * alarm (retried by the platform) does not lose it; a round whose deadline
 * has passed is dropped unprobed (the coordinator has closed it).
 */
import { DurableObject } from "cloudflare:workers";
import { type Config, configFor } from "../../src/config";
import type { ProbeAssignment, ProbeBatch } from "../../src/contracts/prober";
import type { HealthTarget, ProbeReport } from "../../src/contracts/registry";
import { MAX_OUTBOUND_CONNECTIONS, mapWithConcurrency } from "../../src/core/health";
import { metricsStub } from "../../src/platform/stubs";
import { probeCrashed, probeInstance } from "./health-probe";

const QUEUE_KEY = "queue";

function roundKey(a: { round: number; shard: number }): string {
  return `${a.round}/${a.shard}`;
}

export class ProberDO extends DurableObject<Env> {
  private readonly config: Config;
  private queue: ProbeAssignment[] = [];
  private running = false;
  /**
   * Runs one probe. A field rather than a method so that a test can cut this vantage
   * point off (test/workers/health-quorum.test.ts replaces it with one that fails).
   */
  private probeTarget: (target: HealthTarget) => Promise<ProbeReport>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    this.probeTarget = (target) => probeInstance(this.env, this.config, target);
    void ctx.blockConcurrencyWhile(async () => {
      this.queue = (await ctx.storage.get<ProbeAssignment[]>(QUEUE_KEY)) ?? [];
    });
  }

  /** Takes a round of targets; they are probed in this object's alarm, not in the caller's call. */
  async assign(assignment: ProbeAssignment): Promise<void> {
    const key = roundKey(assignment);
    this.queue = [...this.queue.filter((a) => roundKey(a) !== key), assignment];
    await this.ctx.storage.put(QUEUE_KEY, this.queue);
    // While a batch runs, the alarm handler picks new work up when it ends.
    if (!this.running) await this.ctx.storage.setAlarm(Date.now());
  }

  /** Rounds waiting or being probed (for tests and the dashboard's curiosity). */
  pending(): number {
    return this.queue.length;
  }

  override async alarm(): Promise<void> {
    this.running = true;
    try {
      const now = Date.now();
      const work = this.queue.filter((a) => a.deadline > now);
      if (work.length > 0) await this.run(work);
      const done = new Set(this.queue.filter((a) => a.deadline <= now).map(roundKey));
      for (const a of work) done.add(roundKey(a));
      this.queue = this.queue.filter((a) => !done.has(roundKey(a)));
      await this.ctx.storage.put(QUEUE_KEY, this.queue);
    } finally {
      this.running = false;
      if (this.queue.length > 0) await this.ctx.storage.setAlarm(Date.now());
    }
  }

  /** Probes every target of the rounds at once (six in flight), then sends one batch per round. */
  private async run(work: readonly ProbeAssignment[]): Promise<void> {
    const startedAt = Date.now();
    const items = work.flatMap((assignment) => assignment.targets.map((target) => ({ assignment, target })));
    const settled = await mapWithConcurrency(items, MAX_OUTBOUND_CONNECTIONS, ({ target }) => this.probeTarget(target));
    const finishedAt = Date.now();
    const results = new Map<ProbeAssignment, ProbeReport[]>(work.map((a) => [a, []]));
    settled.forEach((outcome, index) => {
      const { assignment, target } = items[index] as (typeof items)[number];
      (results.get(assignment) as ProbeReport[]).push(
        outcome.status === "fulfilled" ? outcome.value : probeCrashed(target, outcome.reason),
      );
    });
    const metrics = metricsStub(this.env);
    const sent = await Promise.allSettled(
      work.map((a) => {
        const batch: ProbeBatch = {
          round: a.round,
          shard: a.shard,
          vantagePoints: a.vantagePoints,
          deadline: a.deadline,
          ids: a.ids,
          vantagePoint: a.vantagePoint,
          startedAt,
          finishedAt,
          results: results.get(a) as ProbeReport[],
        };
        return metrics.reportProbes(batch);
      }),
    );
    for (const outcome of sent) {
      if (outcome.status === "rejected") console.error(JSON.stringify({ level: "error", message: "probe batch not delivered", error: String(outcome.reason) }));
    }
  }
}
