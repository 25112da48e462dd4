/**
 * Renders the documentation of every setting from its one declaration
 * (src/config.ts SETTINGS): the whole of .dev.vars.example, and the secrets and
 * settings tables of docs/configuration.md (between marker comments).
 * test/unit/settings-docs.test.ts checks the files against it;
 * `npm run docs:settings` rewrites them.
 */
import { SETTING_GROUPS, SETTINGS, type SettingDeclaration } from "../../src/config";

type Named = [name: string, setting: SettingDeclaration];

const entries = (): Named[] => Object.entries(SETTINGS) as Named[];

const DEV_VARS_HEADER = `# Local settings for \`wrangler dev\` / \`npm start\`. Generated from src/config.ts
# (SETTINGS) by \`npm run docs:settings\`: edit the declarations there, not this file.
#
# \`npm start\` creates .dev.vars for you (random ORCHESTRATOR_API_KEY,
# REGISTRATION_TOKEN and LIFECYCLE_HOOK_SECRET) when there is none, and never
# overwrites an existing one (it only appends LIFECYCLE_HOOK_SECRET if missing).
# To set anything else, copy the lines you need into .dev.vars and uncomment them.
# Never commit .dev.vars.
#
# Every setting is optional; the value shown is the default the Worker uses when
# the variable is not set, and the comment above it gives its accepted range.
# Values in .dev.vars override the [vars] in wrangler.toml, which sets
# ENVIRONMENT=development and LB_STRATEGY=round-robin for local runs.
# A bad value makes every request answer 503 problem+json naming the variable,
# rather than run with a surprise. Whole numbers only where a range is given in
# integers; booleans accept true/false/1/0.
# In staging/production, set secrets with \`wrangler secret put NAME --env <env>\`
# and plain settings under [env.<env>.vars] in wrangler.toml.
`;

/** Markdown links become their text: a comment in a dotenv file is read as plain text. */
function plain(markdown: string): string {
  return markdown.replace(/\[([^\]]+)\]\([^)]+\)/g, "$1");
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** A secret's "unset: …" default as a sentence ("Unset: …"); nothing when it is just "unset". */
function whenUnset(text: string): string {
  const sentence = plain(text);
  return sentence === "unset" ? "" : ` ${sentence[0]?.toUpperCase() ?? ""}${sentence.slice(1)}.`;
}

/** The value a commented-out line shows: the placeholder for a secret, else the default the schema applies. */
function shownValue(setting: SettingDeclaration): string {
  if (setting.example !== undefined) return setting.example;
  const fallback = (setting.schema as { default?: unknown }).default;
  return typeof fallback === "string" ? fallback : "";
}

export function renderDevVarsExample(): string {
  const out = [DEV_VARS_HEADER];
  for (const [group, title] of Object.entries(SETTING_GROUPS)) {
    out.push(`# ${"-".repeat(60)} ${title.toLowerCase()}`, "");
    for (const [name, setting] of entries().filter(([, s]) => s.group === group)) {
      const about = plain(setting.doc) + (setting.range === undefined ? "" : ` Accepted: ${plain(setting.range)}.`) + (setting.example === undefined ? "" : whenUnset(setting.default));
      for (const line of wrap(about, 78)) out.push(`# ${line}`);
      out.push(`# ${name}=${shownValue(setting)}`, "");
    }
  }
  return `${out.join("\n").trimEnd()}\n`;
}

/** A table cell: pipes escaped, so `a | b` inside code stays in one cell. */
const cell = (text: string) => text.replaceAll("|", "\\|");

export function renderSecretsTable(): string {
  const rows = entries().filter(([, s]) => s.group === "secrets");
  return ["| Variable | Default | Meaning |", "|---|---|---|", ...rows.map(([name, s]) => `| \`${name}\` | ${cell(s.default)} | ${cell(s.doc)} |`)].join("\n");
}

export function renderSettingsTable(): string {
  const rows = entries().filter(([, s]) => s.group !== "secrets");
  const sections: string[] = ["| Variable | Default | Range | Meaning |", "|---|---|---|---|"];
  for (const [group, title] of Object.entries(SETTING_GROUPS)) {
    const inGroup = rows.filter(([, s]) => s.group === group);
    if (inGroup.length === 0) continue;
    sections.push(`| **${title}** | | | |`);
    for (const [name, s] of inGroup) sections.push(`| \`${name}\` | ${cell(s.default)} | ${cell(s.range ?? "")} | ${cell(s.doc)} |`);
  }
  return sections.join("\n");
}

/** Replaces what lies between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in `text`; throws when the markers are missing. */
export function replaceBetweenMarkers(text: string, name: string, content: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`markers ${begin} … ${end} not found`);
  return `${text.slice(0, from + begin.length)}\n${content}\n${text.slice(to)}`;
}
