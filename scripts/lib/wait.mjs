/**
 * Waiting: a plain sleep, and polling a server's URL (usually GET /health) until
 * it answers, with an overall deadline. Shared by the scripts (start, bench) and
 * the Node-side test suites; Node built-ins only, types in wait.d.mts.
 */

/**
 * @param {number} ms
 * @returns {Promise<void>}
 */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Why a request failed, in a word where there is one: the connection's error code
 * (ECONNREFUSED, ECONNRESET) rather than fetch's "fetch failed".
 *
 * @param {unknown} error
 * @returns {string}
 */
export function describeFetchError(error) {
  const e = /** @type {{ cause?: { code?: string }, message?: string } | null | undefined} */ (error);
  return e?.cause?.code ?? e?.message ?? String(error);
}

/**
 * Polls GET `url` until it answers as `ready` says (200 by default), `timeoutMs` has
 * passed, or `cancelled` ends the wait. Every answer's body is read, so the
 * connection can be reused.
 *
 * @param {string} url
 * @param {object} options
 * @param {number} options.timeoutMs           the whole wait
 * @param {number} [options.intervalMs=100]    pause after each attempt that is not ready
 * @param {number} [options.requestTimeoutMs=2000]  one attempt
 * @param {(status: number) => boolean} [options.ready]  default: status 200
 * @param {() => boolean} [options.cancelled]  asked before each attempt: true ends the wait
 *   (not ready); it may throw instead, e.g. when the server being waited for has exited
 * @param {(response: Response) => Promise<string | undefined>} [options.giveUp]  given each answer
 *   that is not ready: a description ends the wait there (an answer that waiting will not change;
 *   it then reads the body itself), undefined goes on polling
 * @returns {Promise<{ ready: true } | { ready: false, last: string, gaveUp: boolean }>}
 *   `last`: the last answer (`HTTP 503`) or error (`ECONNREFUSED`), or what giveUp said
 */
export async function waitForHttp(url, { timeoutMs, intervalMs = 100, requestTimeoutMs = 2_000, ready = (status) => status === 200, cancelled, giveUp }) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (cancelled?.()) break;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(requestTimeoutMs) });
      if (ready(response.status)) {
        await response.arrayBuffer();
        return { ready: true };
      }
      const verdict = giveUp ? await giveUp(response) : undefined;
      if (verdict !== undefined) return { ready: false, last: verdict, gaveUp: true };
      await response.arrayBuffer();
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = describeFetchError(error);
    }
    await sleep(intervalMs);
  }
  return { ready: false, last, gaveUp: false };
}
