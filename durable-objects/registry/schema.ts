/**
 * RegistryDO's SQLite schema, as ordered migrations applied in code. A
 * migration is never edited once shipped; add a new one instead.
 */

export const REGISTRY_MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE services (
       name        TEXT PRIMARY KEY,
       strategy    TEXT,
       timeout_ms  INTEGER,
       admin_state TEXT NOT NULL DEFAULT 'active',
       lb_state    TEXT NOT NULL DEFAULT '{"cursor":0,"currentWeights":{}}',
       seed        INTEGER NOT NULL DEFAULT 0,
       created_at  INTEGER NOT NULL
     )`,
    `CREATE TABLE instances (
       id             TEXT PRIMARY KEY,
       seq            INTEGER NOT NULL,
       service        TEXT NOT NULL,
       target_kind    TEXT NOT NULL,
       target         TEXT NOT NULL,
       weight         INTEGER NOT NULL,
       admin_state    TEXT NOT NULL DEFAULT 'active',
       check_status   TEXT NOT NULL DEFAULT 'passing',
       is_static      INTEGER NOT NULL DEFAULT 0,
       ttl_seconds    INTEGER,
       registered_at  INTEGER NOT NULL,
       last_heartbeat INTEGER,
       critical_since INTEGER,
       metadata       TEXT NOT NULL DEFAULT '{}',
       reported_inflight INTEGER,
       reported_cpu   REAL,
       UNIQUE (service, target_kind, target)
     )`,
    `CREATE INDEX instances_by_service ON instances (service, seq)`,
    // One row per request in flight. Counting leases (not a bare counter) means a
    // Worker that dies mid-request cannot leave a count stuck: its lease expires.
    `CREATE TABLE leases (
       id          INTEGER PRIMARY KEY AUTOINCREMENT,
       instance_id TEXT NOT NULL,
       expires_at  INTEGER NOT NULL
     )`,
    `CREATE INDEX leases_by_expiry ON leases (expires_at)`,
  ],
  // Health monitoring: active-check and outlier state per instance, slow start,
  // per-service check settings, and which leases are retries (retry budget).
  [
    `ALTER TABLE instances ADD COLUMN active_state TEXT`,
    `ALTER TABLE instances ADD COLUMN outlier_state TEXT`,
    `ALTER TABLE instances ADD COLUMN in_rotation_since INTEGER`,
    `ALTER TABLE services ADD COLUMN health_settings TEXT`,
    `ALTER TABLE leases ADD COLUMN is_retry INTEGER NOT NULL DEFAULT 0`,
  ],
  // Operator control: an ordered, bounded audit log of admin actions, and a
  // lifecycle hook per service.
  [
    `CREATE TABLE audit (
       seq          INTEGER PRIMARY KEY AUTOINCREMENT,
       at           INTEGER NOT NULL,
       action       TEXT NOT NULL,
       target       TEXT NOT NULL,
       result       TEXT NOT NULL,
       status       INTEGER NOT NULL,
       actor        TEXT NOT NULL,
       request_id   TEXT,
       detail       TEXT
     )`,
    `ALTER TABLE services ADD COLUMN lifecycle_hook TEXT`,
  ],
  // Autoscaling: a policy, the engine's state and a decision log per service;
  // instances registered as standby form the pool it scales.
  [
    `ALTER TABLE services ADD COLUMN autoscale_policy TEXT`,
    `ALTER TABLE services ADD COLUMN autoscale_state TEXT`,
    `ALTER TABLE services ADD COLUMN autoscale_log TEXT`,
    `ALTER TABLE instances ADD COLUMN pool INTEGER NOT NULL DEFAULT 0`,
  ],
  // Dashboard sessions signed out before they expired.
  [`CREATE TABLE revoked_sessions (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`],
  // Scoped credentials: the role of the key that acted, beside its fingerprint.
  [`ALTER TABLE audit ADD COLUMN role TEXT`],
  // WebSocket proxying: whether a service takes WebSocket upgrades (existing
  // services keep taking them), and its client affinity (JSON, null for none).
  [`ALTER TABLE services ADD COLUMN websockets INTEGER NOT NULL DEFAULT 1`, `ALTER TABLE services ADD COLUMN affinity TEXT`],
  // Progressive delivery (issue #20): the version an instance declared (null for none), and
  // releases, each stored whole as JSON (core/release/release.ts), the newest few per service.
  [
    `ALTER TABLE instances ADD COLUMN version TEXT`,
    `CREATE TABLE releases (
       id         TEXT PRIMARY KEY,
       service    TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       record     TEXT NOT NULL
     )`,
    `CREATE INDEX releases_by_service ON releases (service, created_at)`,
  ],
];
