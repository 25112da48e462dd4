/**
 * `npm run fuzz [-- --cases=100000 --seed=N --concurrency=16 --batch=500 --minutes=30]`
 *
 * The long bad-input run: every endpoint of the orchestrator (on plain workerd,
 * Durable Objects on disk) gets fast-check-generated methods, paths, headers
 * and bodies; it must never answer 5xx itself, hang, leak a stack trace, answer
 * an error that is not problem+json, or change the registry on a rejected
 * request. The CI-sized run of the same thing is test/reliability/fuzz.test.ts.
 *
 * The logic lives in TypeScript under test/reliability/; this bundles it with
 * esbuild (wrangler's own) into a temp file and runs it with plain node.
 */
import { runBundled } from "../test/reliability/run-bundled.mjs";

await runBundled("test/reliability/fuzz-cli.ts", "fuzz");
