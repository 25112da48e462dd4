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
import { problem, ProblemType } from "../http/problem";

const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * What one pass over the request's headers found: the values the edge reads
 * later (so nothing asks the headers for them again; each lookup is a call
 * into the runtime), the names the proxy must not forward (core/headers.ts),
 * and the first problem with a header, if any.
 */
export interface HeaderScan {
  readonly count: number;
  readonly bytes: number;
  readonly requestId: string | null;
  readonly connectingIp: string | null;
  readonly contentLength: string | null;
  readonly authorization: string | null;
  /** The request's headers that are in DROPPED_REQUEST_HEADERS. */
  readonly toDrop: string[];
  readonly badHeader: { readonly name: string; readonly reason: "underscore" | "control" } | null;
}

export function scanRequestHeaders(request: Request): HeaderScan {
  let count = 0;
  let bytes = 0;
  let requestId: string | null = null;
  let connectingIp: string | null = null;
  let contentLength: string | null = null;
  let authorization: string | null = null;
  let badHeader: HeaderScan["badHeader"] = null;
  const toDrop: string[] = [];
  // Names arrive lower-cased and combined (one entry per name), so each is seen once.
  for (const [name, value] of request.headers) {
    count++;
    bytes += name.length + value.length + 4;
    if (name === "x-request-id") requestId = value;
    else if (name === "cf-connecting-ip") connectingIp = value;
    else if (name === "content-length") contentLength = value;
    else if (name === "authorization") authorization = value;
    else if (DROPPED_REQUEST_HEADERS.has(name)) toDrop.push(name);
    if (badHeader === null) {
      if (name.includes("_")) badHeader = { name, reason: "underscore" };
      else if (CONTROL_CHARACTERS.test(value)) badHeader = { name, reason: "control" };
    }
  }
  return { count, bytes, requestId, connectingIp, contentLength, authorization, toDrop, badHeader };
}

/** The answer to a request whose headers, declared size or path break the rules; null when it may go on. */
export function hygieneProblem(scan: HeaderScan, url: URL, config: Config): Response | null {
  const bad = scan.badHeader;
  if (bad?.reason === "underscore") {
    return problem(400, ProblemType.badHeader, "Bad header", `Header names may not contain underscores (${bad.name}).`, { field: bad.name });
  }
  if (bad?.reason === "control") {
    return problem(400, ProblemType.badHeader, "Bad header", `The ${bad.name} header contains control characters.`, { field: bad.name });
  }
  if (scan.count > config.maxHeaderCount || scan.bytes > config.maxHeaderBytes) {
    return problem(431, ProblemType.headersTooLarge, "Request header fields too large", `At most ${config.maxHeaderCount} headers and ${config.maxHeaderBytes} bytes of headers are accepted.`, {
      field: "headers",
    });
  }
  const declared = scan.contentLength;
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
 * Passes a streamed body whose length was not declared through, capped at
 * `maxBytes`. When the cap is passed, or the client's own framing breaks
 * (malformed chunking, a dropped connection), `abort` is called with why and
 * the stream errors. Erroring the stream alone is not enough: workerd's
 * fetch ends a chunked upload whose source stream errors with a normal last
 * chunk, so the upstream would read a complete, shorter body (security
 * review finding 1). The caller aborts its fetch instead, which tears the
 * upstream connection down mid-body.
 *
 * Pull-based, not a TransformStream: a transformer never hears of an error
 * in its source, and the broken-framing case needs exactly that.
 */
export function guardBodyStream(body: ReadableStream<Uint8Array>, maxBytes: number, abort: (reason: BodyTooLarge | BrokenBody) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let seen = 0;
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, reason: BodyTooLarge | BrokenBody) => {
    abort(reason);
    controller.error(reason);
    reader.cancel(reason).catch(() => undefined);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          return fail(controller, new BrokenBody(error));
        }
        if (next.done) return controller.close();
        seen += next.value.byteLength;
        if (seen > maxBytes) return fail(controller, new BodyTooLarge(maxBytes));
        controller.enqueue(next.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

export class BodyTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`request body over ${maxBytes} bytes`);
    this.name = "BodyTooLarge";
  }
}

/** The client's body could not be read to its end: malformed chunked framing, or the connection went away. */
export class BrokenBody extends Error {
  constructor(cause: unknown) {
    super(`request body could not be read: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "BrokenBody";
  }
}
