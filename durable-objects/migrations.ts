/**
 * Ordered SQLite migrations applied in code, shared by every object: a
 * migration is never edited once shipped; add a new one instead. Applied in
 * the object's constructor (inside blockConcurrencyWhile).
 */

export function applyMigrations(sql: SqlStorage, migrations: readonly (readonly string[])[]): number {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  const row = sql.exec<{ version: number | null }>("SELECT MAX(version) AS version FROM schema_migrations").one();
  let version = row.version ?? 0;
  for (let index = version; index < migrations.length; index++) {
    for (const statement of migrations[index] ?? []) sql.exec(statement);
    version = index + 1;
    sql.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, Date.now());
  }
  return version;
}
