/** Values test/reliability/global-setup.ts provides to every reliability test (read them with `inject`). */
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Directory with the bundled orchestrator (index.js) and the dashboard's files (public/). */
    reliabilityBundleDir: string;
  }
}
