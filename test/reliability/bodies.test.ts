/**
 * Request bodies on plain workerd, the runtime Cloudflare runs (security
 * review finding 1): a body is never silently shortened. A chunked body over
 * MAX_REQUEST_BODY_BYTES must reach the upstream as an aborted request, never
 * as a complete shorter one, and the client gets 413; chunk extensions are
 * legal framing; malformed chunking is the client's error (400).
 *
 * Before the fix, workerd's fetch ended the upload with a normal last chunk
 * when the capped stream errored: the upstream read exactly the limit as a
 * complete body and answered 200.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Api, Connections, sendRaw } from "./client";
import { Orchestrator, sleep } from "./workerd-harness";

const LIMIT = 64 * 1024;

interface Arrival {
  readonly path: string;
  bytes: number;
  sha256: string;
  /** "complete": the body's end arrived; "cut": the connection closed first. */
  outcome: "reading" | "complete" | "cut";
}

/** Writes `raw` as it is and resolves with the status line's code once the server answers or closes. */
function sendBytes(baseUrl: string, raw: string): Promise<number> {
  const target = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(target.port), target.hostname);
    let text = "";
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10 s")));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`closed without an answer: ${JSON.stringify(text.slice(0, 200))}`)));
    socket.write(raw);
  });
}

describe("request bodies on plain workerd (security review finding 1)", () => {
  let orchestrator: Orchestrator;
  let upstream: Server;
  const arrivals: Arrival[] = [];
  const connections = new Connections(4);
  const arrival = (path: string) => arrivals.filter((a) => a.path === path);

  beforeAll(async () => {
    orchestrator = new Orchestrator({ bundle: { dir: inject("reliabilityBundleDir") }, vars: { MAX_REQUEST_BODY_BYTES: String(LIMIT) } });
    await orchestrator.start();
    upstream = createServer((req, res) => {
      const entry: Arrival = { path: req.url ?? "", bytes: 0, sha256: "", outcome: "reading" };
      arrivals.push(entry);
      const hash = createHash("sha256");
      req.on("data", (chunk: Buffer) => {
        entry.bytes += chunk.length;
        hash.update(chunk);
      });
      req.once("end", () => {
        entry.outcome = "complete";
        entry.sha256 = hash.digest("hex");
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ bytes: entry.bytes }));
      });
      req.once("close", () => {
        if (entry.outcome === "reading") entry.outcome = "cut";
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const api = new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken);
    const registered = await api.register({ service: "bodies", url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, ttlSeconds: 3600 });
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    connections.destroy();
    await orchestrator?.dispose();
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  });

  const chunksOf = (total: number, size: number) => Array.from({ length: Math.ceil(total / size) }, (_, i) => Buffer.alloc(Math.min(size, total - i * size), i & 0xff));

  it("a chunked body over the limit: 413 for the client, an aborted request for the upstream", async () => {
    const response = await sendRaw(orchestrator.baseUrl, connections, { method: "POST", path: "/bodies/over", body: chunksOf(4 * LIMIT, 8 * 1024) });
    expect(response.status).toBe(413);
    const problem = JSON.parse(response.body.toString("utf8")) as { type: string; maxBytes: number; field: string };
    expect(problem.type).toContain("payload-too-large");
    expect(problem.maxBytes).toBe(LIMIT);
    for (let waited = 0; arrival("/over").some((a) => a.outcome === "reading") && waited < 5_000; waited += 50) await sleep(50);
    // The upstream either never heard of it or saw it break off; it never read a complete body.
    for (const seen of arrival("/over")) expect(seen.outcome).toBe("cut");
  });

  it("one byte over the limit is over", async () => {
    const response = await sendRaw(orchestrator.baseUrl, connections, { method: "PUT", path: "/bodies/one-over", body: chunksOf(LIMIT + 1, 4096) });
    expect(response.status).toBe(413);
    for (let waited = 0; arrival("/one-over").some((a) => a.outcome === "reading") && waited < 5_000; waited += 50) await sleep(50);
    for (const seen of arrival("/one-over")) expect(seen.outcome).toBe("cut");
  });

  it("a chunked body of exactly the limit arrives whole", async () => {
    const chunks = chunksOf(LIMIT, 4096);
    const response = await sendRaw(orchestrator.baseUrl, connections, { method: "POST", path: "/bodies/at-limit", body: chunks });
    expect(response.status).toBe(200);
    expect(arrival("/at-limit")).toEqual([{ path: "/at-limit", bytes: LIMIT, sha256: createHash("sha256").update(Buffer.concat(chunks)).digest("hex"), outcome: "complete" }]);
  });

  it("chunk extensions are legal framing: every chunk arrives, not the first one only", async () => {
    const raw =
      `POST /bodies/extensions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `5;name=value\r\nhello\r\n6;flag\r\n world\r\n1;a=b;c="d"\r\n!\r\n0\r\n\r\n`;
    expect(await sendBytes(orchestrator.baseUrl, raw)).toBe(200);
    expect(arrival("/extensions")).toEqual([{ path: "/extensions", bytes: 12, sha256: createHash("sha256").update("hello world!").digest("hex"), outcome: "complete" }]);
  });

  it("a body with a declared length whose client goes away half-way never reaches the upstream complete", async () => {
    const target = new URL(orchestrator.baseUrl);
    const socket = connect(Number(target.port), target.hostname);
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.write(`POST /bodies/half HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000\r\n\r\n${"x".repeat(5000)}`);
    for (let waited = 0; arrival("/half").length === 0 && waited < 2_000; waited += 20) await sleep(20);
    socket.destroy();
    for (let waited = 0; arrival("/half").some((a) => a.outcome === "reading") && waited < 5_000; waited += 50) await sleep(50);
    for (const seen of arrival("/half")) expect(seen.outcome).toBe("cut");
  });

  for (const [label, framing] of [
    ["a chunk size that is not hex", "zz\r\nhello\r\n0\r\n\r\n"],
    ["a chunk longer than its size", "3\r\nhello\r\n0\r\n\r\n"],
    ["a negative chunk size", "-5\r\nhello\r\n0\r\n\r\n"],
  ] as const) {
    it(`malformed chunking (${label}) → 400, and the upstream never reads a complete body`, async () => {
      const path = `/malformed-${label.replaceAll(" ", "-")}`;
      const raw = `POST /bodies${path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${framing}`;
      expect(await sendBytes(orchestrator.baseUrl, raw)).toBe(400);
      for (let waited = 0; arrival(path).some((a) => a.outcome === "reading") && waited < 5_000; waited += 50) await sleep(50);
      for (const seen of arrival(path)) expect(seen.outcome).toBe("cut");
    });
  }
});
