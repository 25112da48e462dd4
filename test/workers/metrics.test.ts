/**
 * Metrics end to end inside the Workers runtime: real proxied traffic to a
 * loopback upstream, batched into MetricsDO, read back as JSON and as
 * Prometheus text (parsed and checked like a scraper would).
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { registryStub } from "../../src/platform/stubs";
import { sleep } from "./helpers";

const port = inject("upstreamPort");
let nextIp = 1;
const ip = () => `198.18.40.${nextIp++ % 250}`;

async function control(name: string, mode: string) {
  await fetch(`http://127.0.0.1:${port}/control/${name}?mode=${mode}`);
}

async function get(path: string, headers: Record<string, string> = {}) {
  return SELF.fetch(`https://orchestrator.test${path}`, { headers: { "cf-connecting-ip": ip(), ...headers } });
}

interface Family {
  type: string;
  help: boolean;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** A strict-enough reader of the text exposition format 0.0.4. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string) => {
    for (const suffix of ["_bucket", "_sum", "_count", ""]) {
      const base = suffix && sample.endsWith(suffix) ? sample.slice(0, -suffix.length) : sample;
      const family = families.get(base);
      if (family && (suffix === "" || family.type === "histogram")) return family;
    }
    return undefined;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$/.exec(line);
    if (help) {
      const name = help[1] as string;
      families.set(name, { ...(families.get(name) ?? { type: "untyped", samples: [] }), help: true });
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      const name = type[1] as string;
      families.set(name, { ...(families.get(name) ?? { help: false, samples: [] }), type: type[2] as string });
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    expect(sample, `unparseable line: ${line}`).not.toBeNull();
    const [, name, , rawLabels] = sample as RegExpExecArray;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (rawLabels ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key as string] = value as string;
    const family = familyOf(name as string);
    expect(family, `sample ${name} has no declared family`).toBeDefined();
    family?.samples.push({ name: name as string, labels, value: Number((sample as RegExpExecArray)[4]) });
  }
  return families;
}

describe("metrics", () => {
  it("counts proxied requests per service and instance, with error rate, percentiles and the seed's JSON shape", async () => {
    const name = `m-${crypto.randomUUID().slice(0, 6)}`;
    const service = `met-${crypto.randomUUID().slice(0, 8)}`;
    await control(name, "ok");
    const registered = await registryStub(env).register({ service, target: { kind: "url", url: `http://127.0.0.1:${port}/i/${name}` }, weight: 1, metadata: {}, ttlSeconds: 3600 });
    expect(registered.ok).toBe(true);
    for (let i = 0; i < 8; i++) await (await get(`/${service}/ok`)).arrayBuffer();
    await control(name, "error");
    for (let i = 0; i < 2; i++) await (await get(`/${service}/fail`)).arrayBuffer();
    await sleep(400); // the edge flushes its batch after METRICS_FLUSH_INTERVAL_MS (100 ms in the pool)

    const response = await get("/metrics");
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      timestamp: string;
      global: { totalRequests: number; errorRate: number; avgResponseTime: number | null };
      workers: Record<string, { totalRequests: number; errorRate: number; p50: number | null; p99: number | null; errors: Record<string, number>; instances: Record<string, { totalRequests: number }> }>;
    };
    expect(Date.parse(body.timestamp)).not.toBeNaN();
    expect(body.global.totalRequests).toBeGreaterThanOrEqual(10);
    const worker = body.workers[service];
    expect(worker?.totalRequests).toBe(10);
    expect(worker?.errorRate).toBeCloseTo(20, 5);
    expect(worker?.errors["5xx"]).toBe(2);
    expect(worker?.p50).not.toBeNull();
    expect(worker?.instances[registered.ok ? registered.id : ""]?.totalRequests).toBe(10);

    const detail = await get(`/metrics/worker/${service}`);
    expect(detail.status).toBe(200);
    expect(Object.keys(((await detail.json()) as { workers: object }).workers)).toEqual([service]);
    const unknown = await get("/metrics/worker/no-such-service");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toBe("application/problem+json");
  });

  it("serves a Prometheus exposition a scraper accepts: families declared, counters _total, histogram cumulative, +Inf = _count", async () => {
    for (const request of [get("/metrics?format=prometheus"), get("/metrics", { accept: "text/plain" })]) {
      const response = await request;
      expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const families = parsePrometheus(await response.text());
      expect(families.size).toBeGreaterThan(0);
      for (const [name, family] of families) {
        expect(family.help, `${name} has HELP`).toBe(true);
        if (family.type === "counter") expect(name.endsWith("_total")).toBe(true);
        if (family.type !== "histogram") continue;
        const series = new Map<string, { le: number; value: number }[]>();
        const counts = new Map<string, number>();
        for (const sample of family.samples) {
          const { le, ...rest } = sample.labels;
          const key = JSON.stringify(rest);
          if (sample.name.endsWith("_bucket")) series.set(key, [...(series.get(key) ?? []), { le: le === "+Inf" ? Infinity : Number(le), value: sample.value }]);
          if (sample.name.endsWith("_count")) counts.set(key, sample.value);
        }
        for (const [key, buckets] of series) {
          const sorted = [...buckets].sort((a, b) => a.le - b.le);
          for (let i = 1; i < sorted.length; i++) expect((sorted[i] as { value: number }).value).toBeGreaterThanOrEqual((sorted[i - 1] as { value: number }).value);
          expect(sorted.at(-1)?.le).toBe(Infinity);
          expect(sorted.at(-1)?.value).toBe(counts.get(key));
        }
      }
    }
    expect((await get("/metrics?format=xml")).status).toBe(400);
  });
});
