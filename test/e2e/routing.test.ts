/**
 * `/{service}/…` reaches an instance of the service: path, query, method and
 * bodies arrive intact in both directions, and the upstream's status and
 * headers come back to the client.
 */
import { createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Echo, eventually, Fleet, gateway, patternBytes, patternSha256, readProblem, sendChunks, sendRawHttp, uniqueService, type Upstream } from "./upstreams";

const FIVE_MB = 5 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** 5 MB of deterministic bytes as a web stream, produced chunk by chunk (never one buffer). */
function patternStream(total: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= total) return controller.close();
      const length = Math.min(CHUNK, total - offset);
      controller.enqueue(new Uint8Array(patternBytes(offset, length)));
      offset += length;
    },
  });
}

async function sha256Of(body: ReadableStream<Uint8Array>): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    hash.update(chunk);
  }
  return { bytes, sha256: hash.digest("hex") };
}

const fleet = new Fleet();
let service: string;
let upstream: Upstream;

beforeAll(async () => {
  service = uniqueService();
  upstream = await fleet.upstream();
  await fleet.register(service, upstream.url);
  return () => fleet.cleanup();
});

afterEach(() => {
  upstream.received.length = 0;
});

describe("path, query and method", () => {
  for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"]) {
    it(`${method} /{service}/rest/of/path?x=1&y=2 arrives as ${method} /rest/of/path?x=1&y=2`, async () => {
      const hasBody = method !== "GET";
      const body = hasBody ? JSON.stringify({ method }) : undefined;
      const response = await fetch(gateway(`/${service}/rest/of/path?x=1&y=2`), {
        method,
        ...(hasBody ? { body, headers: { "content-type": "application/json" } } : {}),
      });
      expect(response.status).toBe(200);
      const echo = (await response.json()) as Echo;
      expect(echo.name).toBe(upstream.name);
      expect(echo.method).toBe(method);
      expect(echo.path).toBe("/rest/of/path?x=1&y=2");
      if (body !== undefined) {
        expect(echo.bodyBytes).toBe(Buffer.byteLength(body));
        expect(echo.bodySha256).toBe(createHash("sha256").update(body).digest("hex"));
        expect(echo.headers["content-type"]).toBe("application/json");
      } else {
        expect(echo.bodyBytes).toBe(0);
      }
    });
  }

  it("the lifecycle hook's path is the orchestrator's: clients get 404 and the instance hears nothing (security review finding 4)", async () => {
    for (const path of ["/__lifecycle/restart", "/__LIFECYCLE/restart", "/%5F%5Flifecycle/restart", "/__lifecycle"]) {
      const response = await fetch(gateway(`/${service}${path}`), { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
      expect(response.status, path).toBe(404);
      expect(response.headers.get("content-type"), path).toContain("application/problem+json");
      await response.arrayBuffer();
    }
    // Health probes are the orchestrator's own calls; nothing a client sent got through.
    expect(upstream.received.filter((echo) => !echo.path.startsWith("/health"))).toHaveLength(0);
  });

  it("HEAD reaches the instance as HEAD and returns no body", async () => {
    const response = await fetch(gateway(`/${service}/head/me?q=1`), { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
    // Found by path: a health probe (a new registration is probed at once) may arrive after it.
    expect(upstream.received.find((echo) => echo.path === "/head/me?q=1")).toMatchObject({ method: "HEAD", path: "/head/me?q=1" });
  });

  it("the service root maps to / and keeps the query", async () => {
    const response = await fetch(gateway(`/${service}?only=query`));
    expect(response.status).toBe(200);
    expect(((await response.json()) as Echo).path).toBe("/?only=query");
  });

  it("percent-encoded characters and repeated query keys pass unchanged", async () => {
    const response = await fetch(gateway(`/${service}/files/a%20b/%C3%A9t%C3%A9?tag=a&tag=b&q=x%26y`));
    expect(response.status).toBe(200);
    expect(((await response.json()) as Echo).path).toBe("/files/a%20b/%C3%A9t%C3%A9?tag=a&tag=b&q=x%26y");
  });

  it("an instance registered with a base path receives the base path plus the rest", async () => {
    const based = uniqueService();
    await fleet.register(based, `${upstream.url}/base/v1`);
    const response = await fetch(gateway(`/${based}/items/7?full=1`));
    expect(response.status).toBe(200);
    expect(((await response.json()) as Echo).path).toBe("/base/v1/items/7?full=1");
  });
});

describe("bodies stream through intact", () => {
  it("a 5 MB request body sent as a web ReadableStream (duplex: half) arrives byte for byte", async () => {
    const response = await fetch(gateway(`/${service}/upload`), {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: patternStream(FIVE_MB),
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(echo.bodyBytes).toBe(FIVE_MB);
    expect(echo.bodySha256).toBe(patternSha256(FIVE_MB));
  });

  it("a 5 MB request body piped from a node Readable (chunked, no length) arrives byte for byte", async () => {
    const target = new URL(gateway(`/${service}/upload-node`));
    const echo = await new Promise<Echo>((resolve, reject) => {
      const req = httpRequest(
        { host: target.hostname, port: target.port, path: target.pathname, method: "PUT", headers: { "content-type": "application/octet-stream" } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(text) as Echo) : reject(new Error(`${res.statusCode}: ${text}`))));
        },
      );
      req.on("error", reject);
      Readable.from(
        (function* () {
          for (let offset = 0; offset < FIVE_MB; offset += CHUNK) yield patternBytes(offset, Math.min(CHUNK, FIVE_MB - offset));
        })(),
      ).pipe(req);
    });
    expect(echo.method).toBe("PUT");
    expect(echo.headers["transfer-encoding"]).toBe("chunked");
    expect(echo.bodyBytes).toBe(FIVE_MB);
    expect(echo.bodySha256).toBe(patternSha256(FIVE_MB));
  });

  it("a 5 MB streamed response arrives byte for byte", async () => {
    const response = await fetch(gateway(`/${service}/stream/${FIVE_MB}`));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(response.headers.get("x-stream-sha256")).toBe(patternSha256(FIVE_MB));
    expect(response.body).not.toBeNull();
    const received = await sha256Of(response.body as ReadableStream<Uint8Array>);
    expect(received).toEqual({ bytes: FIVE_MB, sha256: patternSha256(FIVE_MB) });
  });
});

describe("bodies are never shortened (security review finding 1)", () => {
  /** MAX_REQUEST_BODY_BYTES in the e2e run (global-setup). */
  const LIMIT = 8 * 1024 * 1024;

  it("a chunked body over MAX_REQUEST_BODY_BYTES: the client gets 413 and the upstream an aborted request, never a complete shorter body", async () => {
    const total = LIMIT + 2 * CHUNK;
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < total; offset += CHUNK) chunks.push(patternBytes(offset, Math.min(CHUNK, total - offset)));
    const response = await sendChunks(`/${service}/too-big`, { headers: { "content-type": "application/octet-stream" }, chunks });
    expect(response.status).toBe(413);
    const problem = await readProblem(response);
    expect(problem.type).toContain("payload-too-large");
    expect(problem.maxBytes).toBe(LIMIT);
    // The upstream saw the request begin and then break off: it is counted as cut short, never as received.
    await eventually(async () => (upstream.incomplete.includes("/too-big") ? true : undefined), 10_000);
    expect(upstream.received.filter((echo) => echo.path === "/too-big")).toEqual([]);
  });

  it("a chunked body exactly at the limit arrives whole", async () => {
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < LIMIT; offset += CHUNK) chunks.push(patternBytes(offset, CHUNK));
    const response = await sendChunks(`/${service}/at-limit`, { headers: { "content-type": "application/octet-stream" }, chunks });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(echo.bodyBytes).toBe(LIMIT);
    expect(echo.bodySha256).toBe(patternSha256(LIMIT));
  });

  it("chunk extensions are legal framing: every chunk arrives, not the first one only", async () => {
    const host = new URL(gateway("/")).host;
    const raw =
      `POST /${service}/extensions HTTP/1.1\r\nHost: ${host}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `5;name=value\r\nhello\r\n6;flag\r\n world\r\n1;a=b;c="d"\r\n!\r\n0\r\n\r\n`;
    const { status } = await sendRawHttp(raw);
    expect(status).toBe(200);
    const echo = upstream.received.find((e) => e.path === "/extensions");
    expect(echo?.bodyBytes).toBe("hello world!".length);
    expect(echo?.bodySha256).toBe(createHash("sha256").update("hello world!").digest("hex"));
  });
  // Malformed chunking is tested on plain workerd (test/reliability/bodies.test.ts): wrangler dev's
  // Node proxy answers it with a 500 of its own before the Worker sees the request.
});

describe("the upstream's answer passes back", () => {
  for (const status of [201, 202, 301, 400, 404, 409, 418, 429, 500, 503]) {
    it(`status ${status} and its body come back unchanged (not turned into a problem)`, async () => {
      const response = await fetch(gateway(`/${service}/status/${status}?n=${status}`), { redirect: "manual" });
      expect(response.status).toBe(status);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(response.headers.get("x-upstream-status")).toBe(String(status));
      expect(response.headers.get("x-upstream-name")).toBe(upstream.name);
      const echo = (await response.json()) as Echo;
      expect(echo.path).toBe(`/status/${status}?n=${status}`);
    });
  }

  it("204 comes back with no body", async () => {
    const response = await fetch(gateway(`/${service}/status/204`));
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect(response.headers.get("x-upstream-status")).toBe("204");
  });

  it("response headers pass back, repeated Set-Cookie included; hop-by-hop ones do not", async () => {
    const response = await fetch(gateway(`/${service}/headers`));
    expect(response.status).toBe(200);
    expect(response.headers.get("x-custom-one")).toBe("alpha");
    expect(response.headers.get("cache-control")).toBe("max-age=5");
    expect(response.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    // The upstream named x-upstream-hop in its Connection header: it belongs to that hop only.
    expect(response.headers.get("x-upstream-hop")).toBeNull();
    expect(response.headers.get("keep-alive")).toBeNull();
    // Hop-by-hop by definition, named or not (security review finding 8).
    expect(response.headers.get("proxy-authenticate")).toBeNull();
    await response.arrayBuffer();
  });
});
