/**
 * Who a credential belongs to and what it may do (security review finding 10).
 *
 * Two keyrings, in the manner of Consul's ACL tokens and HAProxy's stats
 * levels:
 * - admin keys, each with a role: `viewer` (read: dashboards, scrapers),
 *   `operator` (plus lifecycle actions and silences), `admin` (plus
 *   configuration, the registry and the debug endpoints);
 * - registration tokens, each scoped to services by exact name or by prefix
 *   (`pay-*`), so a token that leaks from one service's instances cannot join
 *   `banking` and receive its traffic.
 *
 * The single-key settings keep working as before: ORCHESTRATOR_API_KEY is an
 * admin key, REGISTRATION_TOKEN opens every service. Each has a _PREVIOUS
 * companion that stays valid during a rotation. ADMIN_KEYS and
 * REGISTRATION_TOKENS hold SHA-256 digests of further keys, never the keys.
 *
 * Pure: the caller digests what it is given (src/middleware/auth.ts).
 */

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** Service patterns a registration token is limited to; null: every service. */
export type ServiceScope = readonly string[] | null;

export interface KeyEntry {
  /** Lower-case hex SHA-256 of the key. */
  readonly digestHex: string;
  readonly kind: "admin" | "registration";
  /** Admin keys only. */
  readonly role: Role | null;
  /** Registration tokens only; admin keys with the admin role act on every service. */
  readonly services: ServiceScope;
  /** The setting it came from, or the name given to it in ADMIN_KEYS / REGISTRATION_TOKENS. */
  readonly name: string;
}

export interface Principal {
  readonly kind: "admin" | "registration";
  readonly role: Role | null;
  readonly services: ServiceScope;
  readonly name: string;
  /** `key:` and the first 12 hex digits of the key's SHA-256: names the key in the audit log, never reveals it. */
  readonly fingerprint: string;
}

export function roleAllows(role: Role | null, needed: Role): boolean {
  return role !== null && ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** A pattern is a service name, or a prefix ending in `*` (`pay-*`); `*` alone is every service. */
export const SERVICE_PATTERN = /^(\*|[a-z][a-z0-9-]{0,62}\*?)$/;

export function serviceInScope(scope: ServiceScope, service: string): boolean {
  if (scope === null) return true;
  for (const pattern of scope) {
    if (pattern.endsWith("*") ? service.startsWith(pattern.slice(0, -1)) : service === pattern) return true;
  }
  return false;
}

export function fingerprintOf(digestHex: string): string {
  return `key:${digestHex.slice(0, 12)}`;
}

export function principalOf(entry: KeyEntry): Principal {
  return { kind: entry.kind, role: entry.role, services: entry.services, name: entry.name, fingerprint: fingerprintOf(entry.digestHex) };
}

// ------------------------------------------------------------------ parsing the settings

const DIGEST = /^[0-9a-f]{64}$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_ENTRIES = 1_000;
const MAX_PATTERNS = 100;

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/**
 * ADMIN_KEYS: a JSON object from key digest to role, or to {role, name}:
 * `{"<sha256 hex>": "viewer", "<sha256 hex>": {"role": "operator", "name": "oncall"}}`.
 */
export function parseAdminKeys(text: string): Parsed<KeyEntry[]> {
  return parseKeyring(text, "admin", (value, digestHex) => {
    const spec = typeof value === "string" ? { role: value } : value;
    if (!isPlainObject(spec)) return `${digestHex.slice(0, 12)}…: must be a role or {role, name}`;
    const role = spec.role;
    if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role)) return `${digestHex.slice(0, 12)}…: role must be one of ${ROLES.join(", ")}`;
    const name = nameOf(spec, digestHex);
    if (name === null) return `${digestHex.slice(0, 12)}…: name must be 1–64 characters of A-Z a-z 0-9 . _ -`;
    const extra = Object.keys(spec).find((key) => key !== "role" && key !== "name");
    if (extra !== undefined) return `${digestHex.slice(0, 12)}…: unknown field ${JSON.stringify(extra)}`;
    return { digestHex, kind: "admin", role: role as Role, services: null, name };
  });
}

/**
 * REGISTRATION_TOKENS: a JSON object from token digest to the services it may
 * register, heartbeat and deregister, or to {services, name}:
 * `{"<sha256 hex>": ["banking"], "<sha256 hex>": {"services": ["pay-*", "api"], "name": "payments-team"}}`.
 */
export function parseRegistrationTokens(text: string): Parsed<KeyEntry[]> {
  return parseKeyring(text, "registration", (value, digestHex) => {
    const spec = Array.isArray(value) ? { services: value } : value;
    if (!isPlainObject(spec)) return `${digestHex.slice(0, 12)}…: must be a list of services or {services, name}`;
    const services = spec.services;
    if (!Array.isArray(services) || services.length === 0 || services.length > MAX_PATTERNS) {
      return `${digestHex.slice(0, 12)}…: services must be a list of 1–${MAX_PATTERNS} service names or prefixes`;
    }
    const bad = services.find((pattern) => typeof pattern !== "string" || !SERVICE_PATTERN.test(pattern));
    if (bad !== undefined) return `${digestHex.slice(0, 12)}…: ${JSON.stringify(bad)} is not a service name or a prefix ending in *`;
    const name = nameOf(spec, digestHex);
    if (name === null) return `${digestHex.slice(0, 12)}…: name must be 1–64 characters of A-Z a-z 0-9 . _ -`;
    const extra = Object.keys(spec).find((key) => key !== "services" && key !== "name");
    if (extra !== undefined) return `${digestHex.slice(0, 12)}…: unknown field ${JSON.stringify(extra)}`;
    return { digestHex, kind: "registration", role: null, services: services.includes("*") ? null : [...(services as string[])], name };
  });
}

function parseKeyring(text: string, kind: string, entry: (value: unknown, digestHex: string) => KeyEntry | string): Parsed<KeyEntry[]> {
  if (text.trim() === "") return { ok: true, value: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: "must be a JSON object" };
  }
  if (!isPlainObject(parsed)) return { ok: false, message: "must be a JSON object" };
  // Object.entries sees own keys only, "__proto__" included: JSON.parse makes it an own property.
  const pairs = Object.entries(parsed);
  if (pairs.length > MAX_ENTRIES) return { ok: false, message: `at most ${MAX_ENTRIES} ${kind} keys` };
  const entries: KeyEntry[] = [];
  for (const [digest, value] of pairs) {
    if (!DIGEST.test(digest)) return { ok: false, message: `keys must be SHA-256 digests (64 lower-case hex digits) of the ${kind} keys, not the keys` };
    const made = entry(value, digest);
    if (typeof made === "string") return { ok: false, message: made };
    entries.push(made);
  }
  return { ok: true, value: entries };
}

function nameOf(spec: Record<string, unknown>, digestHex: string): string | null {
  if (spec.name === undefined) return fingerprintOf(digestHex);
  return typeof spec.name === "string" && NAME.test(spec.name) ? spec.name : null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
