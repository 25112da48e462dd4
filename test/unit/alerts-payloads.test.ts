import { describe, expect, it } from "vitest";
import {
  DISCORD_COLORS,
  DISCORD_LIMITS,
  SLACK_LIMITS,
  discordEmbedLength,
  discordPayload,
  slackPayload,
  truncate,
} from "../../src/core/alerts/payloads";
import type { NotifiedAlert, Notification } from "../../src/core/alerts/pipeline";

const AT = Date.UTC(2024, 0, 15, 10, 30, 0);

function notified(i: number, status: "firing" | "resolved", description = "Instance failed 3 health checks in a row."): NotifiedAlert {
  return {
    fingerprint: `fp${i}`,
    status,
    labels: { alertname: "InstanceUnhealthy", service: "api", instance: `api-${i}`, severity: "warning" },
    annotations: { summary: `api/api-${i} failed 3 health checks in a row`, description },
    startsAt: AT - 60_000,
    endsAt: status === "resolved" ? AT - 1000 : null,
  };
}

function notification(alerts: NotifiedAlert[], status: "firing" | "resolved" = "firing", truncated?: number): Notification {
  return {
    groupKey: '{alertname="InstanceUnhealthy",service="api"}',
    groupLabels: { alertname: "InstanceUnhealthy", service: "api" },
    status,
    alerts,
    counts: { firing: alerts.filter((a) => a.status === "firing").length + (truncated ?? 0), resolved: alerts.filter((a) => a.status === "resolved").length },
    ...(truncated === undefined ? {} : { truncated }),
    at: AT,
  };
}

const huge = "x".repeat(5000);
const big = notification(Array.from({ length: 50 }, (_, i) => notified(i, i % 3 === 0 ? "resolved" : "firing", huge)), "firing", 17);

describe("Slack payload", () => {
  it("is header + section with fields + context, red for firing", () => {
    const p = slackPayload(notification([notified(1, "firing")]), { environment: "production" });
    expect(p.blocks.map((b) => b.type)).toEqual(["header", "section", "context"]);
    expect(p.blocks[0].text.text).toBe("🔴 [FIRING:1] InstanceUnhealthy api (production)");
    expect(p.text).toContain("[FIRING:1] InstanceUnhealthy api");
    expect(p.blocks[1].fields).toHaveLength(1);
    expect(p.blocks[1].fields[0]?.text).toContain("api-1");
    expect(p.blocks[2].elements.length).toBeGreaterThan(0);
  });

  it("green for resolved", () => {
    const p = slackPayload(notification([notified(1, "resolved")], "resolved"));
    expect(p.blocks[0].text.text.startsWith("🟢 [RESOLVED]")).toBe(true);
  });

  it("respects Block Kit limits on a huge notification", () => {
    const p = slackPayload(big);
    expect(p.blocks[0].text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.header);
    expect(p.blocks[1].fields.length).toBeLessThanOrEqual(SLACK_LIMITS.fields);
    for (const f of p.blocks[1].fields) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.field);
    expect(p.blocks[1].text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(p.blocks[2].elements.length).toBeLessThanOrEqual(10);
    expect(p.blocks[1].fields.at(-1)?.text).toBe(`…and ${50 - 9 + 17} more`);
  });

  it("escapes Slack control characters from labels", () => {
    const a = { ...notified(1, "firing"), labels: { alertname: "InstanceUnhealthy", service: "api", instance: "<!channel>&" } };
    const p = slackPayload(notification([a]));
    expect(JSON.stringify(p)).not.toContain("<!channel>");
    expect(p.blocks[1].fields[0]?.text).toContain("&lt;!channel&gt;&amp;");
  });
});

describe("Discord payload", () => {
  it("one embed, red for firing, green for resolved, ISO timestamp, no mentions", () => {
    const firing = discordPayload(notification([notified(1, "firing")]));
    expect(firing.embeds).toHaveLength(1);
    expect(firing.embeds[0]).toMatchObject({ color: DISCORD_COLORS.firing, timestamp: "2024-01-15T10:30:00.000Z", title: "[FIRING:1] InstanceUnhealthy api" });
    expect(firing.allowed_mentions).toEqual({ parse: [] });
    expect(discordPayload(notification([notified(1, "resolved")], "resolved")).embeds[0]?.color).toBe(DISCORD_COLORS.resolved);
    expect(DISCORD_COLORS.firing).not.toBe(DISCORD_COLORS.resolved);
  });

  it("respects embed limits on a huge notification", () => {
    const e = discordPayload(big).embeds[0];
    if (e === undefined) throw new Error("no embed");
    expect(e.title.length).toBeLessThanOrEqual(DISCORD_LIMITS.title);
    expect(e.description.length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
    expect(e.fields.length).toBeLessThanOrEqual(DISCORD_LIMITS.fields);
    for (const f of e.fields) {
      expect(f.name.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldName);
      expect(f.value.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldValue);
    }
    expect(discordEmbedLength(e)).toBeLessThanOrEqual(DISCORD_LIMITS.total);
    expect(e.fields.at(-1)?.value).toMatch(/^…and \d+ more$/);
  });

  it("limits hold for long titles and descriptions too", () => {
    const long = { ...notified(1, "firing"), annotations: { summary: "s".repeat(10_000), description: "d".repeat(10_000) } };
    const n = { ...notification([long]), groupLabels: { alertname: "A".repeat(400), service: "api" } };
    const e = discordPayload(n).embeds[0];
    expect(e?.title.length).toBeLessThanOrEqual(DISCORD_LIMITS.title);
    expect(e?.description.length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
    expect(discordEmbedLength(e ?? { title: "", description: "", color: 0, fields: [], timestamp: "" })).toBeLessThanOrEqual(DISCORD_LIMITS.total);
    expect(slackPayload(n).blocks[0].text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.header);
  });
});

describe("truncate", () => {
  it("cuts with an ellipsis and never splits a surrogate pair", () => {
    expect(truncate("hello", 10)).toBe("hello");
    expect(truncate("hello world", 6)).toBe("hello…");
    const emoji = "ab😀cd";
    const cut = truncate(emoji, 4);
    expect(cut.length).toBeLessThanOrEqual(4);
    expect(cut).toBe("ab…");
    expect(truncate("abc", 0)).toBe("");
  });
});
