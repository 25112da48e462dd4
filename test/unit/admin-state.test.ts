/**
 * Operator stop and start (src/core/registry/admin-state.ts): a service-level
 * start puts the whole service back, instances stopped one by one included
 * (issue #19), and says what it started for the audit log.
 */
import { describe, expect, it } from "vitest";
import { changeAdminState, lifecycleTarget, type LifecycleTarget } from "../../src/core/registry/admin-state";
import { newInstanceRecord, newServiceRecord } from "../../src/core/registry/records";
import { emptyRegistry, indexInstance, type RegistryState } from "../../src/core/registry/state";

function fleet(ids: readonly string[], standby: readonly string[] = []): RegistryState {
  const state = emptyRegistry();
  state.services.set("api", newServiceRecord("api", false, 0));
  ids.forEach((id, seq) => {
    const instance = newInstanceRecord(
      { id, service: "api", target: { kind: "url", url: `http://127.0.0.1:${9101 + seq}/` }, weight: 1, isStatic: false, ttlSeconds: 30, lastHeartbeat: 0, metadata: {}, standby: standby.includes(id) },
      seq + 1,
      0,
    );
    indexInstance(state, instance);
  });
  return state;
}

function target(state: RegistryState, instance: string | null = null): LifecycleTarget {
  const found = lifecycleTarget(state, "api", instance);
  if (!found.ok) throw new Error(JSON.stringify(found));
  return found;
}

const adminStates = (state: RegistryState) => Object.fromEntries([...state.instances.values()].map((i) => [i.id, i.adminState]));

describe("changeAdminState", () => {
  it("a service start after each instance was stopped one by one starts them all, and says so", () => {
    const state = fleet(["a", "b"]);
    expect(changeAdminState(state, target(state, "a"), "stopped", 1_000).changed).toBe(true);
    expect(changeAdminState(state, target(state, "b"), "stopped", 1_000).changed).toBe(true);
    expect(state.services.get("api")?.adminState).toBe("active");

    const started = changeAdminState(state, target(state), "active", 5_000);
    expect(started.changed).toBe(true);
    expect(started.detail).toBe("started 2 instances stopped one by one: a, b");
    expect(adminStates(state)).toEqual({ a: "active", b: "active" });
    // Back in rotation from now: slow start begins again for each.
    expect([...state.instances.values()].map((i) => i.inRotationSince)).toEqual([5_000, 5_000]);
    expect(started.writes.map((w) => w.kind).sort()).toEqual(["instance", "instance", "service"]);
  });

  it("a stopped service with one instance also stopped: both come back, and the detail names both", () => {
    const state = fleet(["a", "b"]);
    changeAdminState(state, target(state, "a"), "stopped", 1_000);
    changeAdminState(state, target(state), "stopped", 2_000);
    const started = changeAdminState(state, target(state), "active", 3_000);
    expect(started.changed).toBe(true);
    expect(started.detail).toBe("started the service and 1 instance stopped one by one: a");
    expect(state.services.get("api")?.adminState).toBe("active");
    expect(adminStates(state)).toEqual({ a: "active", b: "active" });
  });

  it("a service start leaves standby instances to the autoscaler and keeps the ramp of those already in rotation", () => {
    const state = fleet(["a", "b", "spare"], ["spare"]);
    changeAdminState(state, target(state, "a"), "stopped", 1_000);
    const started = changeAdminState(state, target(state), "active", 4_000);
    expect(started.detail).toBe("started 1 instance stopped one by one: a");
    expect(adminStates(state)).toEqual({ a: "active", b: "active", spare: "standby" });
    expect(state.instances.get("b")?.inRotationSince).toBe(0);
  });

  it("a service start with nothing stopped changes nothing", () => {
    const state = fleet(["a", "b"]);
    const started = changeAdminState(state, target(state), "active", 4_000);
    expect(started).toEqual({ changed: false, writes: [], detail: "nothing was stopped" });
  });

  it("a service stop leaves the instances' own states alone; instance actions are unchanged", () => {
    const state = fleet(["a", "b"]);
    const stopped = changeAdminState(state, target(state), "stopped", 1_000);
    expect(stopped).toMatchObject({ changed: true, detail: null });
    expect(adminStates(state)).toEqual({ a: "active", b: "active" });
    expect(changeAdminState(state, target(state), "stopped", 1_000).changed).toBe(false);
    expect(changeAdminState(state, target(state, "a"), "active", 1_000)).toEqual({ changed: false, writes: [], detail: null });
  });
});
