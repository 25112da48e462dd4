/** `GET /openapi.json`: the API's OpenAPI 3.1 document (http/openapi.ts), built once per isolate. */
import { buildOpenApiDocument } from "../http/openapi";
import type { Handler } from "./context";

// The document is the same for every request and configuration: built on first use, kept as text.
let documentText: string | null = null;

export const getOpenApi: Handler = () => {
  documentText ??= JSON.stringify(buildOpenApiDocument());
  return new Response(documentText, { headers: { "content-type": "application/json; charset=utf-8", "cache-control": "public, max-age=300" } });
};
