/**
 * Dynamic service discovery over HTTP: register, heartbeat, deregister, and
 * every way a registration can be refused. A refused request must leave the
 * registry exactly as it was.
 */
import { afterAll, describe, expect, it } from "vitest";
import {
  adminAuth,
  closedPortUrl,
  deregister,
  Fleet,
  gateway,
  heartbeat,
  readProblem,
  registerRaw,
  registryAuth,
  sendChunks,
  serviceView,
  snapshot,
  uniqueService,
} from "./upstreams";

const fleet = new Fleet();
afterAll(() => fleet.cleanup());

const PROBLEM = "urn:orchestrator:problem:";

/** What registration can change: services and their instances (not clocks or traffic counters). */
async function registryShape(): Promise<string[]> {
  const { services } = await snapshot();
  return services.flatMap((s) => [
    `service ${s.name} ${s.strategy} ${s.timeoutMs}`,
    ...s.instances.map((i) => `  ${s.name} ${i.id} ${JSON.stringify(i.target)} w${i.weight} ${JSON.stringify(i.metadata)}`),
  ]);
}

describe("lifecycle", () => {
  it("register → 201 {id, ttlSeconds, service} with Location, and the instance is listed", async () => {
    const service = uniqueService();
    const url = (await fleet.upstream()).url;
    const response = await registerRaw({ service, url, weight: 2, metadata: { region: "eu-1", build: "42" } });
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await response.json()) as { id: string; ttlSeconds: number; service: string };
    expect(body).toEqual({ id: expect.any(String), ttlSeconds: 30, service });
    expect(body.id.length).toBeGreaterThan(0);
    expect(response.headers.get("location")).toBe(`/registry/instances/${body.id}`);

    const view = await serviceView(service);
    expect(view?.seed).toBe(false);
    expect(view?.instances).toHaveLength(1);
    expect(view?.instances[0]).toMatchObject({
      id: body.id,
      service,
      target: { kind: "url", url: `${url}/` },
      weight: 2,
      checkStatus: "passing",
      health: "healthy",
      inflight: 0,
      ttlSeconds: 30,
      metadata: { region: "eu-1", build: "42" },
    });
    expect(await deregister(body.id)).toBe(200);
  });

  it("ttlSeconds given at registration is kept", async () => {
    const service = uniqueService();
    const { id, ttlSeconds } = await fleet.register(service, (await fleet.upstream()).url, { ttlSeconds: 120 });
    expect(ttlSeconds).toBe(120);
    expect((await serviceView(service))?.instances[0]?.id).toBe(id);
  });

  it("heartbeat → 200 without a body and with a load report {inflight, cpu}", async () => {
    const service = uniqueService();
    const { id } = await fleet.register(service, (await fleet.upstream()).url);

    const bare = await heartbeat(id);
    expect(bare.status).toBe(200);
    expect(await bare.json()).toEqual({ id, checkStatus: "passing", ttlSeconds: 30 });

    const reported = await heartbeat(id, { inflight: 3, cpu: 42.5 });
    expect(reported.status).toBe(200);
    expect(await reported.json()).toMatchObject({ id, checkStatus: "passing" });
    const instance = (await serviceView(service))?.instances[0];
    expect(instance).toMatchObject({ id, reportedInflight: 3, cpu: 42.5, checkStatus: "passing" });
    // The orchestrator's own in-flight count is not overwritten by the report.
    expect(instance?.inflight).toBe(0);
  });

  it("heartbeat with a bad report is 400 naming the field and changes nothing", async () => {
    const service = uniqueService();
    const { id } = await fleet.register(service, (await fleet.upstream()).url);
    for (const [body, field] of [
      [{ inflight: -1 }, "inflight"],
      [{ inflight: 1.5 }, "inflight"],
      [{ cpu: 101 }, "cpu"],
      [{ cpu: "high" }, "cpu"],
      [{ mood: "ok" }, "mood"],
    ] as const) {
      const response = await heartbeat(id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await readProblem(response)).field, JSON.stringify(body)).toBe(field);
    }
    expect((await serviceView(service))?.instances[0]).toMatchObject({ reportedInflight: null, cpu: null });
  });

  it("deregister → 200, then heartbeat and deregister → 404 unknown-instance", async () => {
    const service = uniqueService();
    const { id } = await fleet.register(service, (await fleet.upstream()).url);
    const deleted = await fetch(gateway(`/registry/instances/${id}`), { method: "DELETE", headers: registryAuth() });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ id, deregistered: true });
    expect(await serviceView(service)).toBeUndefined();

    const beat = await heartbeat(id);
    expect(beat.status).toBe(404);
    const problem = await readProblem(beat);
    expect(problem.type).toBe(`${PROBLEM}unknown-instance`);
    expect(problem.field).toBe("id");

    const again = await fetch(gateway(`/registry/instances/${id}`), { method: "DELETE", headers: registryAuth() });
    expect(again.status).toBe(404);
    expect((await readProblem(again)).type).toBe(`${PROBLEM}unknown-instance`);
  });

  it("the admin key is accepted wherever the registration token is", async () => {
    const service = uniqueService();
    const url = (await fleet.upstream()).url;
    const response = await registerRaw({ service, url }, adminAuth());
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const listed = await fetch(gateway("/registry/services"), { headers: adminAuth() });
    expect(listed.status).toBe(200);
    await listed.arrayBuffer();
    const deleted = await fetch(gateway(`/registry/instances/${id}`), { method: "DELETE", headers: adminAuth() });
    expect(deleted.status).toBe(200);
    await deleted.arrayBuffer();
  });

  it("duplicate registration → 409 with existingId; the first stays the only one", async () => {
    const service = uniqueService();
    const url = (await fleet.upstream()).url;
    const { id } = await fleet.register(service, url);
    const response = await registerRaw({ service, url });
    expect(response.status).toBe(409);
    const problem = await readProblem(response);
    expect(problem.type).toBe(`${PROBLEM}conflict`);
    expect(problem.existingId).toBe(id);
    expect((await serviceView(service))?.instances.map((i) => i.id)).toEqual([id]);
  });
});

