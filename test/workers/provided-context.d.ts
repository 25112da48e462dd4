import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Port of the controllable loopback upstream started by test/workers/global-setup.ts. */
    upstreamPort: number;
  }
}
