import { describe, expect, it } from "vitest";
import { type MetricsState, applyBatch, createMetricsState } from "../../src/core/metrics/aggregate";
import { DURATION_BUCKETS_MS, PROMETHEUS_CONTENT_TYPE, SOCKET_DURATION_BUCKETS_MS, escapeLabelValue, prometheusText } from "../../src/core/metrics/prometheus";
import { type OutcomeRecord, type SocketRecord, type StatusClass, aggregateBatch } from "../../src/core/metrics/record";
import type { MetricsExtras } from "../../src/core/metrics/view";

/*
 * A small parser for text format 0.0.4, strict enough to catch what Prometheus
 * would reject or misread: unknown or undeclared families, HELP/TYPE given
 * twice or after samples, a family's samples split up, bad names, bad escapes.
 */
interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}
interface Family {
  help?: string;
  type?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${name}`);
    if (text[eq + 1] !== '"') throw new Error("label value must be quoted");
    let value = "";
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error("unterminated label value");
      if (c === '"') break;
      if (c === "\n") throw new Error("raw newline in label value");
      if (c === "\\") {
        const n = text[j + 1];
        if (n === "\\") value += "\\";
        else if (n === '"') value += '"';
        else if (n === "n") value += "\n";
        else throw new Error(`bad escape \\${String(n)}`);
        j += 2;
      } else {
        value += c;
        j += 1;
      }
    }
    if (Object.hasOwn(labels, name)) throw new Error(`duplicate label ${name}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i += 1;
    else if (i < text.length) throw new Error(`expected , at ${i}`);
  }
  return labels;
}

function familyOf(sampleName: string, families: Map<string, Family>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = sampleName.slice(0, -suffix.length);
    if (sampleName.endsWith(suffix) && families.get(base)?.type === "histogram") return base;
  }
  return sampleName;
}

function parse(text: string): Map<string, Family> {
  expect(text.endsWith("\n")).toBe(true);
  const families = new Map<string, Family>();
  let current: string | null = null;
  const closed = new Set<string>();
  const open = (name: string) => {
    if (current !== name) {
      if (current !== null) closed.add(current);
      if (closed.has(name)) throw new Error(`family ${name} is split`);
      current = name;
    }
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { samples: [] }));
    return f;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name = "", rest = ""] = meta;
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${name}`);
      const f = open(name);
      if (f.samples.length > 0) throw new Error(`${kind} after samples for ${name}`);
      if (kind === "HELP") {
        if (f.help !== undefined) throw new Error(`second HELP for ${name}`);
        f.help = rest;
      } else {
        if (f.type !== undefined) throw new Error(`second TYPE for ${name}`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) throw new Error(`bad type ${rest}`);
        f.type = rest;
      }
      continue;
    }
    if (line.startsWith("#") || line === "") throw new Error(`unexpected line ${JSON.stringify(line)}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const [, name = "", labelText = "", raw = ""] = m;
    const value = raw === "+Inf" ? Number.POSITIVE_INFINITY : raw === "-Inf" ? Number.NEGATIVE_INFINITY : Number(raw);
    if (raw !== "NaN" && Number.isNaN(value)) throw new Error(`bad value ${raw}`);
    const familyName = familyOf(name, families);
    const f = families.get(familyName);
    if (f?.help === undefined || f.type === undefined) throw new Error(`sample ${name} has no declared family`);
    open(familyName).samples.push({ name, labels: parseLabels(labelText), value });
  }
  return families;
}

function family(families: Map<string, Family>, name: string): Family {
  const f = families.get(name);
  if (f === undefined) throw new Error(`missing family ${name}`);
  return f;
}

const NOW = Date.UTC(2024, 0, 15, 10, 30, 0);

function records(service: string, instance: string, durations: readonly number[], statusClass: StatusClass = "2xx"): OutcomeRecord[] {
  return durations.map((durationMs) => ({ service, instance, statusClass, durationMs, bytes: 100, at: NOW }));
}

function state(): MetricsState {
  return applyBatch(
    createMetricsState(),
    aggregateBatch([
      ...records("api", "api-1", [3, 7, 20, 80, 300, 2000, 12000]),
      ...records("api", "api-1", [40, 40], "5xx"),
      ...records("api", 'we"ird\\id\nx', [1]),
      ...records("banking", "bank-1", [0, 4000], "gateway"),
    ]),
    NOW,
  );
}

const EXTRAS: MetricsExtras = {
  api: { instances: { "api-1": { health: "healthy", inflight: 2 }, 'we"ird\\id\nx': { health: "unhealthy", inflight: 0 } } },
  banking: { instances: { "bank-1": { health: "degraded" } } },
};

