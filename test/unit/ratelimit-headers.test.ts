import { describe, expect, it } from "vitest";
import { type GcraState, type RateLimitPolicy, gcra } from "../../src/core/gcra";
import { rateLimitHeaders, sanitizePolicyName } from "../../src/core/ratelimit-headers";
import { parseConfig } from "../../src/config";
import { policyFor } from "../../src/middleware/rate-limit";

/*
 * A minimal RFC 9651 (Structured Field Values) parser for one Item with
 * parameters: enough to check the produced headers the way a strict client
 * would read them, with the type of every value (Integer vs Decimal vs String).
 */
type BareItem =
  | { readonly type: "integer"; readonly value: number }
  | { readonly type: "decimal"; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "token"; readonly value: string }
  | { readonly type: "boolean"; readonly value: boolean };

interface SfItem {
  readonly value: BareItem;
  readonly params: ReadonlyMap<string, BareItem>;
}

class Parser {
  private pos = 0;
  constructor(private readonly input: string) {}

  private peek(): string {
    return this.input[this.pos] ?? "";
  }

  private fail(why: string): never {
    throw new SyntaxError(`${why} at ${this.pos} in ${JSON.stringify(this.input)}`);
  }

  parseItemField(): SfItem {
    this.skipSp();
    const item = { value: this.bareItem(), params: this.parameters() };
    this.skipSp();
    if (this.pos !== this.input.length) this.fail("trailing characters");
    return item;
  }

  private skipSp(): void {
    while (this.peek() === " ") this.pos++;
  }

  private bareItem(): BareItem {
    const c = this.peek();
    if (c === "-" || /[0-9]/.test(c)) return this.number();
    if (c === '"') return { type: "string", value: this.string() };
    if (c === "?") {
      this.pos++;
      const b = this.peek();
      if (b !== "0" && b !== "1") this.fail("bad boolean");
      this.pos++;
      return { type: "boolean", value: b === "1" };
    }
    if (/[A-Za-z*]/.test(c)) {
      const m = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(this.input.slice(this.pos));
      this.pos += m?.[0].length ?? 0;
      return { type: "token", value: m?.[0] ?? "" };
    }
    return this.fail("unexpected character");
  }

  private number(): BareItem {
    const m = /^-?[0-9]{1,15}(\.[0-9]{1,3})?/.exec(this.input.slice(this.pos));
    if (m === null) return this.fail("bad number");
    const after = this.input[this.pos + m[0].length] ?? "";
    if (/[0-9.]/.test(after)) this.fail("number too long");
    this.pos += m[0].length;
    if (m[1] !== undefined) return { type: "decimal", value: Number(m[0]) };
    return { type: "integer", value: Number(m[0]) };
  }

  private string(): string {
    this.pos++; // opening quote
    let out = "";
    for (;;) {
      const c = this.input[this.pos++];
      if (c === undefined) this.fail("unterminated string");
      if (c === '"') return out;
      if (c === "\\") {
        const next = this.input[this.pos++];
        if (next !== '"' && next !== "\\") this.fail("bad escape");
        out += next;
        continue;
      }
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) this.fail("non-printable character in string");
      out += c;
    }
  }

  private parameters(): Map<string, BareItem> {
    const params = new Map<string, BareItem>();
    while (this.peek() === ";") {
      this.pos++;
      this.skipSp();
      const m = /^[a-z*][a-z0-9_\-.*]*/.exec(this.input.slice(this.pos));
      if (m === null) this.fail("bad key");
      this.pos += m[0].length;
      let value: BareItem = { type: "boolean", value: true };
      if (this.peek() === "=") {
        this.pos++;
        value = this.bareItem();
      }
      params.set(m[0], value);
    }
    return params;
  }
}

function parseItem(field: string | undefined): SfItem {
  if (field === undefined) throw new Error("header missing");
  return new Parser(field).parseItemField();
}

function intParam(item: SfItem, key: string): number {
  const v = item.params.get(key);
  if (v?.type !== "integer") throw new Error(`${key} is ${v === undefined ? "missing" : v.type}, expected integer`);
  return v.value;
}

