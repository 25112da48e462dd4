/**
 * MetricsDO's storage: its state as JSON documents, one row per document in a
 * single SQLite table. The object keeps the state in memory and writes a
 * document whole when it changes (metrics at most every few seconds, the rest
 * at once), so a row is never read back during normal work: only the
 * constructor reads, after an eviction or a restart.
 */
import type { AlertHistory } from "../../src/core/alerts/history";
import type { Outbox } from "../../src/core/alerts/outbox";
import type { PipelineState } from "../../src/core/alerts/pipeline";
import type { MetricsState } from "../../src/core/metrics/aggregate";
import { applyMigrations } from "../migrations";

const METRICS_MIGRATIONS = [["CREATE TABLE documents (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)"]];

/** Every document the object keeps, by key. */
export interface MetricsDocuments {
  readonly metrics: MetricsState;
  readonly pipeline: PipelineState;
  readonly outbox: Outbox;
  readonly history: AlertHistory;
}

export type DocumentKey = keyof MetricsDocuments;

export class MetricsStore {
  constructor(private readonly storage: DurableObjectStorage) {}

  /** Brings the schema up to date; in the constructor's blockConcurrencyWhile, before any read. */
  migrate(): void {
    applyMigrations(this.storage.sql, METRICS_MIGRATIONS);
  }

  /** The stored document, or null when there is none or it cannot be parsed (the object then starts that part fresh). */
  read<K extends DocumentKey>(key: K): MetricsDocuments[K] | null {
    const row = this.storage.sql.exec<{ value: string }>("SELECT value FROM documents WHERE key = ?", key).toArray()[0];
    if (!row) return null;
    try {
      return JSON.parse(row.value) as MetricsDocuments[K];
    } catch {
      console.error(JSON.stringify({ level: "error", message: "unreadable metrics document, starting fresh", key }));
      return null;
    }
  }

  write<K extends DocumentKey>(key: K, value: MetricsDocuments[K]): void {
    this.storage.sql.exec(
      "INSERT INTO documents (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
      key,
      JSON.stringify(value),
      Date.now(),
    );
  }

  /**
   * Writes the given documents in one transaction, in the order given: all of them or
   * none, for state that must not be seen half-written after a crash (a notification
   * marked sent in the pipeline and its entry in the outbox).
   */
  writeTogether(documents: Partial<MetricsDocuments>): void {
    this.storage.transactionSync(() => {
      for (const key of Object.keys(documents) as DocumentKey[]) {
        const value = documents[key];
        if (value !== undefined) this.write(key, value);
      }
    });
  }
}
