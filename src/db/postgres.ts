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
  private readonly url: string;

  /** `url`: postgres://user:password@host:port/database; `max`: pool size (default 10, or ?pool_max= in the URL). */
  constructor(url: string, opts: { max?: number } = {}) {
    const u = new URL(url);
    const max = Math.max(2, opts.max ?? (Number(u.searchParams.get("pool_max")) || 10));
    u.searchParams.delete("pool_max");
    this.url = u.toString();
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

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    const on = async (sql: string, params: readonly SqlValue[]) => c.query(this.query(sql, params));
    const tx: Db = {
      dialect: "postgres",
      all: async <R>(sql: string, params: readonly SqlValue[] = []) => (await on(sql, params)).rows as R[],
      get: async <R>(sql: string, params: readonly SqlValue[] = []) => (await on(sql, params)).rows[0] as R | undefined,
      run: async (sql: string, params: readonly SqlValue[] = []) => ({ changes: (await on(sql, params)).rowCount ?? 0 }),
      transaction: (inner) => inner(tx),
      migrate: () => Promise.reject(new Error("migrate inside a transaction")),
      close: () => Promise.reject(new Error("close inside a transaction")),
    };
    let broken = false;
    try {
      await c.query("BEGIN");
      const out = await fn(tx);
      await c.query("COMMIT");
      return out;
    } catch (e) {
      // A connection that cannot even roll back is dropped from the pool, not reused.
      await c.query("ROLLBACK").catch(() => (broken = true));
      throw e;
    } finally {
      c.release(broken);
    }
  }

  async notify(channel: string, payload = ""): Promise<void> {
    await this.pool.query("SELECT pg_notify($1, $2)", [channel, payload]);
  }

  /**
   * LISTEN on a connection of its own (a pooled one would be handed to other queries). When it
   * drops (server restart, network), it reconnects with back-off (0.25 s doubling to 5 s).
   */
  async listen(channel: string, onMessage: (payload: string) => void, onState: (listening: boolean) => void = () => {}): Promise<() => Promise<void>> {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`channel ${JSON.stringify(channel)}: expected [a-z_][a-z0-9_]*`);
    let client: pg.Client | null = null;
    let stopped = false;
    let delay = 250;
    let timer: NodeJS.Timeout | null = null;
    const retry = (): void => {
      onState(false);
      if (stopped || timer) return;
      timer = setTimeout(() => {
        timer = null;
        void connect();
      }, delay);
      timer.unref();
      delay = Math.min(5000, delay * 2);
    };
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000 });
      client = c;
      let failed = false;
      const fail = (): void => {
        if (failed) return;
        failed = true;
        c.end().catch(() => {});
        if (client === c) client = null;
        retry();
      };
      c.on("error", fail);
      c.on("end", fail);
      c.on("notification", (m) => {
        if (m.channel === channel) onMessage(m.payload ?? "");
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
        if (stopped) return void c.end().catch(() => {});
        delay = 250;
        onState(true);
      } catch {
        fail();
      }
    };
    await connect();
    return async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      const c = client as pg.Client | null;
      client = null;
      if (c) {
        c.removeAllListeners("end");
        await c.end().catch(() => {});
      }
    };
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
