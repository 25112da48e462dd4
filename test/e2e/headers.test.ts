/**
 * Header rules at the proxy boundary: hop-by-hop headers stay on their hop,
 * forwarding headers are the orchestrator's own (never the client's), the
 * request id is propagated, and the orchestrator's own tokens never leave.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { adminKey, baseUrl, type Echo, Fleet, gateway, registrationToken, sendChunks, uniqueService, type Upstream } from "./upstreams";

const fleet = new Fleet();
let service: string;
let upstream: Upstream;

beforeAll(async () => {
  service = uniqueService();
  upstream = await fleet.upstream();
  await fleet.register(service, upstream.url);
  return () => fleet.cleanup();
});

async function echoFor(path: string, headers: Record<string, string>): Promise<{ echo: Echo; response: Response }> {
  const response = await fetch(gateway(`/${service}${path}`), { headers });
  expect(response.status).toBe(200);
  return { echo: (await response.json()) as Echo, response };
}

/**
 * node:http rather than fetch: fetch refuses to send Connection, Keep-Alive,
 * TE, Trailer and Upgrade. A chunked body makes a Trailer header legal.
 */
async function sendRaw(path: string, headers: Record<string, string>): Promise<{ status: number; echo: Echo }> {
  const encoder = new TextEncoder();
  const response = await sendChunks(path, { headers, chunks: [encoder.encode("chunk-one;"), encoder.encode("chunk-two")] });
  const text = await response.text();
  try {
    return { status: response.status, echo: JSON.parse(text) as Echo };
  } catch {
    throw new Error(`${response.status}: ${text.slice(0, 300)}`);
  }
}

describe("hop-by-hop headers", () => {
  it("Connection, Keep-Alive, TE, Trailer, Upgrade and Proxy-Authorization are not seen upstream", async () => {
    const { status, echo } = await sendRaw(`/${service}/hop`, {
      connection: "close, x-secret-hop",
      "x-secret-hop": "1",
      "keep-alive": "timeout=5, max=100",
      te: "trailers",
      trailer: "x-checksum",
      upgrade: "h2c",
      "proxy-authorization": "Basic dXNlcjpwYXNz",
      "proxy-connection": "keep-alive",
      "x-ordinary": "stays",
    });
    expect(status).toBe(200);
    expect(echo.method).toBe("POST");
    expect(echo.bodyBytes).toBe("chunk-one;chunk-two".length);
    for (const name of ["keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection"]) {
      expect(echo.headers, name).not.toHaveProperty(name);
    }
    // Node's server always reports a connection header of its own hop; never the client's tokens.
    expect(String(echo.headers.connection ?? "")).not.toMatch(/x-secret-hop/i);
    expect(echo.headers["x-ordinary"]).toBe("stays");
  });

  // Not covered: a header *named* in the client's Connection header still reaches the
  // upstream, because workerd consumes the Connection header before the Worker runs and
  // src/core/headers.ts never sees the names (noted in docs/architecture.md's known limits).
});

