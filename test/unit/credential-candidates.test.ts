/**
 * Security finding 5: the admin key reached upstreams unless written exactly
 * `Bearer <key>`. These are the values an Authorization header is checked as
 * (src/middleware/auth.ts credentialCandidates); the proxy drops the header
 * when any of them is an orchestrator credential (e2e: test/e2e/headers.test.ts).
 */
import { describe, expect, it } from "vitest";
import { credentialCandidates } from "../../src/middleware/auth";

const KEY = "k3y-0123456789abcdef";

describe("credentialCandidates", () => {
  it.each([
    `Bearer ${KEY}`,
    `bearer ${KEY}`,
    `Bearer  ${KEY}`,
    `Token ${KEY}`,
    KEY,
    `  ${KEY}\t`,
    `Basic ${btoa(`x:${KEY}`)}`,
    `basic ${btoa(`${KEY}:`)}`,
    `Basic ${btoa(KEY)}`,
    `Digest username="x", response=${KEY}`,
    `Custom token="${KEY}"`,
  ])("finds the key in %s", (header) => {
    expect(credentialCandidates(header)).toContain(KEY);
  });

  it("keeps keys that contain separators whole", () => {
    expect(credentialCandidates("Bearer a=b,c")).toContain("a=b,c");
  });

  it("is bounded whatever the header", () => {
    expect(credentialCandidates("a ".repeat(10_000)).length).toBeLessThanOrEqual(16);
    expect(credentialCandidates("Basic !!!not-base64")).toEqual(["Basic", "!!!not-base64"]);
  });
});
