/**
 * The layering, enforced by `npm run check:layers` (part of `npm test`).
 *
 *   routes, middleware, http, edge  ─┐
 *                                     ├─→ core ←─ durable-objects
 *   contracts ───────────────────────┘
 *
 * - src/core is pure logic: it imports nothing of ours outside src/core.
 * - src/contracts (the objects' RPC shapes) may use core's types, nothing else.
 * - The Worker reaches the objects only through the typed Env (platform/stubs.ts);
 *   nothing in src/ imports durable-objects/ except src/index.ts, which exports the classes.
 * - The objects do not depend on the HTTP layer (http, routes, middleware, edge).
 * - No import cycles anywhere, type-only ones included.
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle (type-only ones count): one side should depend on a contract or on core instead.",
      from: {},
      to: { circular: true },
    },
    {
      name: "core-is-pure",
      severity: "error",
      comment: "src/core holds pure logic: it may import only src/core (and npm packages).",
      from: { path: "^src/core/" },
      to: { path: "^(src|durable-objects)/", pathNot: "^src/core/" },
    },
    {
      name: "contracts-use-core-only",
      severity: "error",
      comment: "src/contracts describe the objects' RPC in terms of core types; they import nothing else of ours.",
      from: { path: "^src/contracts/" },
      to: { path: "^(src|durable-objects)/", pathNot: "^src/(core|contracts)/" },
    },
    {
      name: "worker-reaches-objects-through-env",
      severity: "error",
      comment: "Only src/index.ts may import durable-objects/ (to export the classes); everything else uses the typed Env stubs and src/contracts.",
      from: { path: "^src/", pathNot: "^src/index\\.ts$" },
      to: { path: "^durable-objects/" },
    },
    {
      name: "objects-do-not-use-the-http-layer",
      severity: "error",
      comment: "Durable Objects are below the HTTP layer: they use core, contracts, config, platform and upstream.",
      from: { path: "^durable-objects/" },
      to: { path: "^src/(http|routes|middleware|edge)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    includeOnly: "^(src|durable-objects)/",
    // TypeScript 7 has no JS API for dependency-cruiser; swc parses the sources instead.
    parser: "swc",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".mts", ".js", ".mjs"] },
  },
};
