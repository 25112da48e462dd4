/** The admin auth matrix: every bad form gets the identical 401; the key is never logged. */
import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";

const KEY = "test-admin-key-0123456789";
let nextIp = 1;
const freshIp = () => `198.18.7.${nextIp++}`;

async function adminGet(headers: Record<string, string>, query = "") {
  return SELF.fetch(`https://orchestrator.test/admin/services${query}`, { headers: { "cf-connecting-ip": freshIp(), ...headers } });
}

afterEach(() => vi.restoreAllMocks());

describe("admin authentication", () => {
  const badForms: Array<[string, Record<string, string>, string?]> = [
    ["missing header", {}],
    ["wrong key", { authorization: "Bearer not-the-key-0123456789" }],
    ["wrong length", { authorization: `Bearer ${KEY}x` }],
    ["prefix of the key", { authorization: `Bearer ${KEY.slice(0, -1)}` }],
    ["lower-case scheme", { authorization: `bearer ${KEY}` }],
    ["basic scheme", { authorization: `Basic ${btoa(`admin:${KEY}`)}` }],
    ["no scheme", { authorization: KEY }],
    ["empty bearer", { authorization: "Bearer " }],
    ["token in the query string", {}, `?token=${KEY}&access_token=${KEY}`],
  ];

  it.each(badForms)("answers %s with the same 401 problem and WWW-Authenticate: Bearer", async (_name, headers, query) => {
    const response = await adminGet(headers, query);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="admin"');
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      type: "urn:orchestrator:problem:unauthorized",
      title: "Unauthorized",
      status: 401,
      detail: "A valid bearer token is required.",
      // The request's own trace id, the one member that differs between these answers (it says nothing about the credential).
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });

  it("lets the right key through", async () => {
    const response = await adminGet({ authorization: `Bearer ${KEY}` });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { services: unknown[] };
    expect(Array.isArray(body.services)).toBe(true);
  });

  it("never writes the key into a log line", async () => {
    const lines: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(" "));
      });
    }
    await (await adminGet({ authorization: `Bearer ${KEY}` })).arrayBuffer();
    await (await adminGet({ authorization: `Bearer ${KEY}-wrong` })).arrayBuffer();
    await (await adminGet({}, `?token=${KEY}`)).arrayBuffer();
    await (await SELF.fetch(`https://orchestrator.test/api/x`, { headers: { authorization: `Bearer ${KEY}`, "cf-connecting-ip": freshIp() } })).arrayBuffer();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toContain(KEY);
  });
});
