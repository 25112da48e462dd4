/**
 * Instances declared in configuration (the seed services' bindings and
 * STATIC_INSTANCES) are brought in line with the configuration every time the
 * registry starts: added, re-weighted or re-versioned, or removed when gone.
 * The seed services always exist. A declared instance's version comes from
 * its STATIC_INSTANCES entry, or for a seed binding from SEED_VERSIONS.
 */
import { isValidVersion } from "../release/version";
import { bindingNameForService, isValidServiceName } from "../services";
import type { Target } from "./records";
import { sameTarget } from "./records";
import { addInstance, ensureService, removeInstance } from "./registration";
import { instancesOf, type RegistryState } from "./state";
import { type TargetPolicy, targetRefusal } from "./target-policy";
import type { RegistryWrite } from "./writes";

/** One STATIC_INSTANCES entry (src/config.ts checks its shape). */
export interface DeclaredInstance {
  readonly service: string;
  readonly url?: string | undefined;
  readonly binding?: string | undefined;
  readonly weight?: number | undefined;
  readonly version?: string | undefined;
}

export interface Declarations {
  readonly seedServices: readonly string[];
  readonly staticInstances: readonly DeclaredInstance[];
  /** The version of each seed service's binding, by service name (absent: none). */
  readonly seedVersions?: Readonly<Record<string, string>>;
}

export interface DeclaredInstancesSynced {
  readonly writes: readonly RegistryWrite[];
  /** Entries that name no usable target or no valid service: skipped, for the log. */
  readonly ignored: readonly DeclaredInstance[];
}

export function syncDeclaredInstances(state: RegistryState, declared: Declarations, now: number, targets: TargetPolicy): DeclaredInstancesSynced {
  const writes: RegistryWrite[] = [];
  const ignored: DeclaredInstance[] = [];
  for (const name of declared.seedServices) ensureService(state, name, true, now, writes);
  const wanted = new Map<string, { service: string; target: Target; weight: number; version: string | null }>();
  const seedVersions = declared.seedVersions ?? {};
  for (const name of declared.seedServices) {
    const binding = bindingNameForService(name);
    if (targets.isServiceBinding(binding)) {
      const version = Object.hasOwn(seedVersions, name) && isValidVersion(seedVersions[name]) ? (seedVersions[name] as string) : null;
      wanted.set(staticId(name, { kind: "binding", binding }), { service: name, target: { kind: "binding", binding }, weight: 1, version });
    }
  }
  for (const entry of declared.staticInstances) {
    const target: Target | null = entry.binding ? { kind: "binding", binding: entry.binding } : entry.url ? { kind: "url", url: entry.url } : null;
    if (!target || targetRefusal(target, targets) || !isValidServiceName(entry.service) || (entry.version !== undefined && !isValidVersion(entry.version))) {
      ignored.push(entry);
      continue;
    }
    wanted.set(staticId(entry.service, target), { service: entry.service, target, weight: entry.weight ?? 1, version: entry.version ?? null });
  }
  for (const instance of [...state.instances.values()]) {
    if (instance.isStatic && !wanted.has(instance.id)) removeInstance(state, instance.id, writes);
  }
  for (const [id, entry] of wanted) {
    const existing = state.instances.get(id);
    if (existing) {
      if (existing.weight !== entry.weight || existing.version !== entry.version) {
        existing.weight = entry.weight;
        existing.version = entry.version;
        writes.push({ kind: "instance", instance: existing });
      }
      continue;
    }
    // A dynamic registration of the same target gives way to the declared one.
    const clash = instancesOf(state, entry.service).find((i) => sameTarget(i.target, entry.target));
    if (clash) removeInstance(state, clash.id, writes);
    ensureService(state, entry.service, false, now, writes);
    addInstance(state, { id, service: entry.service, target: entry.target, weight: entry.weight, isStatic: true, ttlSeconds: null, lastHeartbeat: null, metadata: {}, version: entry.version }, now, writes);
  }
  return { writes, ignored };
}

/** Stable across restarts, so a declared instance keeps its id (and its state) from one start to the next. */
function staticId(service: string, target: Target): string {
  return `static-${service}-${target.kind === "binding" ? target.binding.toLowerCase() : fnv1a(target.url)}`;
}

/** A short stable hash for ids derived from URLs (not security-relevant). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}
