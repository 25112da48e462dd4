/**
 * Whether an upstream target may be used at all: a binding must be one of this
 * orchestrator's service bindings, a URL must pass the SSRF guard. Checked at
 * registration, for lifecycle hooks, and for instances declared in configuration.
 */
import { checkUpstreamUrl, type UrlGuardOptions } from "../url-guard";
import type { Target } from "./records";
import { type InvalidField, invalidField } from "./refusals";

/** What the object knows about its environment, handed to the decisions that need it. */
export interface TargetPolicy {
  /** True when `name` is a service binding (a Fetcher) of this orchestrator. */
  readonly isServiceBinding: (name: string) => boolean;
  readonly url: UrlGuardOptions;
}

/** Null when the target may be used. */
export function targetRefusal(target: Target, policy: TargetPolicy): InvalidField | null {
  if (target.kind === "binding") {
    if (policy.isServiceBinding(target.binding)) return null;
    return invalidField("binding", `binding: ${target.binding} is not a service binding of this orchestrator`);
  }
  const check = checkUpstreamUrl(target.url, policy.url);
  return check.ok ? null : invalidField("url", `url: ${check.message}`);
}
