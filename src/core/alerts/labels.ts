/**
 * Label-set identity and matching, as Alertmanager defines them: a label with
 * an empty value is the same as no label; fingerprints and group keys depend
 * only on the set, never on key order.
 */
import { RE2JS } from "re2js";
import type { LabelSet } from "./alert";

export const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Present labels only (own, non-empty), keys sorted. */
export function normalizeLabels(labels: LabelSet): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(labels).sort()) {
    const value = labels[name];
    if (typeof value === "string" && value !== "") {
      Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/**
 * 64-bit FNV-1a over the sorted labels, as 16 hex digits. Each name and value
 * is length-prefixed, so no choice of characters can make two different sets
 * serialise alike. Hashes UTF-16 code units (stable for the same strings).
 */
export function fingerprint(labels: LabelSet): string {
  let h = FNV_OFFSET;
  const mix = (code: number) => {
    h = BigInt.asUintN(64, (h ^ BigInt(code)) * FNV_PRIME);
  };
  const feed = (text: string) => {
    mix(text.length & 0xffff);
    mix(text.length >>> 16);
    for (let i = 0; i < text.length; i++) mix(text.charCodeAt(i));
  };
  for (const [name, value] of Object.entries(normalizeLabels(labels))) {
    feed(name);
    feed(value);
  }
  return h.toString(16).padStart(16, "0");
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** The subset of labels named in groupBy that are present, sorted. */
export function groupLabelsOf(labels: LabelSet, groupBy: readonly string[]): Readonly<Record<string, string>> {
  const picked: Record<string, string | undefined> = {};
  for (const name of groupBy) {
    if (Object.hasOwn(labels, name)) Object.defineProperty(picked, name, { value: labels[name], enumerable: true });
  }
  return normalizeLabels(picked);
}

/** Human-readable and unique per group: {alertname="HighErrorRate",service="api"}. */
export function groupKeyOf(groupLabels: LabelSet): string {
  const body = Object.entries(normalizeLabels(groupLabels))
    .map(([k, v]) => `${k}=${quote(v)}`)
    .join(",");
  return `{${body}}`;
}

export interface Matcher {
  readonly name: string;
  readonly value: string;
  /** Value is a regular expression in RE2 syntax, anchored at both ends, as in Alertmanager. */
  readonly isRegex?: boolean;
  /** false negates the matcher (!= or !~); default true. */
  readonly isEqual?: boolean;
}

/** Longest regular expression a matcher may hold. */
export const MAX_MATCHER_PATTERN_LENGTH = 1_024;
const MAX_COMPILED = 1_000;
const compiled = new Map<string, RE2JS | null>();

/**
 * RE2 (re2js), not JavaScript's backtracking engine: matching takes time linear
 * in the input whatever the pattern, so a silence like `(a+)+b` cannot stall
 * the alert pipeline (security review finding 3). Compiled once per pattern.
 */
function compile(pattern: string): RE2JS | null {
  if (pattern.length > MAX_MATCHER_PATTERN_LENGTH) return null;
  let re = compiled.get(pattern);
  if (re !== undefined) return re;
  try {
    re = RE2JS.compile(pattern);
  } catch {
    re = null;
  }
  // Bounded: patterns come from operators' silences; a full cache starts over.
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(pattern, re);
  return re;
}

export function matcherProblem(m: Matcher): string | null {
  if (typeof m.name !== "string" || !LABEL_NAME_PATTERN.test(m.name)) return `invalid label name ${JSON.stringify(m.name)}`;
  if (typeof m.value !== "string") return `matcher ${m.name} needs a string value`;
  if (m.isRegex === true && m.value.length > MAX_MATCHER_PATTERN_LENGTH) return `matcher ${m.name} has a regular expression longer than ${MAX_MATCHER_PATTERN_LENGTH} characters`;
  if (m.isRegex === true && compile(m.value) === null) return `matcher ${m.name} has an invalid regular expression (RE2 syntax)`;
  return null;
}

/**
 * Whether the labels satisfy the matcher; a missing label reads as "". An
 * invalid regex matches nothing, so a bad matcher can only make a silence or
 * inhibition do less, never mute everything.
 */
export function matches(m: Matcher, labels: LabelSet): boolean {
  const actual = Object.hasOwn(labels, m.name) ? (labels[m.name] ?? "") : "";
  let hit: boolean;
  if (m.isRegex === true) {
    const re = compile(m.value);
    if (re === null) return false;
    // matches(): the whole value, anchored at both ends.
    hit = re.matches(actual);
  } else {
    hit = actual === m.value;
  }
  return m.isEqual === false ? !hit : hit;
}

export function matchesAll(matchers: readonly Matcher[], labels: LabelSet): boolean {
  return matchers.every((m) => matches(m, labels));
}
