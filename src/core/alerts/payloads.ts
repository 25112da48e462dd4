/**
 * Webhook bodies for Slack (Block Kit) and Discord (embeds) from one
 * notification. Both platforms reject over-long messages outright, so every
 * text is cut to its documented limit here rather than hoping it fits:
 *
 *   Slack:   header text ≤ 150, section fields ≤ 10 of ≤ 2000, section text ≤ 3000,
 *            context elements ≤ 10
 *   Discord: title ≤ 256, description ≤ 4096, ≤ 25 fields, field name ≤ 256,
 *            field value ≤ 1024, content ≤ 2000, all embed text ≤ 6000
 *
 * Firing is red and resolved green: a coloured emoji in Slack (Block Kit has no
 * colour), the embed colour in Discord. Label values are escaped for each
 * platform's markup, and Discord mentions are disabled, because labels carry
 * service and instance names that come from registrations.
 */
import type { NotifiedAlert, Notification } from "./pipeline";

export const SLACK_LIMITS = { header: 150, fields: 10, field: 2000, sectionText: 3000, fallbackText: 3000 } as const;
export const DISCORD_LIMITS = { title: 256, description: 4096, fields: 25, fieldName: 256, fieldValue: 1024, content: 2000, total: 6000 } as const;
export const DISCORD_COLORS = { firing: 0xd93025, resolved: 0x2eb67d } as const;

export interface PayloadOptions {
  /** e.g. "production"; shown so staging alerts are not mistaken for production ones. */
  readonly environment?: string;
}

type Mrkdwn = { readonly type: "mrkdwn"; readonly text: string };

export interface SlackPayload {
  readonly text: string;
  readonly blocks: readonly [
    { readonly type: "header"; readonly text: { readonly type: "plain_text"; readonly text: string; readonly emoji: true } },
    { readonly type: "section"; readonly text: Mrkdwn; readonly fields: readonly Mrkdwn[] },
    { readonly type: "context"; readonly elements: readonly Mrkdwn[] },
  ];
}

export interface DiscordField {
  readonly name: string;
  readonly value: string;
  readonly inline?: boolean;
}

export interface DiscordEmbed {
  readonly title: string;
  readonly description: string;
  readonly color: number;
  readonly fields: readonly DiscordField[];
  readonly timestamp: string;
}

export interface DiscordPayload {
  readonly content?: string;
  readonly embeds: readonly DiscordEmbed[];
  readonly allowed_mentions: { readonly parse: readonly never[] };
}

/** Cuts to at most `max` UTF-16 units (what both platforms' limits are at least as generous as), never splitting a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 1) return "";
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function escapeDiscord(text: string): string {
  return text.replace(/[\\*_~`|>#[\]()]/g, "\\$&");
}

function headline(n: Notification): string {
  const name = n.groupLabels.alertname ?? "Alerts";
  const service = n.groupLabels.service;
  const state = n.status === "firing" ? `FIRING:${n.counts.firing}` : "RESOLVED";
  return `[${state}] ${name}${service === undefined ? "" : ` ${service}`}`;
}

function alertTitle(a: NotifiedAlert): string {
  const where = a.labels.instance ?? a.labels.service ?? "";
  const mark = a.status === "firing" ? "firing" : "resolved";
  return `${a.labels.alertname ?? "alert"}${where === "" ? "" : ` · ${where}`} (${mark})`;
}

function since(a: NotifiedAlert): string {
  const start = new Date(a.startsAt).toISOString();
  return a.endsAt === null ? `since ${start}` : `${start} → ${new Date(a.endsAt).toISOString()}`;
}

function omitted(n: Notification, shown: number): number {
  return n.alerts.length - shown + (n.truncated ?? 0);
}

export function slackPayload(n: Notification, options: PayloadOptions = {}): SlackPayload {
  const emoji = n.status === "firing" ? "🔴" : "🟢";
  const env = options.environment === undefined ? "" : ` (${options.environment})`;
  const title = `${emoji} ${headline(n)}${env}`;
  const first = n.alerts[0];
  const summary = first === undefined ? "" : first.annotations.summary;
  const room = n.alerts.length > SLACK_LIMITS.fields ? SLACK_LIMITS.fields - 1 : SLACK_LIMITS.fields;
  const shown = n.alerts.slice(0, room);
  const fields: Mrkdwn[] = shown.map((a) => ({
    type: "mrkdwn",
    text: truncate(`*${escapeSlack(alertTitle(a))}*\n${escapeSlack(a.annotations.description)}\n_${since(a)}_`, SLACK_LIMITS.field),
  }));
  const more = omitted(n, shown.length);
  if (more > 0) fields.push({ type: "mrkdwn", text: `…and ${more} more` });
  return {
    text: truncate(`${headline(n)}${env}: ${summary}`, SLACK_LIMITS.fallbackText),
    blocks: [
      { type: "header", text: { type: "plain_text", text: truncate(title, SLACK_LIMITS.header), emoji: true } },
      { type: "section", text: { type: "mrkdwn", text: truncate(escapeSlack(summary === "" ? headline(n) : summary), SLACK_LIMITS.sectionText) }, fields },
      {
        type: "context",
        elements: [
          { type: "mrkdwn", text: truncate(`Group ${escapeSlack(n.groupKey)}`, SLACK_LIMITS.field) },
          { type: "mrkdwn", text: `Sent ${new Date(n.at).toISOString()}` },
        ],
      },
    ],
  };
}

/** Sum of the embed text Discord counts against its 6000-character limit. */
export function discordEmbedLength(e: DiscordEmbed): number {
  return e.title.length + e.description.length + e.fields.reduce((sum, f) => sum + f.name.length + f.value.length, 0);
}

export function discordPayload(n: Notification, options: PayloadOptions = {}): DiscordPayload {
  const env = options.environment === undefined ? "" : ` (${options.environment})`;
  const title = truncate(`${headline(n)}${env}`, DISCORD_LIMITS.title);
  const first = n.alerts[0];
  const description = truncate(escapeDiscord(first === undefined ? headline(n) : first.annotations.summary), DISCORD_LIMITS.description);
  const room = n.alerts.length > DISCORD_LIMITS.fields ? DISCORD_LIMITS.fields - 1 : DISCORD_LIMITS.fields;
  const fields: DiscordField[] = [];
  // The "… more" field needs room too, so reserve a little under the total.
  let budget = DISCORD_LIMITS.total - title.length - description.length - 40;
  for (const a of n.alerts.slice(0, room)) {
    const field = {
      name: truncate(escapeDiscord(alertTitle(a)), DISCORD_LIMITS.fieldName),
      value: truncate(`${escapeDiscord(a.annotations.description)}\n${since(a)}`, DISCORD_LIMITS.fieldValue),
    };
    const size = field.name.length + field.value.length;
    if (size > budget) break;
    budget -= size;
    fields.push(field);
  }
  const more = omitted(n, fields.length);
  if (more > 0) fields.push({ name: "More", value: `…and ${more} more` });
  return {
    embeds: [
      {
        title,
        description,
        color: n.status === "firing" ? DISCORD_COLORS.firing : DISCORD_COLORS.resolved,
        fields,
        timestamp: new Date(n.at).toISOString(),
      },
    ],
    allowed_mentions: { parse: [] },
  };
}