function policy(over: Partial<RateLimitPolicy> = {}): RateLimitPolicy {
  return { name: "general", limit: 100, periodMs: 60_000, burst: 100, ...over };
}

const EPOCH = 1_700_000_000_000;

describe("the test's own parser", () => {
  it("parses and rejects what RFC 9651 says", () => {
    expect(parseItem('"a\\"b";q=1;w=2.5;x;t=tok').params.get("w")).toEqual({ type: "decimal", value: 2.5 });
    expect(parseItem('"a\\"b"').value).toEqual({ type: "string", value: 'a"b' });
    expect(() => parseItem('"a"b"')).toThrow();
    expect(() => parseItem('"é"')).toThrow();
    expect(() => parseItem('"a";Q=1')).toThrow();
    expect(() => parseItem('"a";q=1234567890123456')).toThrow();
  });
});

describe("rateLimitHeaders", () => {
  it("allowed: policy and current state, no Retry-After", () => {
    const p = policy();
    const d = gcra(null, p, EPOCH);
    const h = rateLimitHeaders(p, d);
    expect(Object.keys(h).sort()).toEqual(["ratelimit", "ratelimit-policy"]);

    const pol = parseItem(h["ratelimit-policy"]);
    expect(pol.value).toEqual({ type: "string", value: "general" });
    expect(intParam(pol, "q")).toBe(100);
    expect(intParam(pol, "w")).toBe(60);
    expect([...pol.params.keys()]).toEqual(["q", "w"]);

    const rl = parseItem(h.ratelimit);
    expect(rl.value).toEqual({ type: "string", value: "general" });
    expect(intParam(rl, "r")).toBe(99);
    expect(intParam(rl, "t")).toBe(1); // one request occupies 600 ms, rounded up to whole seconds
    expect([...rl.params.keys()]).toEqual(["r", "t"]);
  });

  it("tracks a burst: r counts down, t grows, Retry-After only once refused", () => {
    const p = policy({ limit: 10, burst: 10 }); // T = 6 s
    let state: GcraState | null = null;
    for (let i = 1; i <= 10; i++) {
      const d = gcra(state, p, EPOCH);
      state = d.state;
      const h = rateLimitHeaders(p, d);
      const rl = parseItem(h.ratelimit);
      expect(intParam(rl, "r")).toBe(10 - i);
      expect(intParam(rl, "t")).toBe(6 * i);
      expect(h["retry-after"]).toBeUndefined();
    }
    const refused = gcra(state, p, EPOCH + 1500);
    expect(refused.allowed).toBe(false);
    const h = rateLimitHeaders(p, refused);
    expect(intParam(parseItem(h.ratelimit), "r")).toBe(0);
    expect(intParam(parseItem(h.ratelimit), "t")).toBe(59); // 58.5 s, rounded up
    expect(h["retry-after"]).toBe("5"); // 4.5 s, rounded up
  });

  it.each([
    [1, "1"],
    [999, "1"],
    [1000, "1"],
    [1001, "2"],
    [60_000, "60"],
    [0, "1"],
    [Number.NaN, "1"],
  ])("Retry-After for retryAfterMs=%s is %s: a positive integer", (retryAfterMs, expected) => {
    const h = rateLimitHeaders(policy(), { allowed: false, remaining: 0, resetMs: 5000, retryAfterMs });
    expect(h["retry-after"]).toBe(expected);
    expect(h["retry-after"]).toMatch(/^[1-9][0-9]*$/);
  });

  it("rounds the window up to whole seconds, at least 1", () => {
    const d = { allowed: true, remaining: 1, resetMs: 0, retryAfterMs: 0 };
    expect(intParam(parseItem(rateLimitHeaders(policy({ periodMs: 1500 }), d)["ratelimit-policy"]), "w")).toBe(2);
    expect(intParam(parseItem(rateLimitHeaders(policy({ periodMs: 1 }), d)["ratelimit-policy"]), "w")).toBe(1);
    expect(intParam(parseItem(rateLimitHeaders(policy({ periodMs: 86_400_000 }), d)["ratelimit-policy"]), "w")).toBe(86_400);
    expect(intParam(parseItem(rateLimitHeaders(policy(), d).ratelimit), "t")).toBe(0);
  });

  it("stays parseable with corrupt numbers", () => {
    const h = rateLimitHeaders(policy({ limit: Number.NaN }), { allowed: true, remaining: -3, resetMs: Number.POSITIVE_INFINITY, retryAfterMs: 0 });
    expect(intParam(parseItem(h["ratelimit-policy"]), "q")).toBe(0);
    expect(intParam(parseItem(h.ratelimit), "r")).toBe(0);
    expect(intParam(parseItem(h.ratelimit), "t")).toBe(999_999_999_999_999);
  });

  it.each([
    ['say "hi"', "say _hi_"],
    ["back\\slash", "back_slash"],
    ["café", "caf_"],
    ["emoji 🚀!", "emoji _!"],
    ["tab\there\nnewline\u007f", "tab_here_newline_"],
    ["general-orders.v2", "general-orders.v2"],
    ["", ""],
  ])("sanitizes the name %j to %j, producing a valid sf-string", (name, expected) => {
    expect(sanitizePolicyName(name)).toBe(expected);
    const h = rateLimitHeaders(policy({ name }), gcra(null, policy(), EPOCH));
    expect(parseItem(h["ratelimit-policy"]).value).toEqual({ type: "string", value: expected });
    expect(parseItem(h.ratelimit).value).toEqual({ type: "string", value: expected });
  });
});

