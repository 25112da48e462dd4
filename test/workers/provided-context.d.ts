import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Port of the controllable loopback upstream started by test/workers/global-setup.ts. */
    upstreamPort: number;
    /** LIFECYCLE_HOOK_SECRET of the Workers-pool orchestrator; the upstream checks hook signatures with it. */
    lifecycleHookSecret: string;
  }
}
