/**
 * The alert pipeline against real loopback webhook receivers: a real failure
 * of a real upstream produces Slack and Discord payloads, recovery a resolved
 * one; a receiver answering 429 with Retry-After gets the alert again after
 * that delay; silences suppress and expire.
 */
import { runDurableObjectAlarm, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { metricsStub, registryStub } from "../../src/registry-client";

const KEY = "test-admin-key-0123456789";
const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.50.${nextIp++ % 250}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ReceiverState {
  hits: number;
  received: { at: number; body: string; status: number }[];
}

async function control(name: string, mode: string): Promise<ReceiverState> {
  return (await (await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}`)).json()) as ReceiverState;
}

async function receiver(name: string): Promise<ReceiverState> {
  return (await (await fetch(`http://127.0.0.1:${port}/control/${name}`)).json()) as ReceiverState;
}

/** Runs the loop until `accept` holds (health sweeps, rule evaluation and delivery all happen in its alarm). */
async function until<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 12_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await sleep(120);
    await runDurableObjectAlarm(metricsStub(env));
  }
}

async function failingService() {
  const name = `al-${crypto.randomUUID().slice(0, 6)}`;
  const service = `alert-${crypto.randomUUID().slice(0, 8)}`;
  await control(name, "ok");
  const registry = registryStub(env);
  const registered = await registry.register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${name}` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
  if (!registered.ok) throw new Error("register failed");
  await registry.configureService(service, { healthCheck: { intervalMs: 100, timeoutMs: 300 } });
  return { name, service };
}

const mentions = (state: ReceiverState, service: string, word: string) => state.received.filter((r) => r.body.includes(service) && r.body.includes(word));

function admin(method: string, path: string, body?: unknown) {
  return SELF.fetch(`https://orchestrator.test${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "cf-connecting-ip": ip() },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe("alerting", () => {
  it("sends Slack and Discord notifications for a service that goes down, and resolved ones when it recovers", async () => {
    const { name, service } = await failingService();
    await control(name, "error");
    const slack = await until(() => receiver("slack-receiver"), (s) => mentions(s, service, "ServiceDown").length > 0);
    const discord = await until(() => receiver("discord-receiver"), (s) => mentions(s, service, "ServiceDown").length > 0);

    const slackPayload = JSON.parse((mentions(slack, service, "ServiceDown")[0] as { body: string }).body) as { text: string; blocks: unknown[] };
    expect(typeof slackPayload.text).toBe("string");
    expect(slackPayload.blocks.length).toBeGreaterThan(0);
    const discordPayload = JSON.parse((mentions(discord, service, "ServiceDown")[0] as { body: string }).body) as { embeds: { title: string; color: number }[] };
    expect(discordPayload.embeds.length).toBeGreaterThan(0);
    expect(discordPayload.embeds[0]?.title.length).toBeLessThanOrEqual(256);

    const alerts = (await (await admin("GET", "/admin/alerts")).json()) as { history: { entries: { groupKey: string; status: string }[] } };
    expect(alerts.history.entries.some((n) => n.groupKey.includes(service) && n.status === "firing")).toBe(true);

    await control(name, "ok");
    await until(() => receiver("slack-receiver"), (s) => s.received.some((r) => r.body.includes(service) && /resolved/i.test(r.body)));
  });

  it("retries a receiver that answers 429 with Retry-After, after that delay", async () => {
    await control("slack-receiver", "429-new-bodies");
    try {
      const { name, service } = await failingService();
      await control(name, "error");
      const state = await until(() => receiver("slack-receiver"), (s) => mentions(s, service, "ServiceDown").length >= 2, 15_000);
      const [first, second] = mentions(state, service, "ServiceDown") as [ReceiverState["received"][number], ReceiverState["received"][number]];
      expect(first.status).toBe(429);
      expect(second.status).toBe(200);
      expect(second.at - first.at).toBeGreaterThanOrEqual(1000);
      expect(second.body).toBe(first.body);
    } finally {
      await control("slack-receiver", "ok");
    }
  });

  it("keeps silenced alerts quiet until the silence is expired", async () => {
    const { name, service } = await failingService();
    const created = await admin("POST", "/admin/silences", { matchers: [{ name: "service", value: service }], durationSeconds: 600, comment: "maintenance" });
    expect(created.status).toBe(201);
    const silence = (await created.json()) as { id: string; state: string };
    expect(silence.state).toBe("active");
    const listed = (await (await admin("GET", "/admin/silences")).json()) as { silences: { id: string }[] };
    expect(listed.silences.some((s) => s.id === silence.id)).toBe(true);

    await control(name, "error");
    const suppressed = await until(
      async () => (await (await admin("GET", "/admin/alerts")).json()) as { active: { alert: { labels: Record<string, string> }; state: string }[] },
      (a) => a.active.some((s) => s.alert.labels.service === service && s.alert.labels.alertname === "ServiceDown"),
    );
    expect(suppressed.active.filter((s) => s.alert.labels.service === service).every((s) => s.state === "suppressed")).toBe(true);
    for (let i = 0; i < 5; i++) {
      await sleep(120);
      await runDurableObjectAlarm(metricsStub(env));
    }
    expect(mentions(await receiver("slack-receiver"), service, "ServiceDown")).toHaveLength(0);

    expect((await admin("DELETE", `/admin/silences/${silence.id}`)).status).toBe(200);
    await until(() => receiver("slack-receiver"), (s) => mentions(s, service, "ServiceDown").length > 0);
    expect((await admin("DELETE", "/admin/silences/no-such-id")).status).toBe(404);
  });

  it("rejects bad silences with the field that is wrong", async () => {
    const cases: [unknown, string][] = [
      [{ matchers: [], durationSeconds: 60, comment: "x" }, "matchers"],
      [{ matchers: [{ name: "service", value: "a" }], comment: "x" }, "endsAt"],
      [{ matchers: [{ name: "service", value: "(" , isRegex: true }], durationSeconds: 60, comment: "x" }, "matchers.0.value"],
      [{ matchers: [{ name: "service", value: "a" }], durationSeconds: 60, comment: "x", extra: 1 }, "extra"],
    ];
    for (const [body, field] of cases) {
      const response = await admin("POST", "/admin/silences", body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { field: string }).field).toBe(field);
    }
  });
});
