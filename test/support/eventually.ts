/**
 * Polling with a deadline, for the Node-side suites (e2e, reliability): asks
 * `check` until it returns something other than undefined, and fails with the
 * last error it threw when the time is up. Every wait a test makes is bounded.
 *
 *   const open = await eventually(async () => ((await counts()).websockets === 4 ? true : undefined), 10_000);
 */
import { sleep } from "../../scripts/lib/wait.mjs";

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ""}`);
    await sleep(intervalMs);
  }
}
