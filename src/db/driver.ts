// The database seam: the store speaks to this small interface only, never to a driver's own API,
// so PostgreSQL (issue 9) slots in as a second implementation. SQL handed to it is plain SQL both
// SQLite and PostgreSQL accept, with `?` placeholders (a PostgreSQL driver numbers them $1, $2, …).
// Every call is async even where SQLite is synchronous, because a network database is not.
//
// Exactly-once decisions (claiming a scheduled run, ending a run) are conditional UPDATEs whose row
// count says who won: exactly-once on SQLite (one writer) and on PostgreSQL (the WHERE is re-checked
// after the row lock) alike. Writes that must land together (a claim's LOCKED mark and its run row)
// go through `transaction`.

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
   * Runs `fn` as one transaction: every statement made through `tx` commits together, or none does
   * when `fn` throws. PostgreSQL: BEGIN/COMMIT on one pooled connection. SQLite: BEGIN IMMEDIATE
   * (the file's write lock), and this object's other calls wait until it ends, so statements of
   * concurrent requests never slip into it.
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /**
   * Cross-process wake-ups (PostgreSQL LISTEN/NOTIFY): `notify` reaches every `listen`er of the
   * channel on this database. Absent (SQLite, one server per file): callers fall back to polling.
   */
  notify?(channel: string, payload?: string): Promise<void>;
  /** Calls `onMessage` per notification, reconnecting when the connection drops; `onState` says whether it listens. */
  listen?(channel: string, onMessage: (payload: string) => void, onState?: (listening: boolean) => void): Promise<() => Promise<void>>;
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
