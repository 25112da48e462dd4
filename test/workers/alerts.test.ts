/**
 * The alert pipeline against real loopback webhook receivers: a real failure
 * of a real upstream produces Slack and Discord payloads, recovery a resolved
 * one; a receiver answering 429 with Retry-After gets the alert again after
 * that delay; silences suppress and expire; an alert evaluation that throws
 * repeatedly keeps the loop's alarm armed and repeats nothing once it recovers.
 */
import { runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { DISCORD_COLORS, type DiscordPayload, type SlackPayload } from "../../src/core/alerts/payloads";
import { metricsStub, registryStub } from "../../src/platform/stubs";
import { sleep } from "./helpers";

const KEY = "test-admin-key-0123456789";
const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.50.${nextIp++ % 250}`;

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

type Received = ReceiverState["received"][number];

/**
 * A receiver's inbox accumulated over successive reads: the upstream keeps only
 * the last 50 bodies per receiver, and every test file's alerts go to the same
 * two receivers, so a single read could miss an early (or a duplicate)
 * notification. `hits` counts every POST, so more than 50 between two reads
 * means some were lost, and counting would not be trustworthy.
 */
function inbox(name: string): () => Promise<Received[]> {
  const seen = new Map<string, Received>();
  let hits: number | null = null;
  return async () => {
    const state = await receiver(name);
    if (hits !== null && state.hits - hits > 50) throw new Error(`${name} got ${state.hits - hits} posts between two reads; its inbox overflowed`);
    hits = state.hits;
    for (const r of state.received) seen.set(`${r.at}|${r.status}|${r.body}`, r);
    return [...seen.values()];
  };
}

/**
 * Whether a Slack or Discord body is a ServiceDown notification for `service`,
 * and which kind. Both platforms' headlines are "[FIRING:n] ServiceDown <service>"
 * or "[RESOLVED] ServiceDown <service>" (Slack's `text`, Discord's embed title);
 * the colour (Slack's header emoji, Discord's embed colour) must agree.
 * A resolved body also contains "ServiceDown", so matching words is not enough.
 */
function serviceDownKind(body: string, service: string): "firing" | "resolved" | null {
  let payload: Partial<SlackPayload> & Partial<DiscordPayload>;
  try {
    payload = JSON.parse(body) as Partial<SlackPayload> & Partial<DiscordPayload>;
  } catch {
    return null;
  }
  const embed = payload.embeds?.[0];
  const headline = payload.text ?? embed?.title;
  if (typeof headline !== "string") return null;
  const escaped = service.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`^\\[(FIRING:\\d+|RESOLVED)\\] ServiceDown ${escaped}(?=[ :]|$)`).exec(headline);
  if (!match) return null;
  const kind = match[1] === "RESOLVED" ? "resolved" : "firing";
  const colourAgrees = payload.blocks !== undefined
    ? payload.blocks[0].text.text.startsWith(kind === "firing" ? "🔴" : "🟢")
    : embed?.color === DISCORD_COLORS[kind];
  if (!colourAgrees) throw new Error(`a ${kind} headline with the other kind's colour: ${body}`);
  return kind;
}

const serviceDown = (received: readonly Received[], service: string, kind: "firing" | "resolved") =>
  received.filter((r) => serviceDownKind(r.body, service) === kind);