describe("refused registrations leave the registry unchanged", () => {
  it("bad input → 400 problem+json naming the field", async () => {
    const service = uniqueService("bad");
    const url = (await fleet.upstream()).url;
    const before = await registryShape();

    // Checked at the edge (valibot): the problem lists every error.
    const cases: Array<[string, unknown, string]> = [
      ["wrong type: service", { service: 42, url }, "service"],
      ["wrong type: weight", { service, url, weight: "2" }, "weight"],
      ["wrong type: url", { service, url: 12345 }, "url"],
      ["wrong type: ttlSeconds", { service, url, ttlSeconds: "60" }, "ttlSeconds"],
      ["unknown field", { service, url, colour: "red" }, "colour"],
      ["metadata as an array (security review finding 8)", { service, url, metadata: [] }, "metadata"],
      ["metadata as an array of pairs", { service, url, metadata: [["zone", "a"]] }, "metadata"],
      ["missing service", { url }, "service"],
      ["both url and binding", { service, url, binding: "API" }, "url"],
      ["neither url nor binding", { service }, "url"],
      ["invalid URL", { service, url: "not a url" }, "url"],
      ["relative URL", { service, url: "/just/a/path" }, "url"],
      ["ftp:// URL", { service, url: "ftp://127.0.0.1/files" }, "url"],
      ["URL with credentials", { service, url: "http://user:secret@127.0.0.1:8080" }, "url"],
      ["URL with a query", { service, url: `${url}/?token=x` }, "url"],
      ["weight 0", { service, url, weight: 0 }, "weight"],
      ["weight 1.5", { service, url, weight: 1.5 }, "weight"],
      ["weight 1001", { service, url, weight: 1001 }, "weight"],
      ["reserved service name admin", { service: "admin", url }, "service"],
      ["reserved service name registry", { service: "registry", url }, "service"],
      ["upper-case service name", { service: "Bad-Name", url }, "service"],
      ["ttlSeconds below 5", { service, url, ttlSeconds: 4 }, "ttlSeconds"],
      ["metadata value not a string", { service, url, metadata: { replicas: 3 } }, "metadata"],
      ["metadata not an object", { service, url, metadata: "region=eu" }, "metadata"],
    ];
    for (const [label, body, field] of cases) {
      const response = await registerRaw(body);
      expect(response.status, label).toBe(400);
      const problem = await readProblem(response);
      expect(problem.type, label).toBe(`${PROBLEM}validation`);
      // metadata problems name the offending entry (metadata.replicas).
      expect(problem.field === field || problem.field?.startsWith(`${field}.`), `${label}: field ${problem.field}`).toBe(true);
      expect(Array.isArray(problem.errors), label).toBe(true);
    }
    // Checked by the registry itself: a binding this orchestrator does not have.
    const binding = await registerRaw({ service, binding: "NO_SUCH_BINDING" });
    expect(binding.status).toBe(400);
    const bindingProblem = await readProblem(binding);
    expect(bindingProblem.type).toBe(`${PROBLEM}validation`);
    expect(bindingProblem.field).toBe("binding");

    expect(await registryShape()).toEqual(before);
    expect(await serviceView(service)).toBeUndefined();
  });

  it("malformed JSON, an empty body and invalid UTF-8 → 400 malformed-json", async () => {
    const service = uniqueService("bad");
    const before = await registryShape();
    for (const body of [`{"service": "${service}", "url": `, "", "   ", "{'single': 'quotes'}"]) {
      const response = await registerRaw(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = await readProblem(response);
      expect(problem.type).toBe(`${PROBLEM}malformed-json`);
      expect(problem.field).toBe("(body)");
    }
    const invalidUtf8 = await fetch(gateway("/registry/instances"), {
      method: "POST",
      headers: { "content-type": "application/json", ...registryAuth() },
      body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    });
    expect(invalidUtf8.status).toBe(400);
    expect((await readProblem(invalidUtf8)).type).toBe(`${PROBLEM}malformed-json`);
    expect(await registryShape()).toEqual(before);
  });

  it("a content type other than JSON → 415", async () => {
    const service = uniqueService("bad");
    const url = (await fleet.upstream()).url;
    const before = await registryShape();
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const response = await registerRaw(JSON.stringify({ service, url }), { "content-type": contentType });
      expect(response.status, contentType).toBe(415);
      expect((await readProblem(response)).type).toBe(`${PROBLEM}unsupported-media-type`);
    }
    const none = await fetch(gateway("/registry/instances"), { method: "POST", headers: registryAuth(), body: new Blob([JSON.stringify({ service, url })]) });
    expect(none.status).toBe(415);
    await readProblem(none);
    // application/json with parameters and +json types are JSON.
    const withCharset = await registerRaw({ service, url }, { "content-type": "application/json; charset=utf-8" });
    expect(withCharset.status).toBe(201);
    const { id } = (await withCharset.json()) as { id: string };
    expect(await deregister(id)).toBe(200);
    expect(await registryShape()).toEqual(before);
  });

  it("a body over the limit (100 KB, Content-Length declared) → 413", async () => {
    const service = uniqueService("big");
    const url = (await fleet.upstream()).url;
    const before = await registryShape();
    const bytes = new TextEncoder().encode(JSON.stringify({ service, url, metadata: { pad: "x".repeat(100 * 1024) } }));
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.length; offset += 8 * 1024) chunks.push(bytes.subarray(offset, offset + 8 * 1024));
    const response = await sendChunks("/registry/instances", {
      headers: { "content-type": "application/json", "content-length": String(bytes.length), ...registryAuth() },
      chunks,
    });
    expect(response.status).toBe(413);
    const problem = await readProblem(response);
    expect(problem.type).toBe(`${PROBLEM}payload-too-large`);
    expect(problem.maxBytes).toBe(16_384);
    expect(await registryShape()).toEqual(before);
    expect(await serviceView(service)).toBeUndefined();
    // Not exercised here: the same body sent chunked (no Content-Length). The
    // orchestrator answers 413 after counting 16 KiB, but wrangler dev 4.86's
    // proxy then stalls the next request on that connection (a minimal Worker
    // doing the same crashes wrangler dev outright). See the e2e report.
  });

  it("no token, a wrong token, the lower-case bearer scheme or another scheme → 401 with WWW-Authenticate", async () => {
    const service = uniqueService("anon");
    const url = (await fleet.upstream()).url;
    const before = await registryShape();
    const token = registryAuth().authorization.slice("Bearer ".length);
    const variants: Array<[string, Record<string, string>]> = [
      ["no token", {}],
      ["wrong token", { authorization: "Bearer not-the-token" }],
      ["lower-case scheme", { authorization: `bearer ${token}` }],
      ["upper-case scheme", { authorization: `BEARER ${token}` }],
      ["token with a suffix", { authorization: `Bearer ${token}x` }],
      ["basic scheme", { authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` }],
      ["empty bearer", { authorization: "Bearer " }],
    ];
    for (const [label, auth] of variants) {
      const response = await fetch(gateway("/registry/instances"), {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify({ service, url }),
      });
      expect(response.status, label).toBe(401);
      expect(response.headers.get("www-authenticate"), label).toMatch(/^Bearer /);
      expect((await readProblem(response)).type, label).toBe(`${PROBLEM}unauthorized`);
    }
    expect(await registryShape()).toEqual(before);
  });

  it("heartbeat and deregister need the token too", async () => {
    const service = uniqueService();
    const { id } = await fleet.register(service, (await fleet.upstream()).url);
    const beat = await fetch(gateway(`/registry/instances/${id}/heartbeat`), { method: "PUT" });
    expect(beat.status).toBe(401);
    await readProblem(beat);
    const del = await fetch(gateway(`/registry/instances/${id}`), { method: "DELETE", headers: { authorization: "Bearer nope" } });
    expect(del.status).toBe(401);
    await readProblem(del);
    expect((await serviceView(service))?.instances.map((i) => i.id)).toEqual([id]);
  });
});

describe("GET /registry/services", () => {
  it("requires the token", async () => {
    const variants: Array<Record<string, string>> = [{}, { authorization: "Bearer wrong" }, { authorization: `bearer ${registryAuth().authorization.slice(7)}` }];
    for (const headers of variants) {
      const response = await fetch(gateway("/registry/services"), { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
      await readProblem(response);
    }
  });

  it("lists registered instances, and the seed services", async () => {
    const service = uniqueService();
    const refused = await closedPortUrl();
    const { id } = await fleet.register(service, refused);
    const response = await fetch(gateway("/registry/services"), { headers: registryAuth() });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as Awaited<ReturnType<typeof snapshot>>;
    expect(typeof body.generatedAt).toBe("string");
    const names = body.services.map((s) => s.name);
    for (const seed of ["main-bot", "api", "banking", "security", "frontend", "analytics"]) expect(names).toContain(seed);
    const listed = body.services.find((s) => s.name === service);
    expect(listed?.instances).toEqual([expect.objectContaining({ id, target: { kind: "url", url: `${refused}/` } })]);
  });
});
