/**
 * Which side of a release one request goes to (issue #20): the canary version
 * or the stable rest of the service, decided before the strategy picks an
 * instance within that side.
 *
 * - A request may pin a version with the release's pin header (testers,
 *   internal traffic); the version must exist among the service's instances.
 * - Otherwise a client with a stickiness key always falls in the same bucket
 *   (0–9999, a hash of the key and the release id), and buckets below the
 *   canary's weight go to the canary. As the weight steps up, clients only
 *   ever move from stable to canary, never back and forth; a new release
 *   deals the buckets afresh.
 * - A request without a key is dealt at random.
 */
import { hash32 } from "../string-hash";
import { type AffinityRequest, type AffinitySetting, affinityKey } from "./affinity";

/** What the split needs of a release (the routing table's RouteRelease). */
export interface SplitRelease {
  readonly id: string;
  readonly version: string;
  readonly weightPercent: number;
  readonly stickiness: AffinitySetting | null;
  readonly pinHeader: string | null;
}

const BUCKETS = 10_000;
/** A pinned version is at most this long (the registry's version rule); a longer header value pins nothing that exists. */
const MAX_VERSION_CHARS = 64;

export type SideChoice =
  /** Route to the instances of this version only. */
  | { readonly kind: "version"; readonly version: string; readonly pinned: boolean }
  /** Route to the instances whose version is not this one (the stable side). */
  | { readonly kind: "not-version"; readonly version: string }
  /** The pin header names a version no instance has. */
  | { readonly kind: "unknown-version"; readonly header: string; readonly value: string };

/**
 * The side for one request. `versions`: the versions of the service's
 * instances in rotation (for pinning). `random`: [0, 1), for keyless requests.
 */
export function chooseSide(release: SplitRelease, request: AffinityRequest, versions: ReadonlySet<string>, random: () => number): SideChoice {
  if (release.pinHeader !== null) {
    const pinned = pinHeaderValue(request.headers, release.pinHeader);
    if (pinned !== null) {
      if (pinned.length <= MAX_VERSION_CHARS && versions.has(pinned)) return { kind: "version", version: pinned, pinned: true };
      return { kind: "unknown-version", header: release.pinHeader, value: pinned.slice(0, MAX_VERSION_CHARS) };
    }
  }
  return toCanary(release, request, random) ? { kind: "version", version: release.version, pinned: false } : { kind: "not-version", version: release.version };
}

/** Whether a request without a pin goes to the canary. */
export function toCanary(release: SplitRelease, request: AffinityRequest, random: () => number): boolean {
  if (release.weightPercent <= 0) return false;
  if (release.weightPercent >= 100) return true;
  const key = release.stickiness === null ? null : affinityKey(release.stickiness, request);
  const bucket = key === null ? Math.floor(random() * BUCKETS) : stickyBucket(release.id, key);
  return bucket < release.weightPercent * (BUCKETS / 100);
}

/** A client's bucket for one release: the same in every isolate, for as long as the release lasts. */
export function stickyBucket(releaseId: string, key: string): number {
  return hash32(`${releaseId}\u0000${key}`) % BUCKETS;
}

function pinHeaderValue(headers: Headers, name: string): string | null {
  let value: string | null;
  try {
    value = headers.get(name);
  } catch {
    return null;
  }
  const trimmed = value?.trim() ?? "";
  return trimmed === "" ? null : trimmed;
}
