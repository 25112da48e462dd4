/**
 * Values derived from an owner object (a parsed configuration, a Durable
 * Object namespace) and a key, made once and kept as long as the owner lives:
 * a new configuration starts with an empty cache, and a dropped one takes its
 * values with it. For work that would otherwise be repeated on every request
 * although its answer only changes with the owner.
 */
export class PerOwnerCache<Owner extends object, Key, Value> {
  private readonly byOwner = new WeakMap<Owner, Map<Key, Value>>();

  /**
   * `maxPerOwner` bounds the values kept for one owner, for keys that come
   * from requests (any client can name any service): past it the cache starts
   * over rather than grow.
   */
  constructor(
    private readonly make: (owner: Owner, key: Key) => Value,
    private readonly maxPerOwner = Number.POSITIVE_INFINITY,
  ) {}

  get(owner: Owner, key: Key): Value {
    let values = this.byOwner.get(owner);
    if (values === undefined) {
      values = new Map();
      this.byOwner.set(owner, values);
    }
    let value = values.get(key);
    if (value === undefined) {
      value = this.make(owner, key);
      if (values.size >= this.maxPerOwner) values.clear();
      values.set(key, value);
    }
    return value;
  }
}
