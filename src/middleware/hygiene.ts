/**
 * Request hygiene at the front door, before any routing: header count and
 * size limits (431), header names with underscores and values with control
 * characters (400), declared body size (413), and the path rules in
 * core/paths.ts. Underscored names are refused because some upstream stacks
 * fold "X_Forwarded_For" into "X-Forwarded-For" and would trust it.
 */
import type { Config } from "../config";
import { DROPPED_REQUEST_HEADERS } from "../core/headers";
import { checkPath } from "../core/paths";
import { problem, ProblemType } from "../problem";

const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * `headersToDrop` collects, on the same pass, the names the proxy must not
 * forward (core/headers.ts), so the proxy never has to look for them again.
 */
export function checkRequestHygiene(request: Request, url: URL, config: Config, headersToDrop: string[]): Response | null {
  let count = 0;
  let bytes = 0;
  for (const [name, value] of request.headers) {
    count++;
    bytes += name.length + value.length + 4;
    if (DROPPED_REQUEST_HEADERS.has(name)) headersToDrop.push(name);
    if (name.includes("_")) {
      return problem(400, ProblemType.badHeader, "Bad header", `Header names may not contain underscores (${name}).`, { field: name });
    }
    if (CONTROL_CHARACTERS.test(value)) {
      return problem(400, ProblemType.badHeader, "Bad header", `The ${name} header contains control characters.`, { field: name });
    }
  }
  if (count > config.maxHeaderCount || bytes > config.maxHeaderBytes) {
    return problem(431, ProblemType.headersTooLarge, "Request header fields too large", `At most ${config.maxHeaderCount} headers and ${config.maxHeaderBytes} bytes of headers are accepted.`, {
      field: "headers",
    });
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && !/^\d+$/.test(declared.trim())) {
    return problem(400, ProblemType.badHeader, "Bad header", "Content-Length must be a whole number.", { field: "content-length" });
  }
  if (declared !== null && Number(declared) > config.maxRequestBodyBytes) {
    return problem(413, ProblemType.payloadTooLarge, "Payload too large", `Request bodies may be at most ${config.maxRequestBodyBytes} bytes.`, {
      field: "(body)",
      maxBytes: config.maxRequestBodyBytes,
    });
  }
  const path = checkPath(url.pathname);
  if (!path.ok) return problem(400, ProblemType.badPath, "Bad path", path.reason, { field: "path" });
  return null;
}

/**
 * Caps a streamed body whose length was not declared: past the limit the
 * stream errors, so the upstream sees an aborted request, never a truncated
 * one that looks complete.
 */
export function limitBodyStream(body: ReadableStream<Uint8Array>, maxBytes: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) controller.error(new BodyTooLarge(maxBytes));
        else controller.enqueue(chunk);
      },
    }),
  );
}

export class BodyTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`request body over ${maxBytes} bytes`);
    this.name = "BodyTooLarge";
  }
}
