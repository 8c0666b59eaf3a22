// The database seam: the store speaks to this small interface only, never to a driver's own API,
// so PostgreSQL (issue 9) slots in as a second implementation. SQL handed to it is plain SQL both
// SQLite and PostgreSQL accept, with `?` placeholders (a PostgreSQL driver numbers them $1, $2, …).
// Every call is async even where SQLite is synchronous, because a network database is not.
//
// There is deliberately no multi-statement transaction: every state change that must be atomic
// (claiming a scheduled run, ending a run) is ONE conditional UPDATE whose row count says who won,
// which is exactly-once on SQLite (one writer) and on PostgreSQL (the WHERE is re-checked after the
// row lock) alike.

export type SqlValue = string | number | bigint | null;

export interface RunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
}

export interface Db {
  readonly dialect: "sqlite" | "postgres";
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /**
   * Applies one migration atomically: its statements and the row recording it commit together or
   * not at all.
   */
  migrate(statements: readonly string[], record: { id: number; name: string; appliedAt: number }): Promise<void>;
  /**
   * Runs `fn` exclusively across every process using this database (PostgreSQL: an advisory
   * lock), so replicas starting at once migrate one after the other. Absent: `fn` runs as is.
   */
  withLock?<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Opens a database by URL or file path: `postgres://user:pass@host:port/db` (or `postgresql://`),
 * `sqlite:path`, a plain path, or `:memory:`.
 */
export async function openDb(spec: string): Promise<Db> {
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { PostgresDb } = await import("./postgres.js");
    return new PostgresDb(spec);
  }
  const { SqliteDb } = await import("./sqlite.js");
  return new SqliteDb(spec.startsWith("sqlite:") ? spec.slice("sqlite:".length) : spec);
}
