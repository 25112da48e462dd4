/**
 * Hop-by-hop headers on plain workerd, the runtime Cloudflare runs: unlike
 * wrangler dev (whose Node proxy consumes the client's Connection header
 * before the Worker sees it, see the e2e header tests), workerd hands the
 * Worker the client's Connection header, so the proxy can and must drop the
 * headers it names, and likewise the ones the upstream's Connection names on
 * the way back.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Api, Connections, sendRaw } from "./client";
import { Orchestrator } from "./workerd-harness";

describe("hop-by-hop headers on plain workerd", () => {
  let orchestrator: Orchestrator;
  let api: Api;
  let upstream: Server;
  /** Proxied requests only: health probes (a new registration is probed at once) go elsewhere. */
  const seen: IncomingHttpHeaders[] = [];
  const connections = new Connections(4);

  beforeAll(async () => {
    orchestrator = new Orchestrator({ bundle: { dir: inject("reliabilityBundleDir") } });
    await orchestrator.start();
    api = new Api(orchestrator.baseUrl, orchestrator.adminKey, orchestrator.registrationToken);
    upstream = createServer((req, res) => {
      if (!req.url?.startsWith("/health")) seen.push(req.headers);
      // The upstream names a header of its own hop in Connection: it must not reach the client.
      res.writeHead(200, { "content-type": "text/plain", connection: "keep-alive, x-upstream-hop", "x-upstream-hop": "secret", "x-upstream-ordinary": "stays" });
      res.end("ok");
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const registered = await api.register({ service: "hops", url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, ttlSeconds: 3600 });
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    connections.destroy();
    await orchestrator?.dispose();
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  });

  it("drops what either side's Connection header names, and the standard hop-by-hop headers, both ways", async () => {
    const response = await sendRaw(orchestrator.baseUrl, connections, {
      method: "GET",
      path: "/hops/x",
      headers: [
        ["connection", "keep-alive, x-secret-hop"],
        ["x-secret-hop", "1"],
        ["keep-alive", "timeout=5"],
        ["te", "trailers"],
        ["proxy-connection", "keep-alive"],
        ["x-ordinary", "stays"],
      ],
    });
    expect(response.status).toBe(200);
    const received = seen.at(-1) as IncomingHttpHeaders;
    for (const name of ["x-secret-hop", "keep-alive", "te", "proxy-connection"]) expect(received, name).not.toHaveProperty(name);
    expect(String(received.connection ?? "")).not.toMatch(/x-secret-hop/i);
    expect(received["x-ordinary"]).toBe("stays");

    expect(response.headers).not.toHaveProperty("x-upstream-hop");
    expect(response.headers).not.toHaveProperty("keep-alive");
    expect(response.headers["x-upstream-ordinary"]).toBe("stays");
  });
});
