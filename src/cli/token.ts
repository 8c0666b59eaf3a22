// `winnow token create|list|revoke`: API tokens, written straight into the server's database (run it
// where the database is). The secret is printed once; only its SHA-256 is stored.
import type { Command } from "commander";

export function register(program: Command): void {
  const token = program.command("token").description("Create, list and revoke API tokens of a Winnow server's database.");
  const withDb = async <T>(file: string, fn: (store: import("../db/store.js").Store) => Promise<T>): Promise<T> => {
    const { openDb } = await import("../db/driver.js");
    const { migrate } = await import("../db/migrations.js");
    const { Store } = await import("../db/store.js");
    const db = await openDb(file);
    try {
      await migrate(db);
      return await fn(new Store(db));
    } finally {
      await db.close();
    }
  };
  token
    .command("create")
    .description("Create a token and print it (once). Tokens of one owner see the same records; a new token gets a new owner unless --owner is given.")
    .option("--database <file>", "the server's database: SQLite file or postgres:// URL", "winnow-service/winnow.db")
    .option("--name <name>", "a label for the token", "default")
    .option("--owner <id>", "share the records of this owner (see `winnow token list`)")
    .option("--json", "print {id, owner, token} as JSON")
    .action(async (o: { database: string; name: string; owner?: string; json?: boolean }) => {
      const t = await withDb(o.database, (s) => s.createToken(o.name, o.owner));
      process.stdout.write(o.json ? `${JSON.stringify(t)}\n` : `${t.token}\n`);
      if (!o.json) process.stderr.write(`token ${t.id} (owner ${t.owner}) created; it is shown only now\n`);
    });
  token
    .command("list")
    .description("List tokens (ids, owners, names; never the secrets).")
    .option("--database <file>", "the server's database: SQLite file or postgres:// URL", "winnow-service/winnow.db")
    .action(async (o: { database: string }) => {
      const rows = await withDb(o.database, (s) => s.listTokens());
      for (const r of rows) process.stdout.write(`${r.id}  owner ${r.owner}  ${r.revoked ? "revoked" : "active "}  ${new Date(r.created_at).toISOString()}  ${r.name}\n`);
    });
  token
    .command("revoke <id>")
    .description("Revoke a token: requests with it answer 401 from now on.")
    .option("--database <file>", "the server's database: SQLite file or postgres:// URL", "winnow-service/winnow.db")
    .action(async (id: string, o: { database: string }) => {
      const { CliError } = await import("./index.js");
      if (!(await withDb(o.database, (s) => s.revokeToken(id)))) throw new CliError(`token ${id}: no such active token`);
      process.stdout.write(`token ${id} revoked\n`);
    });
}
