/**
 * Every SQL statement of the registry, over the schema in schema.ts: rows in,
 * records out (and back). The registry is loaded once at start and each change
 * is written through in the same turn (SQLite writes in a Durable Object are
 * synchronous and committed atomically at the end of the turn).
 *
 * Releases are rows of JSON, read once at start like the rest.
 *
 * Leases, the audit log and revoked sessions live only here: the registry
 * keeps counts of leases in memory, never the leases.
 */
import type { AuditEntry, AuditInput } from "../../src/contracts/registry";
import { type AutoscalePolicy, type AutoscaleState, type DecisionLog, EMPTY_DECISION_LOG, INITIAL_AUTOSCALE_STATE } from "../../src/core/autoscale";
import type { AffinitySetting } from "../../src/core/balancer/affinity";
import { type BalancerState, initialBalancerState, type Strategy } from "../../src/core/balancer/types";
import { ROLES } from "../../src/core/credentials";
import { type ActiveCheckState, initialActiveState, initialOutlierState, type OutlierState } from "../../src/core/health";
import { type LeaseEntry, restoreLeaseCounts } from "../../src/core/registry/inflight";
import { type InstanceRecord, memoryOnlyTrafficState, type ServiceHealthSettings, type ServiceRecord, type Target, targetValue } from "../../src/core/registry/records";
import { MAX_RELEASES_PER_SERVICE, restoreReleases } from "../../src/core/registry/releases";
import { type RegistryState, restoreRegistry } from "../../src/core/registry/state";
import { isValidVersion } from "../../src/core/release/version";
import { parseStoredRelease } from "./release-rows";
import type { RegistryWrite } from "../../src/core/registry/writes";
import { applyMigrations } from "../migrations";
import { REGISTRY_MIGRATIONS } from "./schema";

/** The newest entries are kept; older ones are deleted as new ones arrive. */
const MAX_AUDIT_ENTRIES = 1000;

interface ServiceRow extends Record<string, SqlStorageValue> {
  name: string;
  strategy: string | null;
  timeout_ms: number | null;
  admin_state: string;
  lb_state: string;
  seed: number;
  created_at: number;
  health_settings: string | null;
  lifecycle_hook: string | null;
  websockets: number;
  affinity: string | null;
  autoscale_policy: string | null;
  autoscale_state: string | null;
  autoscale_log: string | null;
}

interface InstanceRow extends Record<string, SqlStorageValue> {
  id: string;
  seq: number;
  service: string;
  target_kind: string;
  target: string;
  weight: number;
  admin_state: string;
  check_status: string;
  is_static: number;
  ttl_seconds: number | null;
  registered_at: number;
  last_heartbeat: number | null;
  critical_since: number | null;
  metadata: string;
  reported_inflight: number | null;
  reported_cpu: number | null;
  active_state: string | null;
  outlier_state: string | null;
  in_rotation_since: number | null;
  pool: number;
  version: string | null;
}

interface LeaseRow extends Record<string, SqlStorageValue> {
  instance_id: string;
  is_retry: number;
}

interface AuditRow extends Record<string, SqlStorageValue> {
  seq: number;
  at: number;
  action: string;
  target: string;
  result: string;
  status: number;
  actor: string;
  role: string | null;
  request_id: string | null;
  detail: string | null;
}

