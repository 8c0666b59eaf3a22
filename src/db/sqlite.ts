// SQLite implementation of the Db seam (better-sqlite3). WAL mode so readers never wait on the
// writer, and a busy timeout so `winnow token create` can write while a server holds the file.
import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";
import type { Db, RunResult, SqlValue } from "./driver.js";

export class SqliteDb implements Db {
  readonly dialect = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly cache = new Map<string, Database.Statement>();

  constructor(file: string) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("foreign_keys = ON");
  }

  private stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /**
   * Set while a transaction is open: the connection is shared, so other calls wait for it. Each
   * waits with `while (this.gate) await this.gate` inline, so that no turn passes between seeing
   * the gate open and running its statement (or closing the gate for its own transaction).
   */
  private gate: Promise<void> | null = null;

  private allNow<T>(sql: string, params: readonly SqlValue[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  private runNow(sql: string, params: readonly SqlValue[]): RunResult {
    // A statement with RETURNING is not a "run" statement for better-sqlite3; callers use all().
    return { changes: this.stmt(sql).run(...params).changes };
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    while (this.gate) await this.gate;
    return this.allNow<T>(sql, params);
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    while (this.gate) await this.gate;
    return this.stmt(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    while (this.gate) await this.gate;
    return this.runNow(sql, params);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    while (this.gate) await this.gate;
    let open!: () => void;
    this.gate = new Promise<void>((r) => (open = r));
    const tx: Db = {
      dialect: "sqlite",
      all: async <R>(sql: string, params: readonly SqlValue[] = []) => this.allNow<R>(sql, params),
      get: async <R>(sql: string, params: readonly SqlValue[] = []) => this.stmt(sql).get(...params) as R | undefined,
      run: async (sql: string, params: readonly SqlValue[] = []) => this.runNow(sql, params),
      transaction: (inner) => inner(tx),
      migrate: () => Promise.reject(new Error("migrate inside a transaction")),
      close: () => Promise.reject(new Error("close inside a transaction")),
    };
    try {
      // IMMEDIATE takes the file's write lock now (other processes wait up to busy_timeout).
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const out = await fn(tx);
        this.db.exec("COMMIT");
        return out;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    } finally {
      this.gate = null;
      open();
    }
  }

  async migrate(statements: readonly string[], record: { id: number; name: string; appliedAt: number }): Promise<void> {
    const apply = this.db.transaction(() => {
      // Another process may have applied it between our read and this (write-locked) transaction.
      if (this.db.prepare("SELECT 1 FROM schema_migrations WHERE id = ?").get(record.id)) return;
      for (const s of statements) this.db.exec(s);
      this.db.prepare("INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)").run(record.id, record.name, record.appliedAt);
    });
    apply.immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
