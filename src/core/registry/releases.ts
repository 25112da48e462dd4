/**
 * Releases in the registry (issue #20): starting one, an operator's action on
 * one, and the controller's round over the active ones, each returning what
 * storage must learn and the transitions to audit. The decisions themselves
 * are core/release/controller.ts'; this file finds the releases, checks them
 * against the service's instances, and keeps each active release's window
 * (release-traffic.ts fills it).
 *
 * One active (running or paused) release per service; each service keeps its
 * newest MAX_RELEASES_PER_SERVICE releases.
 */
import { newReleaseWindow } from "../release/analysis";
import { applyOperatorAction, evaluateRelease, newRelease, nextEvaluationAt, type OperatorAction, restartedStep } from "../release/controller";
import { isActive, type Release, RELEASE_CONTROLLER, type Transition, weightOf, withTransition } from "../release/release";
import type { ReleaseSpec } from "../release/spec";
import type { Refusal } from "./refusals";
import { instancesOf, type RegistryState } from "./state";
import type { RegistryWrite } from "./writes";

export const MAX_RELEASES_PER_SERVICE = 20;

/** A transition made, with the release after it: what the registry audits. */
export interface ReleaseTransition {
  readonly release: Release;
  readonly transition: Transition;
}

export interface ReleaseChanged {
  readonly ok: true;
  readonly release: Release;
  readonly transition: Transition;
  readonly writes: readonly RegistryWrite[];
}

/** Newest first. */
export function releasesOf(state: RegistryState, service: string): Release[] {
  return [...(state.releases.get(service) ?? [])].reverse();
}

export function latestReleaseOf(state: RegistryState, service: string): Release | null {
  const list = state.releases.get(service);
  return list?.[list.length - 1] ?? null;
}

export function findRelease(state: RegistryState, service: string, id: string): Release | null {
  return state.releases.get(service)?.find((r) => r.id === id) ?? null;
}

/** The releases as storage left them; a running step starts over (its window was in memory). */
export function restoreReleases(state: RegistryState, oldestFirst: Iterable<Release>, now: number): void {
  for (const stored of oldestFirst) {
    const release = restartedStep(stored, now);
    const list = state.releases.get(release.service);
    if (list) list.push(release);
    else state.releases.set(release.service, [release]);
    if (isActive(release)) watch(state, release, now);
  }
}

/**
 * Starts a release of `spec.version` against the rest of the service. Refused
 * when the service has an active release already, when no instance in rotation
 * has that version, or when none in rotation has another (nothing to compare with).
 */
export function startRelease(state: RegistryState, serviceName: string, spec: ReleaseSpec, id: string, actor: string, now: number): ReleaseChanged | Refusal {
  if (!state.services.has(serviceName)) return { ok: false, reason: "unknown-service", service: serviceName, field: "name" };
  const active = latestReleaseOf(state, serviceName);
  if (active !== null && isActive(active)) {
    return releaseConflict(null, `${serviceName} has a ${active.state} release already (${active.id}, version ${active.spec.version}): promote or abort it first.`);
  }
  const inRotation = instancesOf(state, serviceName).filter((i) => i.adminState === "active");
  if (!inRotation.some((i) => i.version === spec.version)) {
    return releaseConflict("version", `No instance of ${serviceName} in rotation has version ${spec.version}: register the canary's instances first.`);
  }
  if (!inRotation.some((i) => i.version !== spec.version)) {
    return releaseConflict("version", `Every instance of ${serviceName} in rotation has version ${spec.version}: there is no stable side to compare the canary with.`);
  }
  const release = newRelease(id, serviceName, spec, actor, now);
  const list = state.releases.get(serviceName) ?? [];
  list.push(release);
  // The oldest final releases make room; an active one is never among them (only the newest can be).
  state.releases.set(serviceName, list.slice(Math.max(0, list.length - MAX_RELEASES_PER_SERVICE)));
  watch(state, release, now);
  return { ok: true, release, transition: release.history[0] as Transition, writes: [{ kind: "release", release }] };
}

