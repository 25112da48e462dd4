/**
 * Why the registry said no, as plain values. Core may not build the API's
 * problem documents (they live in src/contracts), so RegistryDO turns each
 * refusal into its Failure in one place: durable-objects/registry/failures.ts.
 */
import type { Target } from "./records";

export type Refusal =
  /** A field of the request is not acceptable; `detail` says which and why. */
  | { readonly ok: false; readonly reason: "invalid"; readonly field: string; readonly detail: string }
  | { readonly ok: false; readonly reason: "already-registered"; readonly kind: Target["kind"]; readonly service: string; readonly existingId: string }
  /** `field`: the request field that named the new service. */
  | { readonly ok: false; readonly reason: "too-many-services"; readonly field: "service" | "name" }
  | { readonly ok: false; readonly reason: "too-many-instances" }
  /** Instances declared in configuration are removed by changing the configuration. */
  | { readonly ok: false; readonly reason: "static-instance" }
  | { readonly ok: false; readonly reason: "unknown-instance"; readonly id: string }
  /** A registration token scoped to other services; the instance's service is not named to it. */
  | { readonly ok: false; readonly reason: "out-of-token-scope" }
  /**
   * `field`: the request field that named it (admin calls); null on the proxy
   * path, whose problems name the service in a `service` member instead.
   */
  | { readonly ok: false; readonly reason: "unknown-service"; readonly service: string; readonly field: "name" | null }
  | { readonly ok: false; readonly reason: "service-stopped"; readonly service: string }
  | { readonly ok: false; readonly reason: "retry-budget-exhausted"; readonly service: string }
  | { readonly ok: false; readonly reason: "no-instance-in-rotation"; readonly service: string }
  | { readonly ok: false; readonly reason: "unknown-release"; readonly service: string; readonly id: string }
  /** A release cannot start (one is active; no canary or no stable instance), or an action does not apply to its state. */
  | { readonly ok: false; readonly reason: "release-conflict"; readonly field: string | null; readonly detail: string };

export type InvalidField = Extract<Refusal, { reason: "invalid" }>;

export function invalidField(field: string, detail: string): InvalidField {
  return { ok: false, reason: "invalid", field, detail };
}

export function unknownInstance(id: string): Refusal {
  return { ok: false, reason: "unknown-instance", id };
}