describe("prometheus exposition", () => {
  const text = prometheusText(state(), EXTRAS);
  // Parsed inside each test, so a malformed exposition fails tests rather than collection.
  let cached: Map<string, Family> | undefined;
  const parsed = () => (cached ??= parse(text));

  it("parses as valid text format 0.0.4", () => {
    expect(() => parse(text)).not.toThrow();
  });

  it("uses the 0.0.4 content type", () => {
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("declares every family once with HELP and TYPE; counters end in _total", () => {
    expect([...parsed().keys()]).toEqual([
      "orchestrator_requests_total",
      "orchestrator_gateway_errors_total",
      "orchestrator_response_bytes_total",
      "orchestrator_request_duration_seconds",
      "orchestrator_inflight_requests",
      "orchestrator_instance_up",
      "orchestrator_websocket_connections_open",
      "orchestrator_websocket_connections_opened_total",
      "orchestrator_websocket_connections_closed_total",
      "orchestrator_websocket_connection_duration_seconds",
    ]);
    for (const [name, f] of parsed()) {
      expect(f.help?.length).toBeGreaterThan(0);
      if (f.type === "counter") expect(name.endsWith("_total")).toBe(true);
      if (f.type !== "histogram") for (const s of f.samples) expect(s.name).toBe(name);
    }
  });

  it("counts requests per class", () => {
    const req = family(parsed(), "orchestrator_requests_total").samples;
    const get = (instance: string, cls: string) => req.find((s) => s.labels.instance === instance && s.labels.class === cls)?.value;
    expect(get("api-1", "2xx")).toBe(7);
    expect(get("api-1", "5xx")).toBe(2);
    expect(get("bank-1", "gateway")).toBe(2);
    expect(get("bank-1", "4xx")).toBe(0);
  });

  it("histogram buckets are cumulative, monotone, end in +Inf = _count, and _sum is in seconds", () => {
    const h = family(parsed(), "orchestrator_request_duration_seconds");
    expect(h.type).toBe("histogram");
    const series = new Map<string, Sample[]>();
    for (const s of h.samples) {
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    expect(series.size).toBe(3);
    for (const samples of series.values()) {
      const buckets = samples.filter((s) => s.name.endsWith("_bucket"));
      const les = buckets.map((s) => s.labels.le);
      expect(les).toEqual([...DURATION_BUCKETS_MS.map((ms) => String(ms / 1000)), "+Inf"]);
      expect(les.slice(0, -1).map(Number)).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]?.value).toBeGreaterThanOrEqual(buckets[i - 1]?.value ?? 0);
      const count = samples.find((s) => s.name.endsWith("_count"))?.value;
      expect(buckets.at(-1)?.value).toBe(count);
      expect(samples.find((s) => s.name.endsWith("_sum"))).toBeDefined();
    }
    const api1 = h.samples.filter((s) => s.labels.instance === "api-1");
    const bucket = (le: string) => api1.find((s) => s.name.endsWith("_bucket") && s.labels.le === le)?.value;
    expect(bucket("0.005")).toBe(1); // 3 ms
    expect(bucket("0.01")).toBe(2); // + 7 ms
    expect(bucket("0.05")).toBe(5); // + 20, 40, 40
    expect(bucket("10")).toBe(8); // all but 12 s
    expect(bucket("+Inf")).toBe(9);
    const sum = api1.find((s) => s.name.endsWith("_sum"))?.value;
    expect(sum).toBeCloseTo((3 + 7 + 20 + 80 + 300 + 2000 + 12000 + 80) / 1000, 9);
  });

  it("gauges come from extras: inflight, and up = 0 only when unhealthy", () => {
    const up = family(parsed(), "orchestrator_instance_up").samples;
    expect(up.map((s) => [s.labels.instance, s.value])).toEqual([
      ["api-1", 1],
      ['we"ird\\id\nx', 0],
      ["bank-1", 1],
    ]);
    const inflight = family(parsed(), "orchestrator_inflight_requests").samples;
    expect(inflight.map((s) => s.value)).toEqual([2, 0]);
  });

  it("escapes backslash, double quote and newline in label values", () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(text).toContain('instance="we\\"ird\\\\id\\nx"');
    const weird = family(parsed(), "orchestrator_requests_total").samples.filter((s) => s.labels.instance === 'we"ird\\id\nx');
    expect(weird).toHaveLength(5);
    expect(text.split("\n").every((line) => !line.includes("\r"))).toBe(true);
  });

  it("an empty state still declares its families", () => {
    const empty = parse(prometheusText(createMetricsState()));
    expect(empty.size).toBe(10);
    for (const f of empty.values()) expect(f.samples).toHaveLength(0);
  });
});

