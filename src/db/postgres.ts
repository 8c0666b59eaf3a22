// PostgreSQL implementation of the Db seam (node-postgres pool). The store's SQL is shared with
// SQLite; only the `?` placeholders are renumbered to $1, $2, … here. BIGINT columns come back as
// strings from pg, which the store already reads through Number().
//
// Claiming stays the store's single conditional UPDATE (`… WHERE id = ? AND state = 'OPEN'`): under
// READ COMMITTED, a second transaction updating the same row waits for the first's row lock, then
// re-checks the WHERE against the committed row and updates nothing, so exactly one claimer wins
// on any number of servers (docs/deployment.md says why this over SKIP LOCKED).
import pg from "pg";
import type { Db, RunResult, SqlValue } from "./driver.js";

/** Advisory lock keys: the whole migration pass (withLock), and one migration's transaction. */
const MIGRATION_LOCK = 0x77696e6e; // "winn"
const MIGRATION_TX_LOCK = MIGRATION_LOCK + 1;

/** `?` → `$n`, leaving quoted strings, quoted identifiers and comments alone. */
export function numberPlaceholders(sql: string): string {
  let out = "";
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === "?") out += `$${++n}`;
    else out += ch;
  }
  return out;
}

export class PostgresDb implements Db {
  readonly dialect = "postgres" as const;
  private readonly pool: pg.Pool;
  private readonly sqlCache = new Map<string, { name: string; text: string }>();

  /** `url`: postgres://user:password@host:port/database; `max`: pool size (default 10, or ?pool_max= in the URL). */
  constructor(url: string, opts: { max?: number } = {}) {
    const u = new URL(url);
    const max = Math.max(2, opts.max ?? (Number(u.searchParams.get("pool_max")) || 10));
    u.searchParams.delete("pool_max");
    this.pool = new pg.Pool({ connectionString: u.toString(), max, connectionTimeoutMillis: 30_000 });
    // An idle client losing its connection (server restart) must not crash the process; the pool
    // drops it and the next query opens a new one.
    this.pool.on("error", () => {});
  }

  /**
   * The query as a named prepared statement: each pooled connection parses and plans it once,
   * later calls only bind and execute (the store's statements are a fixed set; the few built
   * per call, like `IN (?, ?, …)`, stop being cached past 1000 shapes).
   */
  private query(sql: string, params: readonly SqlValue[]): pg.QueryConfig {
    let q = this.sqlCache.get(sql);
    if (q === undefined) {
      q = { name: `w${this.sqlCache.size}`, text: numberPlaceholders(sql) };
      if (this.sqlCache.size >= 1000) return { text: q.text, values: params as unknown[] };
      this.sqlCache.set(sql, q);
    }
    return { name: q.name, text: q.text, values: params as unknown[] };
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.pool.query(this.query(sql, params))).rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return { changes: (await this.pool.query(this.query(sql, params))).rowCount ?? 0 };
  }

  async migrate(statements: readonly string[], record: { id: number; name: string; appliedAt: number }): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      // Another replica may have applied it while this one waited for the lock.
      await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_TX_LOCK]);
      const done = await c.query("SELECT 1 FROM schema_migrations WHERE id = $1", [record.id]);
      if (done.rowCount === 0) {
        for (const s of statements) await c.query(s);
        await c.query("INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)", [record.id, record.name, record.appliedAt]);
      }
      await c.query("COMMIT");
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  /** Runs `fn` while holding a session advisory lock (on its own connection; fn uses the pool). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
      try {
        return await fn();
      } finally {
        await c.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
      }
    } finally {
      c.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
