/** Runtime checks for bindings looked up by name (service bindings named in config or registrations). */

export function isFetcher(value: unknown): value is Fetcher {
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function";
}

export function bindingByName(env: Env, name: string): unknown {
  return (env as unknown as Record<string, unknown>)[name];
}