describe("prometheus exposition of WebSocket connections", () => {
  const HOUR = 3_600_000;
  const socketEvents: SocketRecord[] = [
    ...Array.from({ length: 5 }, () => ({ kind: "opened" as const, service: "chat", instance: "c-1", at: NOW })),
    ...[2_000, 40_000, 1.5 * HOUR].map((durationMs) => ({ kind: "closed" as const, service: "chat", instance: "c-1", at: NOW, durationMs, closeCode: 1000 })),
    { kind: "closed", service: "chat", instance: "c-1", at: NOW, durationMs: 600, closeCode: 1011 },
    { kind: "closed", service: "chat", instance: "c-1", at: NOW, durationMs: 30 * HOUR, closeCode: null },
  ];
  const socketState = applyBatch(createMetricsState(), aggregateBatch([...records("chat", "c-1", [5]), ...records("api", "api-1", [10])], socketEvents), NOW);
  const socketExtras: MetricsExtras = {
    chat: { instances: { "c-1": { health: "healthy", inflight: 2, websockets: 2 }, "c-2": { health: "healthy", inflight: 0, websockets: 0 } } },
    api: { instances: { "api-1": { health: "healthy", inflight: 0 } } },
  };
  const parsed = parse(prometheusText(socketState, socketExtras));

  it("exports the open gauge from the registry's count, for every instance it has one for", () => {
    const open = family(parsed, "orchestrator_websocket_connections_open");
    expect(open.type).toBe("gauge");
    expect(open.samples.map((s) => [s.labels.service, s.labels.instance, s.value])).toEqual([
      ["chat", "c-1", 2],
      ["chat", "c-2", 0],
    ]);
  });

  it("counts opened and closed (by a bounded class label) for instances that had connections only", () => {
    const openedTotal = family(parsed, "orchestrator_websocket_connections_opened_total");
    expect(openedTotal.type).toBe("counter");
    expect(openedTotal.samples).toEqual([{ name: "orchestrator_websocket_connections_opened_total", labels: { service: "chat", instance: "c-1" }, value: 5 }]);
    const closedTotal = family(parsed, "orchestrator_websocket_connections_closed_total");
    expect(closedTotal.type).toBe("counter");
    expect(closedTotal.samples.map((s) => [s.labels.instance, s.labels.class, s.value])).toEqual([
      ["c-1", "normal", 3],
      ["c-1", "error", 1],
      ["c-1", "abnormal", 1],
      ["c-1", "other", 0],
    ]);
  });

  it("exports connection durations as a histogram in seconds, apart from request durations", () => {
    const h = family(parsed, "orchestrator_websocket_connection_duration_seconds");
    expect(h.type).toBe("histogram");
    const bucket = (le: string) => h.samples.find((s) => s.name.endsWith("_bucket") && s.labels.le === le)?.value;
    const les = h.samples.filter((s) => s.name.endsWith("_bucket")).map((s) => s.labels.le);
    expect(les).toEqual([...SOCKET_DURATION_BUCKETS_MS.map((ms) => String(ms / 1000)), "+Inf"]);
    expect(les.slice(0, -1).map(Number)).toEqual([1, 5, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400]);
    expect(bucket("1")).toBe(1); // 600 ms
    expect(bucket("5")).toBe(2); // + 2 s
    expect(bucket("60")).toBe(3); // + 40 s
    expect(bucket("3600")).toBe(3);
    expect(bucket("7200")).toBe(4); // + 1.5 h
    expect(bucket("86400")).toBe(4);
    expect(bucket("+Inf")).toBe(5); // + 30 h
    expect(h.samples.find((s) => s.name.endsWith("_count"))?.value).toBe(5);
    expect(h.samples.find((s) => s.name.endsWith("_sum"))?.value).toBeCloseTo((2_000 + 40_000 + 1.5 * HOUR + 600 + 30 * HOUR) / 1000, 6);
    // The request histogram still holds only the one 5 ms request of chat.
    const requestCount = family(parsed, "orchestrator_request_duration_seconds").samples.find((s) => s.name.endsWith("_count") && s.labels.service === "chat");
    expect(requestCount?.value).toBe(1);
  });

  it("escapes connection series labels like every other", () => {
    const weird = 'w"s\\id\nx';
    const text = prometheusText(applyBatch(createMetricsState(), aggregateBatch([], [{ kind: "opened", service: "chat", instance: weird, at: NOW }]), NOW), {
      chat: { instances: { [weird]: { websockets: 1 } } },
    });
    expect(text).toContain(`orchestrator_websocket_connections_opened_total{service="chat",instance="${escapeLabelValue(weird)}"} 1`);
    expect(family(parse(text), "orchestrator_websocket_connections_open").samples[0]?.labels.instance).toBe(weird);
  });
});