export class RegistryStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Brings the schema up to date; call once, before anything else. */
  migrate(): void {
    applyMigrations(this.sql, REGISTRY_MIGRATIONS);
  }

  /** The whole registry, with the requests its leases still count in flight and its releases (`now`: when their windows restart). */
  load(now: number): RegistryState {
    const services = this.sql.exec<ServiceRow>("SELECT * FROM services").toArray().map(serviceFromRow);
    const instances = this.sql.exec<InstanceRow>("SELECT * FROM instances ORDER BY seq").toArray().map(instanceFromRow);
    const state = restoreRegistry(services, instances);
    const leases = this.sql
      .exec<{ instance_id: string; n: number; retries: number }>("SELECT instance_id, COUNT(*) AS n, SUM(is_retry) AS retries FROM leases GROUP BY instance_id")
      .toArray();
    restoreLeaseCounts(state, leases.map((row) => ({ instanceId: row.instance_id, leases: row.n, retries: row.retries })));
    const releases = this.sql.exec<{ record: string }>("SELECT record FROM releases ORDER BY created_at, rowid").toArray();
    restoreReleases(state, releases.map((row) => parseStoredRelease(row.record)).filter((r) => r !== null), now);
    return state;
  }

  /** Writes what a decision changed, in order (src/core/registry/writes.ts says what each kind covers). */
  apply(writes: readonly RegistryWrite[]): void {
    for (const write of writes) {
      switch (write.kind) {
        case "service":
          this.writeService(write.service);
          break;
        case "balancer":
          this.sql.exec("UPDATE services SET lb_state = ? WHERE name = ?", JSON.stringify(write.service.balancer), write.service.name);
          break;
        case "service-removed":
          this.sql.exec("DELETE FROM services WHERE name = ?", write.name);
          break;
        case "instance":
          this.writeInstance(write.instance);
          break;
        case "instance-removed":
          this.sql.exec("DELETE FROM instances WHERE id = ?", write.id);
          this.sql.exec("DELETE FROM leases WHERE instance_id = ?", write.id);
          break;
        case "heartbeat": {
          const i = write.instance;
          this.sql.exec(
            `UPDATE instances SET last_heartbeat = ?, check_status = ?, critical_since = ?,
               reported_inflight = ?, reported_cpu = ? WHERE id = ?`,
            i.lastHeartbeat,
            i.checkStatus,
            i.criticalSince,
            i.reportedInflight,
            i.reportedCpu,
            i.id,
          );
          break;
        }
        case "critical":
          this.sql.exec("UPDATE instances SET check_status = ?, critical_since = ? WHERE id = ?", write.instance.checkStatus, write.instance.criticalSince, write.instance.id);
          break;
        case "weight":
          this.sql.exec("UPDATE instances SET weight = ? WHERE id = ?", write.instance.weight, write.instance.id);
          break;
        case "outlier":
          this.sql.exec("UPDATE instances SET outlier_state = ? WHERE id = ?", JSON.stringify(write.instance.outlier), write.instance.id);
          break;
        case "release": {
          const r = write.release;
          this.sql.exec(
            "INSERT INTO releases (id, service, created_at, record) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            r.id,
            r.service,
            r.createdAt,
            JSON.stringify(r),
          );
          // As in memory (core/registry/releases.ts): the service's newest few.
          this.sql.exec(
            "DELETE FROM releases WHERE service = ? AND id NOT IN (SELECT id FROM releases WHERE service = ? ORDER BY created_at DESC, rowid DESC LIMIT ?)",
            r.service,
            r.service,
            MAX_RELEASES_PER_SERVICE,
          );
          break;
        }
        case "health-checks": {
          const i = write.instance;
          this.sql.exec(
            "UPDATE instances SET active_state = ?, outlier_state = ?, in_rotation_since = ? WHERE id = ?",
            JSON.stringify(i.active),
            JSON.stringify(i.outlier),
            i.inRotationSince,
            i.id,
          );
          break;
        }
      }
    }
  }

  // ------------------------------------------------------------------ leases: one row per request in flight

  /** Returns the lease id. */
  insertLease(instanceId: string, expiresAt: number, isRetry: boolean): number {
    return this.sql
      .exec<{ id: number }>("INSERT INTO leases (instance_id, expires_at, is_retry) VALUES (?, ?, ?) RETURNING id", instanceId, expiresAt, isRetry ? 1 : 0)
      .one().id;
  }

  /** Null when the lease is gone already (released, expired, or its instance removed): releasing twice changes nothing. */
  deleteLease(leaseId: number): LeaseEntry | null {
    const row = this.sql.exec<LeaseRow>("DELETE FROM leases WHERE id = ? RETURNING instance_id, is_retry", leaseId).toArray()[0];
    return row ? leaseFromRow(row) : null;
  }

  deleteExpiredLeases(now: number): LeaseEntry[] {
    return this.sql.exec<LeaseRow>("DELETE FROM leases WHERE expires_at <= ? RETURNING instance_id, is_retry", now).toArray().map(leaseFromRow);
  }

  earliestLeaseExpiry(): number | null {
    return this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM leases").one().at;
  }

  // ------------------------------------------------------------------ audit log

  /** Returns the entry's sequence number. */
  insertAudit(entry: AuditInput, now: number): number {
    const seq = this.sql
      .exec<{ seq: number }>(
        "INSERT INTO audit (at, action, target, result, status, actor, role, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        now,
        entry.action,
        entry.target,
        entry.status < 400 ? "ok" : "error",
        entry.status,
        entry.actor,
        entry.role,
        entry.requestId,
        entry.detail ?? null,
      )
      .one().seq;
    this.sql.exec("DELETE FROM audit WHERE seq <= ?", seq - MAX_AUDIT_ENTRIES);
    return seq;
  }

  /** Newest first; `before` pages backwards by sequence number. */
  auditPage(limit: number, before: number | null): AuditEntry[] {
    return this.sql
      .exec<AuditRow>("SELECT * FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?", before ?? Number.MAX_SAFE_INTEGER, limit)
      .toArray()
      .map((row) => ({
        seq: row.seq,
        at: new Date(row.at).toISOString(),
        action: row.action,
        target: row.target,
        result: row.result === "ok" ? "ok" : "error",
        status: row.status,
        actor: row.actor,
        role: ROLES.find((role) => role === row.role) ?? null,
        requestId: row.request_id,
        detail: row.detail,
      }));
  }

  // ------------------------------------------------------------------ dashboard sessions signed out

  /** Kept until it would have expired anyway; the ones past that go now. */
  revokeSession(id: string, expiresAt: number, now: number): void {
    this.sql.exec("INSERT OR REPLACE INTO revoked_sessions (id, expires_at) VALUES (?, ?)", id, expiresAt);
    this.sql.exec("DELETE FROM revoked_sessions WHERE expires_at <= ?", now);
  }

  isSessionRevoked(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM revoked_sessions WHERE id = ?", id).toArray().length > 0;
  }

  // ------------------------------------------------------------------ rows from records

  private writeService(service: ServiceRecord): void {
    this.sql.exec(
      `INSERT INTO services (name, strategy, timeout_ms, admin_state, lb_state, seed, created_at, health_settings, lifecycle_hook,
         websockets, affinity, autoscale_policy, autoscale_state, autoscale_log)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET strategy = excluded.strategy, timeout_ms = excluded.timeout_ms,
         admin_state = excluded.admin_state, lb_state = excluded.lb_state, seed = excluded.seed,
         health_settings = excluded.health_settings, lifecycle_hook = excluded.lifecycle_hook,
         websockets = excluded.websockets, affinity = excluded.affinity,
         autoscale_policy = excluded.autoscale_policy, autoscale_state = excluded.autoscale_state, autoscale_log = excluded.autoscale_log`,
      service.name,
      service.strategy,
      service.timeoutMs,
      service.adminState,
      JSON.stringify(service.balancer),
      service.seed ? 1 : 0,
      service.createdAt,
      JSON.stringify(service.healthSettings),
      service.lifecycleHook === null ? null : JSON.stringify(service.lifecycleHook),
      service.websockets ? 1 : 0,
      service.affinity === null ? null : JSON.stringify(service.affinity),
      service.autoscalePolicy === null ? null : JSON.stringify(service.autoscalePolicy),
      JSON.stringify(service.autoscaleState),
      JSON.stringify(service.autoscaleLog),
    );
  }

  private writeInstance(instance: InstanceRecord): void {
    this.sql.exec(
      `INSERT INTO instances (id, seq, service, target_kind, target, weight, admin_state, check_status, is_static,
         ttl_seconds, registered_at, last_heartbeat, critical_since, metadata, reported_inflight, reported_cpu,
         active_state, outlier_state, in_rotation_since, pool, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET weight = excluded.weight, admin_state = excluded.admin_state,
         check_status = excluded.check_status, ttl_seconds = excluded.ttl_seconds, last_heartbeat = excluded.last_heartbeat,
         critical_since = excluded.critical_since, metadata = excluded.metadata,
         reported_inflight = excluded.reported_inflight, reported_cpu = excluded.reported_cpu,
         active_state = excluded.active_state, outlier_state = excluded.outlier_state, in_rotation_since = excluded.in_rotation_since,
         pool = excluded.pool, version = excluded.version`,
      instance.id,
      instance.seq,
      instance.service,
      instance.target.kind,
      targetValue(instance.target),
      instance.weight,
      instance.adminState,
      instance.checkStatus,
      instance.isStatic ? 1 : 0,
      instance.ttlSeconds,
      instance.registeredAt,
      instance.lastHeartbeat,
      instance.criticalSince,
      JSON.stringify(instance.metadata),
      instance.reportedInflight,
      instance.reportedCpu,
      JSON.stringify(instance.active),
      JSON.stringify(instance.outlier),
      instance.inRotationSince,
      instance.pool ? 1 : 0,
      instance.version,
    );
  }
}

