/**
 * Parsing untrusted input with valibot and turning its issues into the
 * problem+json field list. Everything a client sends goes through here.
 */
import * as v from "valibot";
import { type FieldError, problem, ProblemType, validationProblem } from "./problem";

export type ParseResult<T> = { ok: true; value: T } | { ok: false; response: Response };

export function fieldErrors(issues: readonly v.BaseIssue<unknown>[]): FieldError[] {
  return issues.map((issue) => ({
    field: v.getDotPath(issue) ?? "(body)",
    message: issue.message,
  }));
}

export function parseWith<TSchema extends v.GenericSchema>(
  schema: TSchema,
  input: unknown,
): ParseResult<v.InferOutput<TSchema>> {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (result.success) return { ok: true, value: result.output };
  return { ok: false, response: validationProblem(fieldErrors(result.issues)) };
}

/**
 * Reads a JSON body with a hard size limit, without trusting Content-Length:
 * the stream is counted as it arrives and abandoned past the limit.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<ParseResult<unknown>> {
  const contentType = request.headers.get("content-type") ?? "";
  if (!/^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i.test(contentType)) {
    return {
      ok: false,
      response: problem(
        415,
        ProblemType.unsupportedMediaType,
        "Unsupported media type",
        "Send the body as application/json.",
        { field: "content-type" },
      ),
    };
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (Number.isFinite(declared) && declared > maxBytes) return tooLarge(maxBytes);
  if (!request.body) return malformed("The body is empty.");

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return malformed("The body is not valid UTF-8.");
  }
  if (text.trim() === "") return malformed("The body is empty.");
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    return malformed(`The body is not valid JSON: ${error instanceof Error ? error.message : "parse error"}.`);
  }
  // Every body the orchestrator accepts is a JSON object; say so before field-level checks would
  // report an array's missing fields.
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, response: validationProblem([{ field: "(body)", message: "must be a JSON object" }]) };
  }
  return { ok: true, value };
}

function tooLarge(maxBytes: number): ParseResult<never> {
  return {
    ok: false,
    response: problem(413, ProblemType.payloadTooLarge, "Payload too large", `The body may be at most ${maxBytes} bytes.`, {
      field: "(body)",
      maxBytes,
    }),
  };
}

function malformed(detail: string): ParseResult<never> {
  return {
    ok: false,
    response: problem(400, ProblemType.malformedJson, "Malformed JSON", detail, { field: "(body)" }),
  };
}
