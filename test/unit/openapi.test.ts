/**
 * The OpenAPI document built in Node (as scripts/lint-openapi.mjs does): the
 * same every time, versioned like the package, with unique operation ids and
 * each operation's rate-limit class the one the edge really applies.
 * Real responses are checked against it in test/workers/openapi.test.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildOpenApiDocument, documentedOperations } from "../../src/http/openapi";
import { rateLimitClass } from "../../src/middleware/rate-limit";

type Operation = { operationId: string; "x-rate-limit-class": string; security: unknown[] };
const document = buildOpenApiDocument() as unknown as { openapi: string; info: { version: string }; paths: Record<string, Record<string, Operation>> };
const operations = documentedOperations(buildOpenApiDocument()).map(({ path, method }) => ({ path, method, ...(document.paths[path]?.[method] as Operation) }));

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1, built the same every time, versioned like package.json", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(buildOpenApiDocument()).toEqual(document);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(document.info.version).toBe(pkg.version);
  });

  it("gives every operation a unique operationId and a security requirement", () => {
    const ids = operations.map((op) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const op of operations) expect(Array.isArray(op.security), op.operationId).toBe(true);
  });

  it("names, for every operation, the rate-limit class the edge applies to its path", () => {
    for (const op of operations) {
      const sample = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === "action" ? "stop" : name === "file" ? "app.js" : "sample"));
      expect(op["x-rate-limit-class"], `${op.method} ${op.path}`).toBe(rateLimitClass(sample).cls);
    }
  });
});
