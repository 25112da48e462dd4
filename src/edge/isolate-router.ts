/**
 * The one EdgeRouter of this isolate, wired to RegistryDO. Module state lives
 * as long as the isolate; the environment is the same object for every
 * request an isolate serves, so binding to the first one is safe.
 */
import { countDoCall } from "../do-calls";
import { registryStub } from "../registry-client";
import { EdgeRouter } from "./edge-router";

let router: EdgeRouter | null = null;
let flushPending = false;

/** How long after a release the isolate reports, when no refresh carries the report sooner. */
const FLUSH_DELAY_MS = 250;

export function edgeRouter(env: Env): EdgeRouter {
  router ??= new EdgeRouter({
    isolateId: crypto.randomUUID(),
    now: () => Date.now(),
    fetchTable: (service, report) => {
      // A request is waiting for it (EdgeRouter.refreshAndPick).
      countDoCall("registry", 1, true);
      return registryStub(env).routingTable(service, report);
    },
    sendReport: async (report) => {
      countDoCall("registry");
      await registryStub(env).edgeReport(report);
    },
  });
  return router;
}

/** After a local release: make sure the registry hears of it soon, even if traffic stops now. */
export function scheduleEdgeFlush(env: Env, ctx: ExecutionContext): void {
  if (flushPending) return;
  flushPending = true;
  ctx.waitUntil(
    new Promise((resolve) => setTimeout(resolve, FLUSH_DELAY_MS))
      .then(() => {
        flushPending = false;
        return edgeRouter(env).flush();
      })
      .catch((error: unknown) => {
        flushPending = false;
        console.error(JSON.stringify({ level: "error", message: "edge report failed", error: String(error) }));
      }),
  );
}