/** Runs the loop for `ms` (evaluations every ALERT_EVALUATION_INTERVAL_MS=200), reading the inboxes as it goes. */
async function runFor(ms: number, ...reads: (() => Promise<unknown>)[]) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await sleep(120);
    await runDurableObjectAlarm(metricsStub(env));
    for (const read of reads) await read();
  }
}

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

  it("sends no duplicate notifications when alert evaluation throws repeatedly and then recovers; the alarm stays scheduled", async () => {
    const metrics = metricsStub(env);
    const slack = inbox("slack-receiver");
    const discord = inbox("discord-receiver");
    await Promise.all([slack(), discord()]);
    const { name, service } = await failingService();
    await control(name, "error");
    for (const read of [slack, discord]) {
      const received = await until(read, (r) => serviceDown(r, service, "firing").length > 0);
      expect(serviceDown(received, service, "firing")).toHaveLength(1);
    }

    // The fault: evaluateAlerts calls forgetDeregistered right after the
    // registry snapshot, so making it throw breaks rule evaluation alone (the
    // sweep, delivery and the rest of the tick carry on). The window is kept
    // short: MetricsDO is shared with the other test files.
    let injected = 0;
    await runInDurableObject(metrics, (object) => {
      Object.defineProperty(object, "forgetDeregistered", {
        value: () => {
          injected++;
          throw new Error("injected alert evaluation failure");
        },
        configurable: true,
        writable: true,
      });
    });
    try {
      await until(() => metrics.status(), (s) => s.consecutiveAlertFailures >= 3, 8_000);
      expect(injected).toBeGreaterThanOrEqual(3);
      const alarm = await runInDurableObject(metrics, (_object, state) => state.storage.getAlarm());
      expect(alarm).not.toBeNull();
      // Armed for the backed-off retry, not pushed far out.
      expect(alarm as number).toBeLessThanOrEqual(Date.now() + 5_000);
    } finally {
      await runInDurableObject(metrics, (object) => {
        Reflect.deleteProperty(object, "forgetDeregistered");
      });
    }

    await until(() => metrics.status(), (s) => s.consecutiveAlertFailures === 0);
    expect(await runInDurableObject(metrics, (_object, state) => state.storage.getAlarm())).not.toBeNull();
    // Well over ALERT_GROUP_INTERVAL_MS (1 s), so the group flushes again after recovery.
    await runFor(2_500, slack, discord);
    for (const received of [await slack(), await discord()]) {
      expect(serviceDown(received, service, "firing")).toHaveLength(1);
      expect(serviceDown(received, service, "resolved")).toHaveLength(0);
    }

    await control(name, "ok");
    for (const read of [slack, discord]) await until(read, (r) => serviceDown(r, service, "resolved").length > 0);
    await runFor(1_500, slack, discord);
    for (const received of [await slack(), await discord()]) {
      const ours = [...serviceDown(received, service, "firing"), ...serviceDown(received, service, "resolved")];
      expect(serviceDown(received, service, "firing")).toHaveLength(1);
      expect(serviceDown(received, service, "resolved")).toHaveLength(1);
      expect(ours.every((r) => r.status === 200)).toBe(true);
    }
    expect((await metrics.status()).consecutiveAlertFailures).toBe(0);
  });

  it("rejects bad silences with the field that is wrong", async () => {
    const cases: [unknown, string][] = [
      [{ matchers: [], durationSeconds: 60, comment: "x" }, "matchers"],
      [{ matchers: [{ name: "service", value: "a" }], comment: "x" }, "endsAt"],
      [{ matchers: [{ name: "service", value: "(" , isRegex: true }], durationSeconds: 60, comment: "x" }, "matchers.0.value"],
      // RE2 syntax (security review finding 3): no lookaround or backreferences, and a length limit.
      [{ matchers: [{ name: "service", value: "(?=a)a", isRegex: true }], durationSeconds: 60, comment: "x" }, "matchers.0.value"],
      [{ matchers: [{ name: "service", value: "(a)\\1", isRegex: true }], durationSeconds: 60, comment: "x" }, "matchers.0.value"],
      [{ matchers: [{ name: "service", value: "a".repeat(1025), isRegex: true }], durationSeconds: 60, comment: "x" }, "matchers.0.value"],
      [{ matchers: [{ name: "service", value: "a" }], durationSeconds: 60, comment: "x", extra: 1 }, "extra"],
    ];
    for (const [body, field] of cases) {
      const response = await admin("POST", "/admin/silences", body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { field: string }).field).toBe(field);
    }
  });
});
