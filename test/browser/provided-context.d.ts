/** Values test/browser/global-setup.ts provides to the browser tests (read them with `inject`). */
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** http://127.0.0.1:<port> of the orchestrator (wrangler dev) the browser talks to. */
    browserBaseUrl: string;
    /** Its ORCHESTRATOR_API_KEY (random per run). */
    browserAdminKey: string;
    /** The Debian chromium binary to drive. */
    browserExecutable: string;
    /** wrangler dev's output (removed at teardown unless BROWSER_KEEP_LOGS is set). */
    browserWranglerLog: string;
  }
}
