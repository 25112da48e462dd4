import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY_POLICY, backoffDelayMs, nextAttempt, parseRetryAfter } from "../../src/core/alerts/delivery";
import { DEAD_LETTER_LIMIT, type OutboxMessage, createOutbox, dueEntries, enqueue, nextDueAt, recordAttempt } from "../../src/core/alerts/outbox";

const NOW = Date.UTC(2024, 0, 15, 10, 30, 0);
const msg = (id: string): OutboxMessage & { id: string } => ({ id, target: "slack", payload: { text: id, blocks: [
  { type: "header", text: { type: "plain_text", text: id, emoji: true } },
  { type: "section", text: { type: "mrkdwn", text: id }, fields: [] },
  { type: "context", elements: [] },
] } });

describe("backoff", () => {
  it("doubles from 1 s and caps at 5 minutes", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((a) => backoffDelayMs(a))).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300].map((s) => s * 1000));
    expect(backoffDelayMs(1000)).toBe(300_000);
  });
});

describe("nextAttempt", () => {
  it("2xx is delivered", () => {
    expect(nextAttempt(1, { status: 200 }, NOW)).toEqual({ retry: false, outcome: "delivered" });
    expect(nextAttempt(3, { status: 204 }, NOW).outcome).toBe("delivered");
  });

  it("5xx, 429, 408 and network errors are retried with backoff", () => {
    expect(nextAttempt(1, { status: 500 }, NOW)).toMatchObject({ retry: true, at: NOW + 1000 });
    expect(nextAttempt(3, { status: 503 }, NOW)).toMatchObject({ retry: true, at: NOW + 4000 });
    expect(nextAttempt(2, { status: 429 }, NOW)).toMatchObject({ retry: true, at: NOW + 2000 });
    expect(nextAttempt(1, { status: 408 }, NOW)).toMatchObject({ retry: true });
    expect(nextAttempt(1, { networkError: true, message: "ECONNRESET" }, NOW)).toMatchObject({ retry: true, at: NOW + 1000, reason: "network error: ECONNRESET" });
  });

  it("honours Retry-After in seconds", () => {
    expect(nextAttempt(1, { status: 429, retryAfterHeader: "30" }, NOW)).toMatchObject({ retry: true, at: NOW + 30_000 });
    // Backoff already longer than Retry-After: the later of the two.
    expect(nextAttempt(8, { status: 429, retryAfterHeader: "2" }, NOW)).toMatchObject({ at: NOW + 128_000 });
    // Capped at 5 minutes.
    expect(nextAttempt(1, { status: 503, retryAfterHeader: "86400" }, NOW)).toMatchObject({ at: NOW + 300_000 });
  });

  it("honours Retry-After as an HTTP-date", () => {
    const in90s = new Date(NOW + 90_000).toUTCString(); // IMF-fixdate
    expect(in90s).toMatch(/GMT$/);
    expect(nextAttempt(1, { status: 429, retryAfterHeader: in90s }, NOW)).toMatchObject({ retry: true, at: NOW + 90_000 });
    const past = new Date(NOW - 90_000).toUTCString();
    expect(nextAttempt(2, { status: 429, retryAfterHeader: past }, NOW)).toMatchObject({ at: NOW + 2000 });
  });

  it("ignores unparseable Retry-After values", () => {
    expect(parseRetryAfter("soon", NOW)).toBeNull();
    expect(parseRetryAfter("1.5", NOW)).toBeNull();
    expect(parseRetryAfter("-3", NOW)).toBeNull();
    expect(parseRetryAfter(undefined, NOW)).toBeNull();
    expect(parseRetryAfter(" 7 ", NOW)).toBe(7000);
    expect(nextAttempt(1, { status: 429, retryAfterHeader: "garbage" }, NOW)).toMatchObject({ at: NOW + 1000 });
  });

  it("other 4xx and 3xx are dead-lettered at once with a reason", () => {
    for (const status of [400, 401, 403, 404, 410, 413, 301]) {
      const d = nextAttempt(1, { status }, NOW);
      expect(d.retry).toBe(false);
      expect(d.outcome).toBe("dead-letter");
      if (d.outcome === "dead-letter") expect(d.reason).toContain(String(status));
    }
  });

  it("gives up after maxAttempts", () => {
    expect(nextAttempt(DEFAULT_RETRY_POLICY.maxAttempts - 1, { status: 500 }, NOW).retry).toBe(true);
    const last = nextAttempt(DEFAULT_RETRY_POLICY.maxAttempts, { status: 500 }, NOW);
    expect(last).toMatchObject({ retry: false, outcome: "dead-letter" });
  });
});

