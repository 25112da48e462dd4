/**
 * A pick by client affinity (affinity.ts) over one service's candidates, with
 * the same notion of eligible and the same panic mode as the strategies
 * (index.ts): the ring holds the instances that are not unhealthy (degraded
 * ones stay: moving a client because its instance is slow costs it its
 * session), and all of them when too few are usable. Rings are rebuilt only
 * when the members or their weights change.
 */
import { buildHashRing, type HashRing, ringLookup, type RingMember } from "./affinity";
import type { BalancerState, Candidate } from "./types";
import type { PickResult } from "./index";

/** One ring per service, kept while its members and weights stay the same. */
export class AffinityRings {
  private readonly rings = new Map<string, { readonly signature: string; readonly ring: HashRing }>();

  ringFor(service: string, members: readonly RingMember[]): HashRing {
    let signature = "";
    for (const m of members) signature += `${m.id}\u0000${m.weight}\u0000`;
    const kept = this.rings.get(service);
    if (kept !== undefined && kept.signature === signature) return kept.ring;
    const ring = buildHashRing(members);
    this.rings.set(service, { signature, ring });
    return ring;
  }

  /** Services that left the table take their rings with them. */
  retain(services: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const service of this.rings.keys()) if (!services.has(service)) this.rings.delete(service);
  }
}

/** The instance for `key`, or null when there is none. The balancer's state is left as it was. */
export function pickByAffinity(
  service: string,
  key: string,
  candidates: readonly Candidate[],
  state: BalancerState,
  panicThresholdPercent: number,
  rings: AffinityRings,
): PickResult | null {
  if (candidates.length === 0) return null;
  const usable = candidates.filter((c) => c.health !== "unhealthy");
  const panic = usable.length === 0 || (usable.length / candidates.length) * 100 < panicThresholdPercent;
  const members = panic ? candidates : usable;
  const id = ringLookup(rings.ringFor(service, members), key);
  return id === null ? null : { id, state, panic };
}
