/** Values test/e2e/global-setup.ts provides to every e2e test (read them with `inject`). */
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** http://127.0.0.1:<port> of the running orchestrator (wrangler dev). */
    baseUrl: string;
    /** ORCHESTRATOR_API_KEY of that orchestrator. */
    adminKey: string;
    /** REGISTRATION_TOKEN of that orchestrator. */
    registrationToken: string;
    /** LIFECYCLE_HOOK_SECRET of that orchestrator (it signs lifecycle hook calls with it). */
    lifecycleHookSecret: string;
    /** Keys with roles (ADMIN_KEYS) and a registration token scoped to banking and pay-* (REGISTRATION_TOKENS). */
    scopedKeys: { viewer: string; operator: string; banking: string };
    /** File that receives wrangler dev's stdout and stderr (removed at teardown unless E2E_KEEP_LOGS is set). */
    wranglerLog: string;
  }
}