describe("outbox", () => {
  it("queues, picks due entries, reschedules, delivers", () => {
    let box = enqueue(createOutbox(), msg("a"), NOW);
    box = enqueue(box, msg("b"), NOW + 1);
    expect(dueEntries(box, NOW + 1).map((e) => e.id)).toEqual(["a", "b"]);
    const r1 = recordAttempt(box, "a", { status: 502 }, NOW + 10);
    box = r1.outbox;
    expect(r1.decision).toMatchObject({ outcome: "retry", at: NOW + 1010 });
    expect(box.entries.find((e) => e.id === "a")).toMatchObject({ attempts: 1, nextAttemptAt: NOW + 1010, lastError: "HTTP 502" });
    expect(dueEntries(box, NOW + 20).map((e) => e.id)).toEqual(["b"]);
    expect(nextDueAt(box)).toBe(NOW + 1);
    box = recordAttempt(box, "b", { status: 200 }, NOW + 20).outbox;
    box = recordAttempt(box, "a", { status: 200 }, NOW + 1010).outbox;
    expect(box.entries).toEqual([]);
    expect(box.delivered).toBe(2);
    expect(nextDueAt(box)).toBeNull();
  });

  it("is bounded: the oldest are dropped and counted, never silently", () => {
    let box = createOutbox();
    for (let i = 0; i < 12; i++) box = enqueue(box, msg(`m${i}`), NOW + i, 10);
    expect(box.entries).toHaveLength(10);
    expect(box.entries[0]?.id).toBe("m2");
    expect(box.dropped).toBe(2);
  });

  it("dead-letters with a reason, bounded, and counts them all", () => {
    let box = createOutbox();
    for (let i = 0; i < DEAD_LETTER_LIMIT + 5; i++) {
      box = enqueue(box, msg(`m${i}`), NOW);
      box = recordAttempt(box, `m${i}`, { status: 404 }, NOW).outbox;
    }
    expect(box.entries).toEqual([]);
    expect(box.deadLetters).toHaveLength(DEAD_LETTER_LIMIT);
    expect(box.deadLettered).toBe(DEAD_LETTER_LIMIT + 5);
    expect(box.deadLetters[0]).toMatchObject({ reason: "HTTP 404 is not retryable", entry: { id: "m5", attempts: 1 } });
  });

  it("a message retried to exhaustion ends in the dead letters after 10 attempts", () => {
    let box = enqueue(createOutbox(), msg("x"), NOW);
    let t = NOW;
    let attempts = 0;
    while (box.entries.length > 0) {
      const due = box.entries[0]?.nextAttemptAt ?? t;
      t = due;
      box = recordAttempt(box, "x", { networkError: true }, t).outbox;
      attempts += 1;
    }
    expect(attempts).toBe(10);
    expect(box.deadLetters[0]?.reason).toContain("gave up after 10 attempts");
    expect(t - NOW).toBe((1 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256) * 1000);
  });

  it("enqueueing an existing id is a no-op; unknown ids are ignored", () => {
    const box = enqueue(createOutbox(), msg("a"), NOW);
    expect(enqueue(box, msg("a"), NOW + 5)).toBe(box);
    expect(recordAttempt(box, "zzz", { status: 200 }, NOW)).toEqual({ outbox: box, decision: null });
  });
});
