// Tags: names for a COMPLETED run's selection (its SELECTED_FILENAMES artifact), per dataset.
// Every COMPLETED run with a selection is a tag named after its run id without a row; users add
// other names (CLI / client). SIMILARITY's input.tag_name resolves through these at schedule time
// and the worker gets the tag's filenames with the job.
import type { Db } from "./driver.js";
import type { ArtifactData, TagData } from "./records.js";
import { newId, ConflictError } from "./store.js";

// TagData lives with the other API records (records.ts), which the web UI type-checks without the driver.
export type { TagData } from "./records.js";

/** Lightly's tag name rule (letters, digits, space . : ; = @ _ -; 3+ characters, no leading punctuation). */
export const TAG_NAME = /^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]{2,127}$/;

type Row = Record<string, unknown>;

export class TagStore {
  constructor(private readonly db: Db, private readonly clock: () => number = Date.now) {}

  /** The COMPLETED run with a selection, or why not (null: no such run of the owner). */
  private async taggable(owner: string, runId: string): Promise<{ dataset_id: string; ended: number } | string | null> {
    const r = await this.db.get<Row>(`SELECT dataset_id, state, ended_at, created_at FROM runs WHERE id = ? AND owner = ?`, [runId, owner]);
    if (!r) return null;
    if (r.state !== "COMPLETED") return `run ${runId} is ${String(r.state)}; only a COMPLETED run's selection is a tag`;
    const a = await this.db.get<Row>(`SELECT id FROM artifacts WHERE run_id = ? AND type = 'SELECTED_FILENAMES'`, [runId]);
    if (!a) return `run ${runId} uploaded no selected_filenames.txt`;
    return { dataset_id: String(r.dataset_id), ended: Number(r.ended_at ?? r.created_at) };
  }

  /** Names the run's selection; ConflictError when the dataset has the name already. */
  async create(owner: string, runId: string, name: string): Promise<TagData | string | null> {
    const t = await this.taggable(owner, runId);
    if (t === null || typeof t === "string") return t;
    const clash = await this.db.get<Row>(
      `SELECT 1 AS x FROM tags WHERE dataset_id = ? AND name = ? UNION ALL SELECT 1 AS x FROM runs WHERE dataset_id = ? AND id = ? AND id <> ?`,
      [t.dataset_id, name, t.dataset_id, name, runId],
    );
    if (clash) throw new ConflictError(`dataset ${t.dataset_id} has a tag named ${JSON.stringify(name)} already`);
    const now = this.clock();
    try {
      await this.db.run(`INSERT INTO tags (id, owner, dataset_id, run_id, name, created_at) VALUES (?, ?, ?, ?, ?, ?)`, [newId(), owner, t.dataset_id, runId, name, now]);
    } catch (e) {
      // The same name given at the same time (UNIQUE (dataset_id, name)).
      if (/unique|23505/i.test(`${(e as { code?: string }).code} ${(e as Error).message}`)) throw new ConflictError(`dataset ${t.dataset_id} has a tag named ${JSON.stringify(name)} already`);
      throw e;
    }
    return { name, run_id: runId, dataset_id: t.dataset_id, user_given: true, created_at: now };
  }

  /** The run's tags: its own name first (COMPLETED runs with a selection), then the given ones. */
  async ofRun(owner: string, runId: string): Promise<TagData[] | null> {
    const r = await this.db.get<Row>(`SELECT dataset_id FROM runs WHERE id = ? AND owner = ?`, [runId, owner]);
    if (!r) return null;
    const t = await this.taggable(owner, runId);
    const own: TagData[] = t && typeof t !== "string" ? [{ name: runId, run_id: runId, dataset_id: t.dataset_id, user_given: false, created_at: t.ended }] : [];
    const rows = await this.db.all<Row>(`SELECT name, created_at FROM tags WHERE run_id = ? AND owner = ? ORDER BY created_at, name`, [runId, owner]);
    return [...own, ...rows.map((x) => ({ name: String(x.name), run_id: runId, dataset_id: String(r.dataset_id), user_given: true, created_at: Number(x.created_at) }))];
  }

  /** The given names of a dataset (its runs' own names are not listed). */
  async ofDataset(owner: string, datasetId: string): Promise<TagData[]> {
    const rows = await this.db.all<Row>(`SELECT name, run_id, created_at FROM tags WHERE dataset_id = ? AND owner = ? ORDER BY created_at, name`, [datasetId, owner]);
    return rows.map((x) => ({ name: String(x.name), run_id: String(x.run_id), dataset_id: datasetId, user_given: true, created_at: Number(x.created_at) }));
  }

  /** Each name that is a tag of the dataset → the SELECTED_FILENAMES artifact (id) of its run. */
  async resolve(owner: string, datasetId: string, names: readonly string[]): Promise<Map<string, { run_id: string; artifact_id: string }>> {
    const out = new Map<string, { run_id: string; artifact_id: string }>();
    for (const name of names) {
      const given = await this.db.get<Row>(`SELECT run_id FROM tags WHERE dataset_id = ? AND owner = ? AND name = ?`, [datasetId, owner, name]);
      const runId = given ? String(given.run_id) : name;
      const a = await this.db.get<Row>(
        `SELECT a.id FROM artifacts a JOIN runs r ON r.id = a.run_id
         WHERE r.id = ? AND r.owner = ? AND r.dataset_id = ? AND r.state = 'COMPLETED' AND a.type = 'SELECTED_FILENAMES'`,
        [runId, owner, datasetId],
      );
      if (a) out.set(name, { run_id: runId, artifact_id: String(a.id) });
    }
    return out;
  }
}

export type { ArtifactData };
