/**
 * Which release the edge routes a service by (the routing table's
 * RouteRelease), and at what weight. Only the service's newest release
 * counts, and never a dry run:
 *
 * - running or paused: its step's weight;
 * - promoted: 100 %, while the service still has instances of another version
 *   (they get no traffic until an operator stops them); once they are gone,
 *   or the promoted version's are, there is nothing to split and it is not
 *   routed any more;
 * - rolled back or aborted: 0 %, while instances of its version remain (they
 *   get no traffic however they are balanced); once they are gone, nothing.
 *
 * A new release of the service replaces it.
 */
import { type Release, weightOf } from "../release/release";
import { latestReleaseOf } from "./releases";
import { instancesOf, type RegistryState } from "./state";

export interface RoutedRelease {
  readonly release: Release;
  readonly weightPercent: number;
}

export function routedRelease(state: RegistryState, serviceName: string): RoutedRelease | null {
  const release = latestReleaseOf(state, serviceName);
  if (release === null || release.spec.dryRun) return null;
  const instances = instancesOf(state, serviceName);
  const hasCanary = instances.some((i) => i.version === release.spec.version);
  switch (release.state) {
    case "running":
    case "paused":
      return { release, weightPercent: weightOf(release) };
    case "promoted":
      return hasCanary && instances.some((i) => i.version !== release.spec.version) ? { release, weightPercent: 100 } : null;
    case "rolled-back":
    case "aborted":
      return hasCanary ? { release, weightPercent: 0 } : null;
  }
}
