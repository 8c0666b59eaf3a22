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

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.stmt(sql).all(...params) as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    const s = this.stmt(sql);
    // A statement with RETURNING is not a "run" statement for better-sqlite3; callers use all().
    return { changes: s.run(...params).changes };
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