// ------------------------------------------------------------------ records from rows

function serviceFromRow(row: ServiceRow): ServiceRecord {
  return {
    name: row.name,
    strategy: row.strategy as Strategy | null,
    timeoutMs: row.timeout_ms,
    websockets: row.websockets !== 0,
    affinity: parseAffinity(row.affinity),
    adminState: row.admin_state === "stopped" ? "stopped" : "active",
    balancer: parseBalancerState(row.lb_state),
    seed: row.seed === 1,
    createdAt: row.created_at,
    healthSettings: parseJsonObject<ServiceHealthSettings>(row.health_settings, {}),
    lifecycleHook: parseTarget(row.lifecycle_hook),
    autoscalePolicy: row.autoscale_policy === null ? null : parseJsonObject<AutoscalePolicy>(row.autoscale_policy, {} as AutoscalePolicy),
    autoscaleState: parseJsonObject<AutoscaleState>(row.autoscale_state, INITIAL_AUTOSCALE_STATE),
    autoscaleLog: parseJsonObject<DecisionLog>(row.autoscale_log, EMPTY_DECISION_LOG),
    activeRetries: 0,
  };
}

function instanceFromRow(row: InstanceRow): InstanceRecord {
  return {
    id: row.id,
    seq: row.seq,
    service: row.service,
    target: row.target_kind === "binding" ? { kind: "binding", binding: row.target } : { kind: "url", url: row.target },
    weight: row.weight,
    adminState: row.admin_state === "stopped" || row.admin_state === "standby" ? row.admin_state : "active",
    pool: row.pool === 1,
    checkStatus: row.check_status === "critical" ? "critical" : "passing",
    isStatic: row.is_static === 1,
    ttlSeconds: row.ttl_seconds,
    registeredAt: row.registered_at,
    lastHeartbeat: row.last_heartbeat,
    criticalSince: row.critical_since,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    version: isValidVersion(row.version) ? row.version : null,
    reportedInflight: row.reported_inflight,
    reportedCpu: row.reported_cpu,
    ...memoryOnlyTrafficState(),
    active: parseJsonObject<ActiveCheckState>(row.active_state, initialActiveState()),
    outlier: parseJsonObject<OutlierState>(row.outlier_state, initialOutlierState),
    inRotationSince: row.in_rotation_since,
  };
}