/** An operator's promote, abort, pause or resume. */
export function actOnRelease(state: RegistryState, serviceName: string, id: string, action: OperatorAction, actor: string, now: number): ReleaseChanged | Refusal {
  if (!state.services.has(serviceName)) return { ok: false, reason: "unknown-service", service: serviceName, field: "name" };
  const release = findRelease(state, serviceName, id);
  if (release === null) return { ok: false, reason: "unknown-release", service: serviceName, id };
  const acted = applyOperatorAction(release, action, actor, now);
  if (!acted.ok) return releaseConflict(null, acted.detail);
  replace(state, acted.release);
  if (!isActive(acted.release)) state.releaseWatches.delete(serviceName);
  else if (acted.newWindow) watch(state, acted.release, now);
  return { ok: true, release: acted.release, transition: acted.transition, writes: [{ kind: "release", release: acted.release }] };
}

export interface ReleaseRound {
  readonly writes: readonly RegistryWrite[];
  readonly transitions: readonly ReleaseTransition[];
}

/**
 * The controller's round (RegistryDO's alarm): every active release whose
 * evaluation is due is judged on its window. A release whose canary has no
 * instance left is rolled back: it can no longer be judged, and its weight
 * would point at nothing.
 */
export function runDueReleases(state: RegistryState, now: number): ReleaseRound {
  const writes: RegistryWrite[] = [];
  const transitions: ReleaseTransition[] = [];
  for (const [serviceName, watched] of [...state.releaseWatches]) {
    if (watched.nextEvaluationAt > now) continue;
    const release = findRelease(state, serviceName, watched.releaseId);
    if (release === null || !isActive(release)) {
      state.releaseWatches.delete(serviceName);
      continue;
    }
    const evaluated = canaryIsGone(state, release) ? rollBackForMissingCanary(release, now) : evaluateRelease(release, watched.window, now);
    if (evaluated.transition !== null) {
      replace(state, evaluated.release);
      writes.push({ kind: "release", release: evaluated.release });
      transitions.push({ release: evaluated.release, transition: evaluated.transition });
    }
    if (!isActive(evaluated.release)) state.releaseWatches.delete(serviceName);
    else if (evaluated.newWindow) watch(state, evaluated.release, now);
    else watched.nextEvaluationAt = nextEvaluationAt(evaluated.release, now) ?? now;
  }
  return { writes, transitions };
}

/** The earliest evaluation due, for the alarm; null without an active release. */
export function releasesDueAt(state: RegistryState): number | null {
  let next: number | null = null;
  for (const watched of state.releaseWatches.values()) if (next === null || watched.nextEvaluationAt < next) next = watched.nextEvaluationAt;
  return next;
}

function canaryIsGone(state: RegistryState, release: Release): boolean {
  return !instancesOf(state, release.service).some((i) => i.version === release.spec.version);
}

function rollBackForMissingCanary(release: Release, now: number): { release: Release; transition: Transition; newWindow: false } {
  const moved: Release = { ...release, state: "rolled-back", judgeAt: null, pausedBy: null, endedAt: now, updatedAt: now };
  const transition: Transition = {
    at: now,
    kind: "rolled-back",
    from: release.state,
    to: "rolled-back",
    stepIndex: release.stepIndex,
    weightPercent: weightOf(moved),
    actor: RELEASE_CONTROLLER,
    detail: `${release.spec.dryRun ? "dry run: " : ""}no instance of version ${release.spec.version} is left in ${release.service}`,
  };
  return { release: { ...moved, history: withTransition(moved, transition) }, transition, newWindow: false };
}

/** A fresh window from now, evaluated at the next cadence (or at the step's end, if sooner). */
function watch(state: RegistryState, release: Release, now: number): void {
  state.releaseWatches.set(release.service, {
    releaseId: release.id,
    version: release.spec.version,
    window: newReleaseWindow(now),
    nextEvaluationAt: nextEvaluationAt(release, now) ?? now,
  });
}

function replace(state: RegistryState, release: Release): void {
  const list = state.releases.get(release.service);
  if (!list) return;
  const index = list.findIndex((r) => r.id === release.id);
  if (index >= 0) list[index] = release;
}

function releaseConflict(field: string | null, detail: string): Refusal {
  return { ok: false, reason: "release-conflict", field, detail };
}
