// The part of better-sqlite3's API that sqlite.ts uses (the package ships no types and
// @types/better-sqlite3 is not a dependency).
declare module "better-sqlite3" {
  namespace Database {
    interface Statement {
      all(...params: unknown[]): unknown[];
      get(...params: unknown[]): unknown;
      run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
    }
    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
    }
    interface Database {
      prepare(sql: string): Statement;
      exec(sql: string): this;
      pragma(sql: string): unknown;
      transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
      readonly inTransaction: boolean;
      close(): this;
    }
  }
  const Database: new (file: string, options?: Record<string, unknown>) => Database.Database;
  export default Database;
}
