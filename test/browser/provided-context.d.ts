/** Values test/browser/global-setup.ts provides to the browser tests (read them with `inject`). */
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** http://127.0.0.1:<port> of the orchestrator (wrangler dev) the browser talks to. */
    browserBaseUrl: string;
    /** Its ORCHESTRATOR_API_KEY (random per run); the second orchestrator's too. */
    browserAdminKey: string;
    /** Its REGISTRATION_TOKEN (random per run), for tests that register instances of their own. */
    browserRegistrationToken: string;
    /** A second orchestrator (no fleet) with the default rate limits. */
    browserStrictBaseUrl: string;
    /** The Debian chromium binary to drive. */
    browserExecutable: string;
    /** wrangler dev's output (removed at teardown unless BROWSER_KEEP_LOGS is set). */
    browserWranglerLog: string;
  }
}
