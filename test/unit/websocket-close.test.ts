/**
 * Close frames across the relay: clean closes pass through with their code and
 * reason, what cannot go on the wire is translated so the far end learns at once.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { forwardedClose, isSendableCloseCode, truncateReason } from "../../src/core/websocket-close";

describe("forwardedClose", () => {
  it("passes a sendable code and its reason through, in both directions", () => {
    for (const code of [1000, 1001, 1003, 1008, 1011, 1014, 3000, 4000, 4999]) {
      expect(forwardedClose("client", code, "bye")).toEqual({ code, reason: "bye" });
      expect(forwardedClose("upstream", code, "bye")).toEqual({ code, reason: "bye" });
    }
  });

  it("a close without a status code is forwarded without one", () => {
    expect(forwardedClose("upstream", 1005, "")).toEqual({ code: null, reason: "" });
    expect(forwardedClose("client", 1005, "")).toEqual({ code: null, reason: "" });
  });

  it("an upstream that died gives the client 1014 (bad gateway); a client that died gives the upstream 1001", () => {
    expect(forwardedClose("upstream", 1006, "")).toEqual({ code: 1014, reason: "upstream connection lost" });
    expect(forwardedClose("upstream", 1015, "")).toEqual({ code: 1014, reason: "upstream connection lost" });
    expect(forwardedClose("client", 1006, "")).toEqual({ code: 1001, reason: "client connection lost" });
  });

  it("never asks the runtime to send a code no endpoint may send", () => {
    fc.assert(
      fc.property(fc.integer({ min: -10, max: 70_000 }), fc.constantFrom("client" as const, "upstream" as const), fc.string(), (code, from, reason) => {
        const frame = forwardedClose(from, code, reason);
        if (frame.code !== null) expect(isSendableCloseCode(frame.code)).toBe(true);
        expect(new TextEncoder().encode(frame.reason).length).toBeLessThanOrEqual(123);
      }),
    );
  });
});

describe("truncateReason", () => {
  it("keeps short reasons and cuts long ones at 123 bytes without splitting a character", () => {
    expect(truncateReason("short")).toBe("short");
    const euros = "€".repeat(60); // 3 bytes each: 180 bytes
    const cut = truncateReason(euros);
    expect(new TextEncoder().encode(cut).length).toBe(123);
    expect(cut).toBe("€".repeat(41));
    expect(truncateReason("a".repeat(200))).toHaveLength(123);
  });
});
