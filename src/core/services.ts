/**
 * Service names: the six seed services the fleet always has, the first path
 * segments the orchestrator keeps for itself, and the mapping between a service
 * and its service-binding name (main-bot <-> MAIN_BOT).
 */

export const SEED_SERVICES = ["main-bot", "api", "banking", "security", "frontend", "analytics"] as const;

/** First path segments that are the orchestrator's own and can never name a service. */
export const RESERVED_SEGMENTS = new Set(["health", "metrics", "registry", "admin", "debug", "openapi.json", "favicon.ico", "robots.txt", "__lifecycle"]);

export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

export function isValidServiceName(name: string): boolean {
  return SERVICE_NAME_PATTERN.test(name) && !RESERVED_SEGMENTS.has(name);
}

export function bindingNameForService(service: string): string {
  return service.toUpperCase().replaceAll("-", "_");
}