function leaseFromRow(row: LeaseRow): LeaseEntry {
  return { instanceId: row.instance_id, isRetry: row.is_retry === 1 };
}

function parseJsonObject<T extends object>(json: string | null, fallback: T): T {
  if (json === null) return fallback;
  try {
    const parsed = JSON.parse(json) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as T) : fallback;
  } catch {
    return fallback;
  }
}

function parseTarget(json: string | null): Target | null {
  const parsed = parseJsonObject<Partial<{ kind: string; url: string; binding: string }>>(json, {});
  if (parsed.kind === "url" && typeof parsed.url === "string") return { kind: "url", url: parsed.url };
  if (parsed.kind === "binding" && typeof parsed.binding === "string") return { kind: "binding", binding: parsed.binding };
  return null;
}

/** Anything but a well-formed setting (a hand-edited row, a shape from another version) is no affinity. */
function parseAffinity(json: string | null): AffinitySetting | null {
  const parsed = parseJsonObject<Partial<{ source: string; name: string }>>(json, {});
  if (parsed.source === "ip") return { source: "ip" };
  if ((parsed.source === "header" || parsed.source === "cookie") && typeof parsed.name === "string" && parsed.name !== "") return { source: parsed.source, name: parsed.name };
  return null;
}

function parseBalancerState(json: string): BalancerState {
  try {
    const parsed = JSON.parse(json) as Partial<BalancerState>;
    return {
      cursor: Number.isSafeInteger(parsed.cursor) && (parsed.cursor as number) >= 0 ? (parsed.cursor as number) : 0,
      currentWeights: typeof parsed.currentWeights === "object" && parsed.currentWeights !== null ? parsed.currentWeights : {},
    };
  } catch {
    return initialBalancerState;
  }
}