describe("policyFor", () => {
  const config = parseConfig({ RATE_LIMIT_GENERAL: "300", RATE_LIMIT_SERVICES: '{"banking":50}' });

  it("names a per-service override after its service and keeps the class limit for the rest", () => {
    expect(policyFor(config, "general", "banking")).toEqual({ name: "general-banking", limit: 50, burst: 50, periodMs: config.rateLimits.periodMs });
    expect(policyFor(config, "general", "api")).toMatchObject({ name: "general", limit: 300 });
    expect(policyFor(config, "admin", null)).toMatchObject({ name: "admin", limit: config.rateLimits.perClass.admin });
  });

  it("a service named like an Object.prototype property gets the class limit like any other (security review finding 2)", () => {
    for (const service of ["constructor", "tostring", "valueof", "hasownproperty", "isprototypeof"]) {
      const policy = policyFor(config, "general", service);
      expect(policy, service).toMatchObject({ name: "general", limit: 300, burst: 300 });
      expect(Number.isFinite(policy.limit), service).toBe(true);
    }
    const overridden = parseConfig({ RATE_LIMIT_SERVICES: '{"constructor":7}' });
    expect(policyFor(overridden, "general", "constructor")).toMatchObject({ name: "general-constructor", limit: 7 });
  });

  it.each([
    ["[]", "must be a JSON object"],
    ["[50]", "must be a JSON object"],
    ['{"Banking":50}', "keys must be service names"],
    ['{"__proto__":50}', "keys must be service names"],
    ['{"banking":0}', "values must be whole numbers"],
    ['{"banking":"50"}', "values must be whole numbers"],
    ["{", "must be a JSON object"],
  ])("RATE_LIMIT_SERVICES=%s is refused with the variable named", (value, message) => {
    expect(() => parseConfig({ RATE_LIMIT_SERVICES: value })).toThrow(new RegExp(`^RATE_LIMIT_SERVICES: ${message}`));
  });

  it("hands out one object per policy and configuration, so header fields are made once per policy", () => {
    expect(policyFor(config, "general", "banking")).toBe(policyFor(config, "general", "banking"));
    expect(policyFor(config, "health", null)).toBe(policyFor(config, "health", null));
    const reloaded = parseConfig({ RATE_LIMIT_GENERAL: "300", RATE_LIMIT_SERVICES: '{"banking":60}' });
    expect(policyFor(reloaded, "general", "banking")).toMatchObject({ limit: 60 });
    expect(rateLimitHeaders(policyFor(reloaded, "general", "banking"), { allowed: true, remaining: 1, resetMs: 1_000, retryAfterMs: 0 })["ratelimit-policy"]).toBe(
      '"general-banking";q=60;w=60',
    );
  });
});
