/**
 * What a decision changed that storage must learn, in the order it happened
 * (a removal frees a target that a later write may take again). RegistryDO
 * hands the list to its store (durable-objects/registry/store.ts), which has
 * one statement per kind. Each write names a record, not values: the store
 * writes the record as it is once the decision is over.
 *
 * Most kinds update a few columns, not the row: what is not written here is
 * deliberately not persisted (an outlier's running failure count, for one).
 */
import type { Release } from "../release/release";
import type { InstanceRecord, ServiceRecord } from "./records";

export type RegistryWrite =
  /** The whole service row (created, or settings changed). */
  | { readonly kind: "service"; readonly service: ServiceRecord }
  /** The service's balancer state (rotation cursor, smooth-weighted counters). */
  | { readonly kind: "balancer"; readonly service: ServiceRecord }
  | { readonly kind: "service-removed"; readonly name: string }
  /** The whole instance row (created, admin state, health reset, re-weighted by configuration). */
  | { readonly kind: "instance"; readonly instance: InstanceRecord }
  /** Its instance row and every lease on it. */
  | { readonly kind: "instance-removed"; readonly id: string }
  /** TTL check passing again, and what the instance reported. */
  | { readonly kind: "heartbeat"; readonly instance: InstanceRecord }
  /** TTL check gone critical. */
  | { readonly kind: "critical"; readonly instance: InstanceRecord }
  | { readonly kind: "weight"; readonly instance: InstanceRecord }
  /** Passive outlier detection's ejection state. */
  | { readonly kind: "outlier"; readonly instance: InstanceRecord }
  /** Active-check state, outlier state and slow start, after a health sweep. */
  | { readonly kind: "health-checks"; readonly instance: InstanceRecord }
  /** A release, whole (started, or a transition); the store keeps each service's newest few. */
  | { readonly kind: "release"; readonly release: Release };

/** Shared by the hot paths when nothing needs writing, so they allocate nothing. */
export const NO_WRITES: readonly RegistryWrite[] = Object.freeze([]);
