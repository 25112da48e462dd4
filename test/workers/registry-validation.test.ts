/** Registration errors name the field and say what is wrong with it. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

let nextIp = 1;
const ip = () => `198.18.70.${nextIp++ % 250}`;

async function register(body: unknown) {
  const response = await SELF.fetch("https://orchestrator.test/registry/instances", {
    method: "POST",
    headers: { authorization: "Bearer test-registration-token", "content-type": "application/json", "cf-connecting-ip": ip() },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(400);
  return (await response.json()) as { field: string; detail: string };
}

describe("registration validation messages", () => {
  it("says a missing field is required", async () => {
    expect(await register({ url: "http://127.0.0.1:1/" })).toMatchObject({ field: "service", detail: "service: is required" });
  });

  it("says an unknown field is unknown", async () => {
    const problem = await register({ service: "x", url: "http://127.0.0.1:1/", colour: "red" });
    expect(problem.field).toBe("colour");
    expect(problem.detail).toContain('unknown field "colour"');
  });

  it("says a body that is not an object must be one", async () => {
    expect((await register([])).detail).toContain("must be a JSON object");
  });
});
