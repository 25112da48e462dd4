/**
 * The lifecycle hook is signed (security review finding 4): a restart through
 * the orchestrator reaches a demo fleet instance, which checks the signature
 * the way docs/architecture.md tells an instance to (demo/hook-signature.mjs) and acts
 * on it; the same instance refuses calls that are unsigned, signed with another
 * secret, too old, or whose body changed after signing. Clients cannot reach
 * the hook through the proxy at all.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FleetInstance, startFleet } from "../../demo/fleet.mjs";
import { hookSignatureHeaders } from "../../src/core/hook-signature";
import { freePort } from "../../scripts/lib/ports.mjs";
import { adminAuth, baseUrl, gateway, lifecycleHookSecret, putServiceSettings, registrationToken, uniqueService } from "./upstreams";

const HOOK_PATH = "/__lifecycle/restart";
const WRONG_SECRET = "not-the-orchestrators-secret-0123456789abcdef";

type Fleet = Awaited<ReturnType<typeof startFleet>>;

const fleets: Fleet[] = [];
const fleetLog: string[] = [];
let service: string;
let instance: FleetInstance;

async function startOne(name: string, hookSecret: string | undefined) {
  const fleet = await startFleet({
    orchestratorUrl: baseUrl(),
    token: registrationToken(),
    services: [name],
    instancesPerService: 1,
    hookSecret,
    log: (message) => fleetLog.push(message),
    basePort: await freePort(),
  });
  fleets.push(fleet);
  return fleet.instances[0] as FleetInstance;
}

/** A hook call straight at the instance, as anyone who can reach it could send one. */
async function postToInstance(target: FleetInstance, body: string, headers: Record<string, string>) {
  const response = await fetch(`${target.url}${HOOK_PATH}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await response.text();
  return { status: response.status, body: text === "" ? null : (JSON.parse(text) as { error?: string }) };
}

function hookBody() {
  return JSON.stringify({ action: "restart", service, instance: null, id: `e2e-${crypto.randomUUID()}`, at: new Date().toISOString() });
}

beforeAll(async () => {
  service = uniqueService("hook");
  instance = await startOne(service, lifecycleHookSecret());
});

afterAll(async () => {
  await Promise.all(fleets.map((fleet) => fleet.stop()));
});

describe("signed lifecycle hook", () => {
  it("a restart calls the instance's hook, which verifies the signature and answers 204", async () => {
    const configure = await putServiceSettings(service, { lifecycleHook: { url: instance.url } });
    expect(configure.status).toBe(200);
    expect(((await configure.json()) as { lifecycleHook: unknown }).lifecycleHook).toEqual({ kind: "url", url: `${instance.url}/` });

    const restart = await fetch(gateway(`/admin/workers/${service}/restart`), { method: "POST", headers: adminAuth() });
    expect(restart.status).toBe(200);
    expect(await restart.json()).toMatchObject({ action: "restart", service, adminState: "active", hook: { called: true, ok: true, status: 204 } });
    expect(fleetLog).toContain(`${instance.name}: restart requested by the orchestrator (signature verified)`);
  });

  it("the instance acts on a correctly signed call, and refuses unsigned, wrongly signed, stale and altered ones with 401", async () => {
    const body = hookBody();
    const good = await hookSignatureHeaders(lifecycleHookSecret(), Date.now(), "POST", HOOK_PATH, body);
    expect(await postToInstance(instance, body, good)).toEqual({ status: 204, body: null });

    const unsigned = await postToInstance(instance, body, {});
    expect(unsigned).toEqual({ status: 401, body: { error: "missing or malformed timestamp" } });

    const wrongSecret = await postToInstance(instance, body, await hookSignatureHeaders(WRONG_SECRET, Date.now(), "POST", HOOK_PATH, body));
    expect(wrongSecret).toEqual({ status: 401, body: { error: "signature does not match" } });

    const tenMinutesAgo = await hookSignatureHeaders(lifecycleHookSecret(), Date.now() - 10 * 60_000, "POST", HOOK_PATH, body);
    const stale = await postToInstance(instance, body, tenMinutesAgo);
    expect(stale.status).toBe(401);
    expect(stale.body?.error).toMatch(/timestamp/);

    const altered = await postToInstance(instance, body.replace(`"service":"${service}"`, '"service":"someone-else"'), good);
    expect(altered).toEqual({ status: 401, body: { error: "signature does not match" } });
  });

  it("an instance without a hook secret has no hook: 404", async () => {
    const bare = await startOne(uniqueService("nohook"), undefined);
    const body = hookBody();
    const signed = await hookSignatureHeaders(lifecycleHookSecret(), Date.now(), "POST", HOOK_PATH, body);
    expect((await postToInstance(bare, body, signed)).status).toBe(404);
  });

  it("clients cannot reach the hook through the proxy", async () => {
    const body = hookBody();
    const signed = await hookSignatureHeaders(lifecycleHookSecret(), Date.now(), "POST", HOOK_PATH, body);
    const before = fleetLog.length;
    const response = await fetch(gateway(`/${service}${HOOK_PATH}`), { method: "POST", headers: { "content-type": "application/json", ...signed }, body });
    expect(response.status).toBe(404);
    expect(fleetLog.slice(before).filter((line) => line.includes("restart requested"))).toEqual([]);
  });
});
