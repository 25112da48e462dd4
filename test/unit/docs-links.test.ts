/**
 * The README and docs/ link to each other by relative path and #anchor. This
 * checks that every such link resolves: the file (or folder) exists, and an
 * anchor names a heading of the target Markdown file under GitHub's slug rules
 * (lower-case; punctuation other than '-' and '_' removed; spaces to '-';
 * a repeated heading gets -1, -2, …). So moving a section cannot silently
 * break a link to it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "../..");

/** Markdown outside fenced code blocks and inline code spans, line by line (links and headings live there). */
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split("\n")) {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (marker !== undefined) {
      if (fence === null) fence = marker[0] ?? null;
      else if (marker.startsWith(fence)) fence = null;
      lines.push("");
      continue;
    }
    lines.push(fence === null ? line : "");
  }
  return lines;
}

/** GitHub's heading anchor (github-slugger): what the rendered heading text becomes. */
function githubSlug(headingText: string): string {
  const rendered = headingText
    .replace(/`([^`]*)`/g, "$1") // code spans keep their text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links keep their text
    .replace(/<[^>]+>/g, "") // inline HTML tags
    .replace(/(\*\*|__|\*)/g, ""); // emphasis markers
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

function anchorsIn(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = githubSlug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

const anchorsOf = (file: string): Set<string> => anchorsIn(readFileSync(file, "utf8"));

interface Link {
  readonly from: string;
  readonly line: number;
  readonly target: string;
}

function linksOf(file: string): Link[] {
  const links: Link[] = [];
  proseLines(readFileSync(file, "utf8")).forEach((raw, index) => {
    const line = raw.replace(/`[^`]*`/g, ""); // a link inside a code span is not a link
    for (const match of line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = match[1] ?? "";
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto: …
      links.push({ from: file, line: index + 1, target });
    }
  });
  return links;
}

const files = [join(ROOT, "README.md"), ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => join(ROOT, "docs", f))];

function problemsOf(link: Link): string | null {
  const [pathPart = "", anchor] = link.target.split("#", 2) as [string, string | undefined];
  const target = pathPart === "" ? link.from : resolve(dirname(link.from), decodeURIComponent(pathPart));
  const where = `${relative(ROOT, link.from)}:${link.line} → ${link.target}`;
  if (!target.startsWith(ROOT)) return `${where}: points outside the repository`;
  if (!existsSync(target)) return `${where}: no such file`;
  if (anchor === undefined) return null;
  if (!target.endsWith(".md")) return `${where}: an anchor into a file that is not Markdown`;
  return anchorsOf(target).has(decodeURIComponent(anchor)) ? null : `${where}: no heading with anchor #${anchor} in ${relative(ROOT, target)}`;
}

describe("links in README.md and docs/", () => {
  it("finds the documents and their links", () => {
    expect(files.map((f) => relative(ROOT, f))).toEqual(expect.arrayContaining(["README.md", "docs/api.md", "docs/architecture.md", "docs/configuration.md", "docs/operations.md"]));
    expect(files.flatMap(linksOf).length).toBeGreaterThan(50);
  });

  it("every relative link and #anchor resolves to a file and a heading", () => {
    const problems = files.flatMap(linksOf).map(problemsOf).filter((p): p is string => p !== null);
    expect(problems).toEqual([]);
  });

  it("slugs headings the way GitHub does", () => {
    expect(githubSlug("Proxying: `/{service}/*`")).toBe("proxying-service");
    expect(githubSlug("Debug (DEV_MODE only)")).toBe("debug-dev_mode-only");
    expect(githubSlug("The hot path: decided at the edge, at any load")).toBe("the-hot-path-decided-at-the-edge-at-any-load");
    expect(githubSlug("A model of RegistryDO's load on Cloudflare")).toBe("a-model-of-registrydos-load-on-cloudflare");
    expect(githubSlug("1. Log in")).toBe("1-log-in");
    expect(githubSlug("What `npm start` does")).toBe("what-npm-start-does");
  });

  it("numbers repeated headings as GitHub does, and ignores headings in code blocks", () => {
    const anchors = anchorsIn("# Title\n## Dashboard\n```bash\n# Dashboard\n```\n### Dashboard\n## Dashboard\n");
    expect([...anchors]).toEqual(["title", "dashboard", "dashboard-1", "dashboard-2"]);
  });
});
