// The schema as an ordered list of migrations in SQL that SQLite and PostgreSQL both accept:
// TEXT ids (24 hex digits, like Lightly's ids), BIGINT milliseconds since the epoch, INTEGER flags,
// JSON kept as TEXT. A migration once released is never edited; changes come as new entries.
import type { Db } from "./driver.js";

/** A statement both dialects accept, or one per dialect (e.g. reading JSON: json_each vs json_array_elements_text). */
export type MigrationStatement = string | { sqlite: string; postgres: string };

export interface Migration {
  id: number;
  name: string;
  statements: MigrationStatement[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: "initial",
    statements: [
      `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
      // A token is a secret; only its SHA-256 is stored. `owner` is the account whose records it sees.
      `CREATE TABLE tokens (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
         created_at BIGINT NOT NULL, revoked_at BIGINT)`,
      `CREATE TABLE datasets (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, datasource TEXT NOT NULL,
         created_at BIGINT NOT NULL, UNIQUE (owner, name))`,
      `CREATE TABLE workers (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL,
         created_at BIGINT NOT NULL, last_heartbeat BIGINT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)`,
      `CREATE TABLE configs (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, worker_config TEXT NOT NULL, selection_config TEXT,
         lightly_config TEXT NOT NULL, created_at BIGINT NOT NULL)`,
      `CREATE TABLE scheduled_runs (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, dataset_id TEXT NOT NULL REFERENCES datasets (id),
         config_id TEXT NOT NULL REFERENCES configs (id), priority TEXT NOT NULL, priority_rank INTEGER NOT NULL,
         runs_on TEXT NOT NULL, state TEXT NOT NULL, worker_id TEXT, run_id TEXT,
         cancel_requested INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, modified_at BIGINT NOT NULL)`,
      `CREATE INDEX scheduled_runs_queue ON scheduled_runs (owner, state, priority_rank, created_at)`,
      `CREATE TABLE runs (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, dataset_id TEXT NOT NULL REFERENCES datasets (id),
         scheduled_run_id TEXT NOT NULL UNIQUE REFERENCES scheduled_runs (id), config_id TEXT NOT NULL,
         worker_id TEXT NOT NULL, state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', progress TEXT,
         checkpoint_source TEXT, created_at BIGINT NOT NULL, modified_at BIGINT NOT NULL, ended_at BIGINT)`,
      `CREATE INDEX runs_dataset ON runs (owner, dataset_id, created_at)`,
      `CREATE INDEX runs_worker ON runs (worker_id, state)`,
      `CREATE TABLE artifacts (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, run_id TEXT NOT NULL REFERENCES runs (id), name TEXT NOT NULL,
         type TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL, storage_key TEXT NOT NULL,
         created_at BIGINT NOT NULL, UNIQUE (run_id, name))`,
      `CREATE TABLE run_log_lines (
         run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL, at BIGINT NOT NULL, line TEXT NOT NULL,
         PRIMARY KEY (run_id, seq))`,
    ],
  },
  {
    id: 2,
    name: "claim by labels in SQL, paged listings",
    statements: [
      // A scheduled run's runs_on labels as rows, so the claim query filters in SQL (a run fits a
      // worker when none of its labels is missing from the worker's) instead of a window of rows.
      `CREATE TABLE scheduled_run_labels (
         scheduled_run_id TEXT NOT NULL REFERENCES scheduled_runs (id), label TEXT NOT NULL,
         PRIMARY KEY (scheduled_run_id, label))`,
      // Runs that may still be claimed (OPEN), or become OPEN again (a LOCKED one without a run row).
      {
        sqlite: `INSERT INTO scheduled_run_labels (scheduled_run_id, label)
                 SELECT DISTINCT s.id, j.value FROM scheduled_runs s, json_each(s.runs_on) j
                 WHERE s.state IN ('OPEN', 'LOCKED')`,
        postgres: `INSERT INTO scheduled_run_labels (scheduled_run_id, label)
                   SELECT DISTINCT s.id, j.value FROM scheduled_runs s CROSS JOIN LATERAL json_array_elements_text(s.runs_on::json) AS j(value)
                   WHERE s.state IN ('OPEN', 'LOCKED')`,
      },
      // The claim's order (priority first, then age) as an index, so it stops at the first fit.
      `CREATE INDEX scheduled_runs_claim ON scheduled_runs (owner, state, priority_rank DESC, created_at, id)`,
      `CREATE INDEX scheduled_runs_dataset ON scheduled_runs (dataset_id, state)`,
      // Paged run listings: all of an owner's runs, or one state's, in creation order.
      `CREATE INDEX runs_owner_created ON runs (owner, created_at, id)`,
      `CREATE INDEX runs_owner_state ON runs (owner, state, created_at, id)`,
      `CREATE INDEX workers_owner_name ON workers (owner, name)`,
    ],
  },
  {
    // Automatic resume of CRASHED runs (worker_config.max_retries): a re-queued scheduled run names
    // the crashed run it continues and counts its attempt (0 = the run as the user scheduled it).
    id: 3,
    name: "scheduled-run-resume",
    statements: [
      `ALTER TABLE scheduled_runs ADD COLUMN resume_run_id TEXT`,
      `ALTER TABLE scheduled_runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0`,
    ],
  },
  {
    // Names users give a COMPLETED run's selection (src/db/tags.ts); a run's own id needs no row.
    id: 4,
    name: "tags",
    statements: [
      `CREATE TABLE tags (
         id TEXT PRIMARY KEY, owner TEXT NOT NULL, dataset_id TEXT NOT NULL REFERENCES datasets (id),
         run_id TEXT NOT NULL REFERENCES runs (id), name TEXT NOT NULL, created_at BIGINT NOT NULL,
         UNIQUE (dataset_id, name))`,
      `CREATE INDEX tags_run ON tags (run_id)`,
    ],
  },
];

/** Applies the migrations not yet applied, in order; returns the ids applied now. */
export async function migrate(db: Db, now = Date.now()): Promise<number[]> {
  return db.withLock ? db.withLock(() => migrateNow(db, now)) : migrateNow(db, now);
}

async function migrateNow(db: Db, now: number): Promise<number[]> {
  await db.run(`CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
  const done = new Set((await db.all<{ id: number }>(`SELECT id FROM schema_migrations`)).map((r) => Number(r.id)));
  const known = new Set(MIGRATIONS.map((m) => m.id));
  for (const id of done) {
    if (!known.has(id)) throw new Error(`database has migration ${id}, which this Winnow does not know: it was written by a newer version`);
  }
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.id)) continue;
    const sql = m.statements.map((st) => (typeof st === "string" ? st : st[db.dialect]));
    await db.migrate(sql, { id: m.id, name: m.name, appliedAt: now });
    applied.push(m.id);
  }
  return applied;
}
