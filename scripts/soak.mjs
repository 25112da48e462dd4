/**
 * `npm run soak [-- --rate=500 --seconds=60 --flap=5 --max-inflight=256]`
 *
 * A bounded, steady rate of idempotent GETs through the gateway (the
 * orchestrator on plain workerd, Durable Objects on disk) to three loopback
 * instances while one of them flaps (down 5 s / up 5 s). Passes when no GET
 * fails because of the gateway (retries cover the flapping instance),
 * workerd's RSS stays roughly flat and nothing is left counted in flight.
 * Prints a summary table. Not part of `npm test`.
 *
 * The logic is test/reliability/soak-cli.ts; this bundles it with esbuild
 * (wrangler's own) into a temp file and runs it with plain node.
 */
import { runBundled } from "../test/reliability/run-bundled.mjs";

await runBundled("test/reliability/soak-cli.ts", "soak");
