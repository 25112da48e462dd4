/**
 * Reads from records keyed by names that arrive from outside (instance ids,
 * service names). A plain `record[key]` would return Object.prototype members
 * for keys like "constructor" or "__proto__"; only own properties count.
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Own keys in a stable order, so outputs do not depend on insertion history. */
export function sortedKeys(record: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(record).sort();
}

/**
 * A copy of `record` with `key` set. A computed key in a literal defines an own
 * property, whereas `copy[key] = value` would invoke the __proto__ setter.
 */
export function withKey<T>(record: Readonly<Record<string, T>>, key: string, value: T): Record<string, T> {
  return { ...record, [key]: value };
}

/** Sets an own data property on a record being built locally (safe for any key, unlike `r[key] = v`). */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}
