/**
 * Release transitions as audit entries, written by RegistryDO in the same turn
 * as the transition: `release.start`, `release.advance`, `release.extend`,
 * `release.pause`, `release.resume`, `release.promote`, `release.rollback`,
 * `release.abort`, on target `<service>/<release id>`. The controller's own
 * transitions are signed "release-controller", with no role and no request.
 */
import type { Role } from "../../src/core/credentials";
import type { OperatorAction } from "../../src/core/release/controller";
import type { Release, Transition, TransitionKind } from "../../src/core/release/release";
import type { AuditInput } from "../../src/contracts/registry";

/** Who asked for an operator's transition (the controller's carry no request). */
export interface ReleaseRequester {
  readonly actor: string;
  readonly role: Role | null;
  readonly requestId: string;
}

const ACTIONS: Readonly<Record<TransitionKind, string>> = {
  started: "release.start",
  advanced: "release.advance",
  extended: "release.extend",
  paused: "release.pause",
  resumed: "release.resume",
  promoted: "release.promote",
  "rolled-back": "release.rollback",
  aborted: "release.abort",
};

export function releaseTarget(service: string, id: string): string {
  return `${service}/${id}`;
}

/** An operator's request as the audit log names it, whatever came of it. */
export function requestedAction(action: OperatorAction | "start"): string {
  return `release.${action}`;
}

export function transitionAudit(release: Release, transition: Transition, requester: ReleaseRequester | null): AuditInput {
  return {
    action: ACTIONS[transition.kind],
    target: releaseTarget(release.service, release.id),
    status: transition.kind === "started" ? 201 : 200,
    actor: transition.actor,
    role: requester?.role ?? null,
    requestId: requester?.requestId ?? null,
    detail: `${transition.from ?? "new"} → ${transition.to}, ${transition.weightPercent}%: ${transition.detail}`,
  };
}
