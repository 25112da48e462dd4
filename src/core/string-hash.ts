/**
 * One 32-bit string hash for every place that spreads names over buckets:
 * health-sweep shards (rendezvous hashing, core/health/shards.ts) and the
 * affinity ring (consistent hashing, core/balancer/affinity.ts).
 *
 * It must give the same number in every isolate and after every deploy that
 * keeps it: a shard's instances and a client's sticky instance are decided
 * from it independently by many isolates. Changing it moves every shard
 * assignment and every sticky client at once.
 */

/** The state hash32 starts from (FNV-1a's offset basis). */
export const HASH_START = 0x811c9dc5;

/**
 * FNV-1a over the UTF-16 code units, then murmur3's 32-bit finaliser (fmix32).
 * FNV-1a alone is fast but keeps inputs that differ only in their last
 * characters ("id#1", "id#2") close together in the high bits; the finaliser
 * makes every input bit affect every output bit, so such inputs spread over
 * the whole range. Not cryptographic: a client who controls its key can aim
 * it at an instance, which only lets it choose where its own requests go.
 */
export function hash32(text: string): number {
  return finishHash(continueHash(HASH_START, text));
}

/**
 * Feeds more text into an unfinished hash: finishHash(continueHash(continueHash(HASH_START, a), b))
 * equals hash32(a + b). Lets a caller hashing many strings with one prefix hash the prefix once.
 */
export function continueHash(state: number, text: string): number {
  let h = state;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** murmur3's fmix32: the last step of hash32, an unsigned 32-bit result. */
export function finishHash(state: number): number {
  let h = state;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
