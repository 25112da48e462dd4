/**
 * Runs one of the TypeScript entry points under test/reliability/ with plain
 * node (node cannot load these .ts files: their imports name no extension): esbuild (the copy wrangler ships with)
 * bundles it (npm imports included) into a temp directory, and
 * its exported main() is called. Used by scripts/fuzz.mjs and scripts/soak.mjs.
 *
 * RELIABILITY_ROOT tells the bundled harness where the project is, since
 * import.meta.url points into the temp directory once bundled.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export async function runBundled(entry, name) {
  let build;
  try {
    ({ build } = await import("esbuild"));
  } catch {
    console.error(`[${name}] esbuild is not installed (it comes with wrangler): run npm ci`);
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), `orchestrator-${name}-bundle-`));
  const outfile = join(dir, `${name}.mjs`);
  try {
    await build({
      entryPoints: [join(ROOT, entry)],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      outfile,
      // npm imports (fast-check, ws) are bundled too: an external import would resolve from the temp dir.
      // ws is CommonJS and requires Node built-ins, which an ESM bundle can only do through createRequire.
      banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
      logLevel: "error",
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  process.env.RELIABILITY_ROOT = ROOT;
  let code = 1;
  try {
    const module = await import(pathToFileURL(outfile).href);
    code = await module.main();
  } catch (error) {
    console.error(`[${name}] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    code = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(code);
}