describe("forwarding headers", () => {
  it("client X-Forwarded-For, X-Real-IP and Forwarded are replaced, never copied", async () => {
    const { echo } = await echoFor("/fwd", {
      "x-forwarded-for": "6.6.6.6, 7.7.7.7",
      "x-real-ip": "6.6.6.6",
      forwarded: "for=6.6.6.6;proto=https;host=evil.example",
    });
    const xff = echo.headers["x-forwarded-for"];
    expect(xff).not.toBe("6.6.6.6, 7.7.7.7");
    expect(String(xff ?? "")).not.toContain("6.6.6.6");
    expect(String(xff ?? "")).not.toContain("7.7.7.7");
    // wrangler dev sets CF-Connecting-IP to the socket's address, which the orchestrator trusts.
    expect(xff).toBe("127.0.0.1");
    expect(echo.headers).not.toHaveProperty("x-real-ip");
    expect(echo.headers).not.toHaveProperty("forwarded");
  });

  it("X-Forwarded-Proto and X-Forwarded-Host are set from the request the orchestrator received", async () => {
    const { echo } = await echoFor("/fwd", { "x-forwarded-proto": "https", "x-forwarded-host": "evil.example" });
    const gatewayUrl = new URL(baseUrl());
    expect(echo.headers["x-forwarded-proto"]).toBe("http");
    expect(echo.headers["x-forwarded-host"]).toBe(gatewayUrl.host);
    // The upstream's Host is its own, not the gateway's.
    expect(echo.headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });
});

describe("X-Request-Id", () => {
  it("a sane client id is propagated upstream and echoed on the response", async () => {
    const id = `e2e-req-${Date.now()}-abc`;
    const { echo, response } = await echoFor("/rid", { "x-request-id": id });
    expect(echo.headers["x-request-id"]).toBe(id);
    expect(response.headers.get("x-request-id")).toBe(id);
  });

  it("without one, a new id is created, sent upstream and echoed", async () => {
    const { echo, response } = await echoFor("/rid", {});
    const sent = echo.headers["x-request-id"];
    expect(typeof sent).toBe("string");
    expect(String(sent)).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    expect(response.headers.get("x-request-id")).toBe(sent);
    const again = await echoFor("/rid", {});
    expect(again.echo.headers["x-request-id"]).not.toBe(sent);
  });

  it("an unacceptable client id (too short, spaces, too long) is replaced", async () => {
    for (const bad of ["short", "has spaces in it", "x".repeat(200), "<script>alert(1)</script>"]) {
      const { echo, response } = await echoFor("/rid", { "x-request-id": bad });
      expect(echo.headers["x-request-id"], bad).not.toBe(bad);
      expect(String(echo.headers["x-request-id"])).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
      expect(response.headers.get("x-request-id")).toBe(echo.headers["x-request-id"]);
    }
  });

  it("the orchestrator's own responses (errors included) carry the request id too", async () => {
    const id = "e2e-own-response-1234";
    const response = await fetch(gateway(`/${uniqueService("nobody")}/x`), { headers: { "x-request-id": id } });
    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBe(id);
    await response.arrayBuffer();
  });
});

describe("Authorization", () => {
  it("the admin key is not forwarded", async () => {
    const { echo } = await echoFor("/auth", { authorization: `Bearer ${adminKey()}` });
    expect(echo.headers).not.toHaveProperty("authorization");
  });

  it("the registration token is not forwarded either", async () => {
    const { echo } = await echoFor("/auth", { authorization: `Bearer ${registrationToken()}` });
    expect(echo.headers).not.toHaveProperty("authorization");
  });

  it("an orchestrator credential in any scheme, case, spacing or encoding is not forwarded (security finding 5)", async () => {
    for (const key of [adminKey(), registrationToken()]) {
      const forms = [`bearer ${key}`, `Bearer  ${key}`, `BEARER ${key}`, `Token ${key}`, key, ` ${key} `, `Basic ${btoa(`x:${key}`)}`, `basic ${btoa(`${key}:`)}`, `Basic ${btoa(key)}`, `Digest username="x", response=${key}`];
      for (const authorization of forms) {
        const { echo } = await echoFor("/auth", { authorization });
        expect(echo.headers, authorization.replace(key, "<key>")).not.toHaveProperty("authorization");
      }
    }
  });

  it("a client's own bearer token is forwarded unchanged", async () => {
    const { echo } = await echoFor("/auth", { authorization: "Bearer user-token" });
    expect(echo.headers.authorization).toBe("Bearer user-token");
  });

  it("other schemes are forwarded unchanged", async () => {
    const { echo } = await echoFor("/auth", { authorization: "Basic dXNlcjpwYXNz" });
    expect(echo.headers.authorization).toBe("Basic dXNlcjpwYXNz");
  });
});

describe("ordinary headers", () => {
  it("end-to-end request headers pass through unchanged", async () => {
    const { echo } = await echoFor("/plain", {
      accept: "application/vnd.example+json",
      "accept-language": "fr-CH",
      "x-custom": "value-1",
      cookie: "session=abc; theme=dark",
      "user-agent": "e2e-suite/1.0",
    });
    expect(echo.headers.accept).toBe("application/vnd.example+json");
    expect(echo.headers["accept-language"]).toBe("fr-CH");
    expect(echo.headers["x-custom"]).toBe("value-1");
    expect(echo.headers.cookie).toBe("session=abc; theme=dark");
    expect(echo.headers["user-agent"]).toBe("e2e-suite/1.0");
  });
});
