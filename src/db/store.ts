// Every read and write of service records, owner-scoped: each method takes the owner of the calling
// token and never returns another owner's row (a foreign id reads as "not found", so ids do not
// leak which records exist). Plain SQL through the Db seam; exactly-once decisions are conditional
// UPDATEs, and writes that must land together run in one transaction (see driver.ts).
// Over 400 lines as one idea, the owner-scoped record store; a split by resource (runs, datasets,
// workers, tokens) is the next step if it grows.
import { createHash, randomBytes } from "node:crypto";
import type { Db, SqlValue } from "./driver.js";
import { WinnowError } from "../util/errors.js";
import {
  RUN_END_STATES, priorityRank,
  type ArtifactData, type ArtifactType, type ConfigData, type DatasetData, type Priority, type RunData,
  type RunProgress, type RunState, type ScheduledRunData, type ScheduledState, type WorkerData,
} from "./records.js";

/** A 24-hex-digit id, the shape of Lightly's ids. */
export const newId = (): string => randomBytes(12).toString("hex");

export const TOKEN_PREFIX = "wnw_";
export const hashToken = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex");

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const json = <T>(v: unknown): T => JSON.parse(String(v)) as T;

function datasetOf(r: Row): DatasetData {
  return { id: String(r.id), name: String(r.name), datasource: String(r.datasource), created_at: num(r.created_at) };
}
function workerOf(r: Row): WorkerData {
  return { id: String(r.id), name: String(r.name), labels: json<string[]>(r.labels), created_at: num(r.created_at), last_heartbeat: num(r.last_heartbeat) };
}
function configOf(r: Row): ConfigData {
  return {
    id: String(r.id), worker_config: json(r.worker_config), lightly_config: json(r.lightly_config),
    selection_config: r.selection_config == null ? null : json(r.selection_config), created_at: num(r.created_at),
  };
}
function scheduledOf(r: Row): ScheduledRunData {
  return {
    id: String(r.id), dataset_id: String(r.dataset_id), config_id: String(r.config_id), priority: r.priority as Priority,
    runs_on: json<string[]>(r.runs_on), state: r.state as ScheduledState, worker_id: (r.worker_id as string) ?? null,
    run_id: (r.run_id as string) ?? null, cancel_requested: num(r.cancel_requested) === 1,
    created_at: num(r.created_at), last_modified_at: num(r.modified_at),
  };
}
function artifactOf(r: Row): ArtifactData {
  return {
    id: String(r.id), run_id: String(r.run_id), file_name: String(r.name), type: r.type as ArtifactType,
    size: num(r.size), sha256: String(r.sha256), created_at: num(r.created_at),
  };
}
function runOf(r: Row, artifacts: ArtifactData[]): RunData {
  return {
    id: String(r.id), dataset_id: String(r.dataset_id), scheduled_id: String(r.scheduled_run_id), config_id: String(r.config_id),
    worker_id: String(r.worker_id), state: r.state as RunState, message: String(r.message),
    progress: r.progress == null ? null : json<RunProgress>(r.progress), checkpoint_source: (r.checkpoint_source as string) ?? null,
    artifacts, created_at: num(r.created_at), last_modified_at: num(r.modified_at), ended_at: r.ended_at == null ? null : num(r.ended_at),
  };
}

const END_LIST = [...RUN_END_STATES].map((s) => `'${s}'`).join(", ");

/** The channel on which a schedule wakes the claimers of every server on the database (PostgreSQL). */
export const SCHEDULED_CHANNEL = "winnow_scheduled";

/** Most log lines one readLog returns (GET /v1/runs/{id}/log pages with `after`). */
export const LOG_PAGE = 10_000;

/** Ids per `IN (…)` list: SQLite allows 32,766 variables per statement; long lists are cut into chunks. */
const IN_CHUNK = 500;
/** Rows per read of an unpaged listing (see listAllRuns). */
const LIST_PAGE = 1000;

/** Filters and page of a run listing. */
export interface RunQuery {
  datasetId?: string;
  state?: RunState;
  /** Runs of this worker only. */
  workerId?: string;
  /** Runs not in an end state only (the workers page's current run). */
  active?: boolean;
  /** Newest first (the UI's overview) instead of oldest first (Lightly's order). */
  newestFirst?: boolean;
  /** Page size; absent: every matching run. */
  limit?: number;
  offset?: number;
}

export interface Principal {
  tokenId: string;
  owner: string;
}

export class Store {
  constructor(readonly db: Db, private readonly clock: () => number = Date.now) {}

  // ---- settings (the URL-signing secret lives here so restarts and replicas share it) ---------

  async setting(key: string, init: () => string): Promise<string> {
    const have = await this.db.get<Row>(`SELECT value FROM settings WHERE key = ?`, [key]);
    if (have) return String(have.value);
    // Two replicas starting at once: the loser's INSERT is ignored and both read the winner's value.
    await this.db.run(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, [key, init()]);
    return String((await this.db.get<Row>(`SELECT value FROM settings WHERE key = ?`, [key]))!.value);
  }

  // ---- tokens -----------------------------------------------------------------------------------

  /** Creates a token; the secret is returned once and only its hash is stored. */
  async createToken(name: string, owner?: string): Promise<{ id: string; owner: string; token: string }> {
    const id = newId();
    const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const o = owner ?? newId();
    await this.db.run(`INSERT INTO tokens (id, owner, name, hash, created_at) VALUES (?, ?, ?, ?, ?)`, [id, o, name, hashToken(token), this.clock()]);
    return { id, owner: o, token };
  }

  async authenticate(token: string): Promise<Principal | null> {
    const r = await this.db.get<Row>(`SELECT id, owner FROM tokens WHERE hash = ? AND revoked_at IS NULL`, [hashToken(token)]);
    return r ? { tokenId: String(r.id), owner: String(r.owner) } : null;
  }

  /** A token id still valid (not revoked): signed URLs carry the id of the token that made them. */
  async tokenActive(id: string): Promise<boolean> {
    return (await this.db.get(`SELECT 1 AS x FROM tokens WHERE id = ? AND revoked_at IS NULL`, [id])) !== undefined;
  }

  async listTokens(): Promise<{ id: string; owner: string; name: string; created_at: number; revoked: boolean }[]> {
    const rows = await this.db.all<Row>(`SELECT id, owner, name, created_at, revoked_at FROM tokens ORDER BY created_at, id`);
    return rows.map((r) => ({ id: String(r.id), owner: String(r.owner), name: String(r.name), created_at: num(r.created_at), revoked: r.revoked_at != null }));
  }

  async revokeToken(id: string): Promise<boolean> {
    return (await this.db.run(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, [this.clock(), id])).changes === 1;
  }

  // ---- datasets -----------------------------------------------------------------------------------

  async createDataset(owner: string, name: string, datasource: string): Promise<DatasetData> {
    const id = newId();
    const now = this.clock();
    const res = await this.db.run(
      `INSERT INTO datasets (id, owner, name, datasource, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, name) DO NOTHING`,
      [id, owner, name, datasource, now],
    );
    if (res.changes === 0) throw new ConflictError(`a dataset named ${JSON.stringify(name)} exists already`);
    return { id, name, datasource, created_at: now };
  }

  async getDataset(owner: string, id: string): Promise<DatasetData | null> {
    const r = await this.db.get<Row>(`SELECT * FROM datasets WHERE id = ? AND owner = ?`, [id, owner]);
    return r ? datasetOf(r) : null;
  }

  async listDatasets(owner: string, name?: string): Promise<DatasetData[]> {
    const rows = name === undefined
      ? await this.db.all<Row>(`SELECT * FROM datasets WHERE owner = ? ORDER BY created_at, id`, [owner])
      : await this.db.all<Row>(`SELECT * FROM datasets WHERE owner = ? AND name = ? ORDER BY created_at, id`, [owner, name]);
    return rows.map(datasetOf);
  }

  /**
   * Deletes a dataset with its scheduled runs, runs, log lines and artifact records, in one
   * transaction; answers the storage keys of the deleted artifacts (the caller deletes the bytes)
   * or null when there is no such dataset. Refused (ConflictError) while a run of it is queued or
   * running. Configs are not the dataset's (they may be shared) and stay.
   */
  async deleteDataset(owner: string, id: string): Promise<{ storageKeys: string[] } | null> {
    try {
      return await this.db.transaction(async (tx) => {
        if (!(await tx.get<Row>(`SELECT id FROM datasets WHERE id = ? AND owner = ?`, [id, owner]))) return null;
        const active = await tx.get<Row>(`SELECT COUNT(*) AS n FROM scheduled_runs WHERE dataset_id = ? AND state IN ('OPEN', 'LOCKED')`, [id]);
        if (num(active?.n) > 0) {
          throw new ConflictError(`dataset ${id} has ${num(active?.n)} queued or running run(s): cancel them (cancelScheduledComputeWorkerRun) and let them end first`);
        }
        const runsOf = `SELECT id FROM runs WHERE dataset_id = ?`;
        const keys = (await tx.all<Row>(`SELECT storage_key FROM artifacts WHERE run_id IN (${runsOf})`, [id])).map((r) => String(r.storage_key));
        await tx.run(`DELETE FROM tags WHERE dataset_id = ?`, [id]);
        await tx.run(`DELETE FROM artifacts WHERE run_id IN (${runsOf})`, [id]);
        await tx.run(`DELETE FROM run_log_lines WHERE run_id IN (${runsOf})`, [id]);
        await tx.run(`DELETE FROM runs WHERE dataset_id = ?`, [id]);
        await tx.run(`DELETE FROM scheduled_run_labels WHERE scheduled_run_id IN (SELECT id FROM scheduled_runs WHERE dataset_id = ?)`, [id]);
        await tx.run(`DELETE FROM scheduled_runs WHERE dataset_id = ?`, [id]);
        await tx.run(`DELETE FROM datasets WHERE id = ? AND owner = ?`, [id, owner]);
        return { storageKeys: keys };
      });
    } catch (e) {
      // A run scheduled on it meanwhile (another server) makes the dataset's DELETE violate a foreign key.
      if (isForeignKeyViolation(e)) throw new ConflictError(`dataset ${id} got a new scheduled run while being deleted; nothing was deleted`);
      throw e;
    }
  }

  // ---- workers ------------------------------------------------------------------------------------

  /**
   * Registers a worker, or (as Lightly does) answers the owner's existing worker of that name with
   * its labels replaced. Two registrations racing on PostgreSQL may both insert; every later one
   * then answers the oldest of them. A worker registers when its process starts, so runs still
   * going under that name belonged to a process that is gone: they end CRASHED, as a silent
   * worker's would (the new process's heartbeats would otherwise keep them alive forever).
   */
  async registerWorker(owner: string, name: string, labels: string[]): Promise<WorkerData> {
    const w = await this.upsertWorker(owner, name, labels);
    const held = await this.db.all<Row>(`SELECT id FROM runs WHERE worker_id = ? AND owner = ? AND state NOT IN (${END_LIST})`, [w.id, owner]);
    for (const r of held) {
      await this.updateRun(owner, String(r.id), w.id, {
        state: "CRASHED",
        message: `worker ${w.id} (${JSON.stringify(name)}) registered again, so the process running this run is gone; artifacts uploaded before are kept, and checkpoint_run_id=${r.id} resumes from its last checkpoint`,
      });
    }
    return w;
  }

  private async upsertWorker(owner: string, name: string, labels: string[]): Promise<WorkerData> {
    const now = this.clock();
    return this.db.transaction(async (tx) => {
      const have = await tx.get<Row>(`SELECT * FROM workers WHERE owner = ? AND name = ? AND deleted = 0 ORDER BY created_at, id LIMIT 1`, [owner, name]);
      if (have) {
        await tx.run(`UPDATE workers SET labels = ?, last_heartbeat = ? WHERE id = ?`, [JSON.stringify(labels), now, String(have.id)]);
        return { ...workerOf(have), labels, last_heartbeat: now };
      }
      const id = newId();
      await tx.run(
        `INSERT INTO workers (id, owner, name, labels, created_at, last_heartbeat) VALUES (?, ?, ?, ?, ?, ?)`,
        [id, owner, name, JSON.stringify(labels), now, now],
      );
      return { id, name, labels, created_at: now, last_heartbeat: now };
    });
  }

  async getWorker(owner: string, id: string): Promise<WorkerData | null> {
    const r = await this.db.get<Row>(`SELECT * FROM workers WHERE id = ? AND owner = ? AND deleted = 0`, [id, owner]);
    return r ? workerOf(r) : null;
  }

  async listWorkers(owner: string): Promise<WorkerData[]> {
    return (await this.db.all<Row>(`SELECT * FROM workers WHERE owner = ? AND deleted = 0 ORDER BY created_at, id`, [owner])).map(workerOf);
  }

  async deleteWorker(owner: string, id: string): Promise<boolean> {
    return (await this.db.run(`UPDATE workers SET deleted = 1 WHERE id = ? AND owner = ? AND deleted = 0`, [id, owner])).changes === 1;
  }

  async heartbeat(owner: string, id: string): Promise<boolean> {
    return (await this.db.run(`UPDATE workers SET last_heartbeat = ? WHERE id = ? AND owner = ? AND deleted = 0`, [this.clock(), id, owner])).changes === 1;
  }

  // ---- configs ------------------------------------------------------------------------------------

  async createConfig(owner: string, c: { worker_config: object; selection_config: object | null; lightly_config: object }): Promise<ConfigData> {
    const id = newId();
    const now = this.clock();
    await this.db.run(
      `INSERT INTO configs (id, owner, worker_config, selection_config, lightly_config, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
      [id, owner, JSON.stringify(c.worker_config), c.selection_config == null ? null : JSON.stringify(c.selection_config), JSON.stringify(c.lightly_config), now],
    );
    return { id, ...c, created_at: now } as ConfigData;
  }

  async getConfig(owner: string, id: string): Promise<ConfigData | null> {
    const r = await this.db.get<Row>(`SELECT * FROM configs WHERE id = ? AND owner = ?`, [id, owner]);
    return r ? configOf(r) : null;
  }

  // ---- scheduled runs -------------------------------------------------------------------------------

  async schedule(owner: string, datasetId: string, configId: string, priority: Priority, runsOn: string[]): Promise<ScheduledRunData> {
    const id = newId();
    const now = this.clock();
    const labels = [...new Set(runsOn)];
    await this.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO scheduled_runs (id, owner, dataset_id, config_id, priority, priority_rank, runs_on, state, created_at, modified_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'OPEN', ?, ?)`,
        [id, owner, datasetId, configId, priority, priorityRank(priority), JSON.stringify(runsOn), now, now],
      );
      for (const l of labels) await tx.run(`INSERT INTO scheduled_run_labels (scheduled_run_id, label) VALUES (?, ?)`, [id, l]);
    });
    // Claimers long-polling other servers of this database wake now instead of at their next poll.
    await this.db.notify?.(SCHEDULED_CHANNEL, owner).catch(() => {});
    return (await this.getScheduled(owner, id))!;
  }

  async getScheduled(owner: string, id: string): Promise<ScheduledRunData | null> {
    const r = await this.db.get<Row>(`SELECT * FROM scheduled_runs WHERE id = ? AND owner = ?`, [id, owner]);
    return r ? scheduledOf(r) : null;
  }

  async listScheduled(owner: string, opts: { datasetId?: string; state?: ScheduledState } = {}): Promise<ScheduledRunData[]> {
    const where = ["owner = ?"];
    const params: SqlValue[] = [owner];
    if (opts.datasetId) (where.push("dataset_id = ?"), params.push(opts.datasetId));
    if (opts.state) (where.push("state = ?"), params.push(opts.state));
    return (await this.db.all<Row>(`SELECT * FROM scheduled_runs WHERE ${where.join(" AND ")} ORDER BY created_at, id`, params)).map(scheduledOf);
  }

  /**
   * Cancels a scheduled run: an OPEN one becomes CANCELED at once; a LOCKED one is flagged and its
   * worker aborts it (the run ends ABORTED, the scheduled run CANCELED). Returns the new record.
   */
  async cancelScheduled(owner: string, id: string): Promise<ScheduledRunData | null> {
    const now = this.clock();
    await this.db.run(`UPDATE scheduled_runs SET state = 'CANCELED', modified_at = ? WHERE id = ? AND owner = ? AND state = 'OPEN'`, [now, id, owner]);
    await this.db.run(`UPDATE scheduled_runs SET cancel_requested = 1, modified_at = ? WHERE id = ? AND owner = ? AND state = 'LOCKED'`, [now, id, owner]);
    return this.getScheduled(owner, id);
  }

  /**
   * Claims the highest-priority (then oldest) OPEN scheduled run whose `runs_on` labels the worker
   * all has, and creates its run. The fit is decided in SQL over every OPEN run (a run fits when
   * none of its labels is missing from the worker's), so non-fitting runs ahead in the queue cannot
   * hide a fitting one. Exactly-once: the UPDATE only succeeds while the row is still OPEN; the
   * LOCKED mark and the run row commit in one transaction, so no LOCKED run without a run exists.
   */
  async claim(owner: string, worker: WorkerData): Promise<{ scheduled: ScheduledRunData; run: RunData } | null> {
    const labels = [...new Set(worker.labels)];
    const missing = labels.length === 0
      ? `SELECT 1 FROM scheduled_run_labels l WHERE l.scheduled_run_id = s.id`
      : `SELECT 1 FROM scheduled_run_labels l WHERE l.scheduled_run_id = s.id AND l.label NOT IN (${labels.map(() => "?").join(", ")})`;
    const pick = `SELECT s.id, s.dataset_id, s.config_id FROM scheduled_runs s
                  WHERE s.owner = ? AND s.state = 'OPEN' AND NOT EXISTS (${missing})
                  ORDER BY s.priority_rank DESC, s.created_at, s.id LIMIT 1`;
    // Each lost race means another worker took that row; the next pick sees it LOCKED.
    for (let attempt = 0; attempt < 20; attempt++) {
      const s = await this.db.get<Row>(pick, [owner, ...labels]);
      if (!s) return null;
      const runId = newId();
      const now = this.clock();
      const won = await this.db.transaction(async (tx) => {
        const res = await tx.run(
          `UPDATE scheduled_runs SET state = 'LOCKED', worker_id = ?, run_id = ?, modified_at = ? WHERE id = ? AND state = 'OPEN'`,
          [worker.id, runId, now, String(s.id)],
        );
        if (res.changes !== 1) return false;
        await tx.run(
          `INSERT INTO runs (id, owner, dataset_id, scheduled_run_id, config_id, worker_id, state, message, created_at, modified_at)
           VALUES (?, ?, ?, ?, ?, ?, 'INITIALIZING', '', ?, ?)`,
          [runId, owner, String(s.dataset_id), String(s.id), String(s.config_id), worker.id, now, now],
        );
        return true;
      });
      if (won) return { scheduled: (await this.getScheduled(owner, String(s.id)))!, run: (await this.getRun(owner, runId))! };
    }
    return null;
  }

  /**
   * Defence for data written before claims were transactional: a LOCKED scheduled run without a
   * run row (its server died between the two writes) older than `graceMs` becomes OPEN again.
   * Answers how many were reopened.
   */
  async reclaimOrphanLocks(graceMs: number): Promise<number> {
    const now = this.clock();
    return (await this.db.run(
      `UPDATE scheduled_runs SET state = 'OPEN', worker_id = NULL, run_id = NULL, modified_at = ?
       WHERE state = 'LOCKED' AND modified_at < ? AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.scheduled_run_id = scheduled_runs.id)`,
      [now, now - graceMs],
    )).changes;
  }

  // ---- runs -------------------------------------------------------------------------------------------

  private async artifactsOf(runIds: string[]): Promise<Map<string, ArtifactData[]>> {
    const out = new Map<string, ArtifactData[]>(runIds.map((id) => [id, []]));
    for (let i = 0; i < runIds.length; i += IN_CHUNK) {
      const ids = runIds.slice(i, i + IN_CHUNK);
      const rows = await this.db.all<Row>(`SELECT * FROM artifacts WHERE run_id IN (${ids.map(() => "?").join(", ")}) ORDER BY created_at, name`, ids);
      for (const r of rows) out.get(String(r.run_id))!.push(artifactOf(r));
    }
    return out;
  }

  async getRun(owner: string, id: string): Promise<RunData | null> {
    const r = await this.db.get<Row>(`SELECT * FROM runs WHERE id = ? AND owner = ?`, [id, owner]);
    if (!r) return null;
    return runOf(r, (await this.artifactsOf([id])).get(id)!);
  }

  async getRunOfScheduled(owner: string, scheduledId: string): Promise<RunData | null> {
    const r = await this.db.get<Row>(`SELECT id FROM runs WHERE scheduled_run_id = ? AND owner = ?`, [scheduledId, owner]);
    return r ? this.getRun(owner, String(r.id)) : null;
  }

  private static runWhere(owner: string, q: RunQuery): { where: string; params: SqlValue[] } {
    const where = ["owner = ?"];
    const params: SqlValue[] = [owner];
    if (q.datasetId) (where.push("dataset_id = ?"), params.push(q.datasetId));
    if (q.state) (where.push("state = ?"), params.push(q.state));
    if (q.workerId) (where.push("worker_id = ?"), params.push(q.workerId));
    if (q.active) where.push("state NOT IN ('COMPLETED', 'ABORTED', 'FAILED', 'CRASHED')");
    return { where: where.join(" AND "), params };
  }

  /** Runs, oldest first (Lightly's order) unless `newestFirst`, filtered and paged in SQL. */
  async listRuns(owner: string, q: RunQuery = {}): Promise<RunData[]> {
    if (q.limit === undefined) return this.listAllRuns(owner, q);
    const { where, params } = Store.runWhere(owner, q);
    const order = q.newestFirst ? "created_at DESC, id DESC" : "created_at, id";
    const rows = await this.db.all<Row>(`SELECT * FROM runs WHERE ${where} ORDER BY ${order} LIMIT ? OFFSET ?`, [...params, q.limit, q.offset ?? 0]);
    const arts = await this.artifactsOf(rows.map((r) => String(r.id)));
    return rows.map((r) => runOf(r, arts.get(String(r.id))!));
  }

  /**
   * Every matching run, read in keyset pages with a turn of the event loop between them: SQLite
   * answers synchronously, so one 40,000-row read would hold up every other request meanwhile.
   */
  private async listAllRuns(owner: string, q: RunQuery): Promise<RunData[]> {
    const { where, params } = Store.runWhere(owner, q);
    const [cmp, order] = q.newestFirst ? ["<", "created_at DESC, id DESC"] : [">", "created_at, id"];
    const out: RunData[] = [];
    let after: { at: SqlValue; id: string } | null = null;
    for (;;) {
      const rows: Row[] = after === null
        ? await this.db.all<Row>(`SELECT * FROM runs WHERE ${where} ORDER BY ${order} LIMIT ?`, [...params, LIST_PAGE])
        : await this.db.all<Row>(
          `SELECT * FROM runs WHERE ${where} AND (created_at ${cmp} ? OR (created_at = ? AND id ${cmp} ?)) ORDER BY ${order} LIMIT ?`,
          [...params, after.at, after.at, after.id, LIST_PAGE],
        );
      const arts = await this.artifactsOf(rows.map((r) => String(r.id)));
      for (const r of rows) out.push(runOf(r, arts.get(String(r.id))!));
      if (rows.length < LIST_PAGE) return out;
      const last = rows[rows.length - 1]!;
      after = { at: num(last.created_at), id: String(last.id) };
      await new Promise((r) => setImmediate(r));
    }
  }

  async countRuns(owner: string, q: RunQuery = {}): Promise<number> {
    const { where, params } = Store.runWhere(owner, q);
    return num((await this.db.get<Row>(`SELECT COUNT(*) AS n FROM runs WHERE ${where}`, params))?.n);
  }

  /**
   * A worker's update of its own run. Refused (false) once the run has ended: a worker that was
   * declared dead cannot bring its run back. Ending states also close the scheduled run.
   */
  async updateRun(owner: string, runId: string, workerId: string, u: { state?: RunState; message?: string; progress?: RunProgress | null; checkpointSource?: string | null }): Promise<boolean> {
    const now = this.clock();
    const sets = ["modified_at = ?"];
    const params: SqlValue[] = [now];
    if (u.state) (sets.push("state = ?"), params.push(u.state));
    if (u.message !== undefined) (sets.push("message = ?"), params.push(u.message));
    if (u.progress !== undefined) (sets.push("progress = ?"), params.push(u.progress == null ? null : JSON.stringify(u.progress)));
    if (u.checkpointSource !== undefined) (sets.push("checkpoint_source = ?"), params.push(u.checkpointSource));
    const ending = u.state !== undefined && RUN_END_STATES.has(u.state);
    if (ending) (sets.push("ended_at = ?"), params.push(now));
    const res = await this.db.run(
      `UPDATE runs SET ${sets.join(", ")} WHERE id = ? AND owner = ? AND worker_id = ? AND state NOT IN (${END_LIST})`,
      [...params, runId, owner, workerId],
    );
    if (res.changes !== 1) return false;
    if (ending) await this.closeScheduled(runId, u.state === "ABORTED");
    return true;
  }

  private async closeScheduled(runId: string, aborted: boolean): Promise<void> {
    // A run aborted because its scheduled run was canceled leaves that one CANCELED, otherwise DONE.
    await this.db.run(
      `UPDATE scheduled_runs SET state = CASE WHEN cancel_requested = 1 AND ? = 1 THEN 'CANCELED' ELSE 'DONE' END, modified_at = ?
       WHERE run_id = ? AND state = 'LOCKED'`,
      [aborted ? 1 : 0, this.clock(), runId],
    );
  }

  /**
   * The dead-worker policy: every run still going on a worker whose last heartbeat is older than
   * `timeoutMs` ends CRASHED (its artifacts stay). Returns the ids of the runs ended now.
   */
  async reapDeadWorkers(timeoutMs: number): Promise<string[]> {
    const cutoff = this.clock() - timeoutMs;
    const stale = await this.db.all<Row>(
      `SELECT r.id, r.owner, r.worker_id, w.last_heartbeat FROM runs r JOIN workers w ON w.id = r.worker_id
       WHERE r.state NOT IN (${END_LIST}) AND w.last_heartbeat < ?`, [cutoff],
    );
    const ended: string[] = [];
    for (const r of stale) {
      const owner = String(r.owner);
      const secs = ((this.clock() - num(r.last_heartbeat)) / 1000).toFixed(1);
      const retry = await this.retryPlan(owner, String(r.id));
      const ok = await this.updateRun(owner, String(r.id), String(r.worker_id), {
        state: "CRASHED",
        message: `worker ${r.worker_id} sent no heartbeat for ${secs} s (timeout ${timeoutMs / 1000} s); artifacts uploaded before are kept; ${retry.message}`,
      });
      if (!ok) continue;
      ended.push(String(r.id));
      if (retry.requeue) await this.requeue(owner, retry.requeue);
    }
    return ended;
  }

  /**
   * Whether a run that is being declared CRASHED is queued again (worker_config.max_retries): only
   * with a CHECKPOINT to resume from and while its scheduled run's attempts are under the limit.
   */
  private async retryPlan(owner: string, runId: string): Promise<{ message: string; requeue: { id: string; from: Row; attempt: number } | null }> {
    const s = await this.db.get<Row>(
      `SELECT s.*, c.worker_config AS wc FROM runs r JOIN scheduled_runs s ON s.id = r.scheduled_run_id JOIN configs c ON c.id = r.config_id
       WHERE r.id = ? AND r.owner = ?`, [runId, owner],
    );
    const max = Number((s ? json<{ max_retries?: unknown }>(s.wc) : {}).max_retries ?? 0) || 0;
    const manual = `checkpoint_run_id=${runId} continues from its last checkpoint`;
    if (!s || max <= 0) return { message: manual, requeue: null };
    const attempt = num(s.attempt ?? 0);
    if (attempt >= max) return { message: `not resumed again: worker_config.max_retries (${max}) reached; ${manual}`, requeue: null };
    const ckpt = await this.db.get<Row>(`SELECT id FROM artifacts WHERE run_id = ? AND type = 'CHECKPOINT'`, [runId]);
    if (!ckpt) return { message: `not resumed: it uploaded no checkpoint before it crashed (worker_config.max_retries ${max})`, requeue: null };
    const id = newId();
    return { message: `resumed automatically as scheduled run ${id} (retry ${attempt + 1} of ${max})`, requeue: { id, from: s, attempt: attempt + 1 } };
  }

  private async requeue(owner: string, q: { id: string; from: Row; attempt: number }): Promise<void> {
    const f = q.from;
    const now = this.clock();
    // Its runs_on labels as rows too: the claim filters by them (a requeued run without them would
    // fit every worker).
    const labels = [...new Set(json<string[]>(f.runs_on))];
    await this.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO scheduled_runs (id, owner, dataset_id, config_id, priority, priority_rank, runs_on, state, created_at, modified_at, resume_run_id, attempt)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, ?)`,
        [q.id, owner, String(f.dataset_id), String(f.config_id), String(f.priority), num(f.priority_rank), String(f.runs_on), now, now, String(f.run_id), q.attempt],
      );
      for (const l of labels) await tx.run(`INSERT INTO scheduled_run_labels (scheduled_run_id, label) VALUES (?, ?)`, [q.id, l]);
    });
    await this.db.notify?.(SCHEDULED_CHANNEL, owner).catch(() => {});
  }

  /** The crashed run a scheduled run resumes (automatic resume), and its attempt; null for a run as scheduled. */
  async resumeOf(owner: string, scheduledId: string): Promise<{ runId: string; attempt: number } | null> {
    const r = await this.db.get<Row>(`SELECT resume_run_id, attempt FROM scheduled_runs WHERE id = ? AND owner = ?`, [scheduledId, owner]);
    return r?.resume_run_id ? { runId: String(r.resume_run_id), attempt: num(r.attempt) } : null;
  }

  /**
   * Appends log lines, refused (false) once the run has ended: one INSERT … SELECT whose WHERE
   * checks the run's state, so a line cannot slip in after the end (PostgreSQL: the run's row is
   * share-locked, so an ending UPDATE waits for the append or the append sees the end).
   */
  async appendLog(owner: string, runId: string, lines: string[]): Promise<boolean> {
    if (lines.length === 0) return (await this.db.get(`SELECT 1 AS x FROM runs WHERE id = ? AND owner = ? AND state NOT IN (${END_LIST})`, [runId, owner])) !== undefined;
    const values = lines.map((_, i) => `(${i}, ?)`).join(", ");
    const res = await this.db.run(
      `INSERT INTO run_log_lines (run_id, seq, at, line)
       SELECT r.id, b.column1 + (SELECT COALESCE(MAX(l.seq), -1) + 1 FROM run_log_lines l WHERE l.run_id = r.id), CAST(? AS BIGINT), b.column2
       FROM runs r CROSS JOIN (VALUES ${values}) AS b
       WHERE r.id = ? AND r.owner = ? AND r.state NOT IN (${END_LIST})${this.lockRun()}`,
      [this.clock(), ...lines, runId, owner],
    );
    return res.changes > 0;
  }

  /** PostgreSQL: lock the run row read by an INSERT … SELECT (its WHERE is re-checked after a concurrent end). */
  private lockRun(): string {
    return this.db.dialect === "postgres" ? " FOR SHARE OF r" : "";
  }

  /**
   * Log lines after `after`, at most `limit` (a page: a run's log has no size bound, and the whole of
   * it read at once held the event loop); `contains` keeps only lines holding that text (any case).
   */
  async readLog(runId: string, after = -1, opts: { limit?: number; contains?: string } = {}): Promise<{ seq: number; at: number; line: string }[]> {
    const filter = opts.contains ? " AND LOWER(line) LIKE ?" : "";
    const params: SqlValue[] = [runId, after, ...(opts.contains ? [`%${opts.contains.toLowerCase()}%`] : []), opts.limit ?? LOG_PAGE];
    const rows = await this.db.all<Row>(`SELECT seq, at, line FROM run_log_lines WHERE run_id = ? AND seq > ?${filter} ORDER BY seq LIMIT ?`, params);
    return rows.map((r) => ({ seq: num(r.seq), at: num(r.at), line: String(r.line) }));
  }

  // ---- artifacts ----------------------------------------------------------------------------------------

  /**
   * Records an artifact (replacing one of the same name of the run: the newest epoch checkpoint),
   * or null once the run has ended: ended runs are immutable, so the CHECKPOINT that
   * checkpoint_run_id reuses cannot be swapped. One conditional INSERT … SELECT (see appendLog).
   * `replacedKey`: the storage key of the record it replaced, if that differs (the caller deletes it).
   */
  async putArtifact(owner: string, runId: string, a: { name: string; type: ArtifactType; size: number; sha256: string; storageKey: string }): Promise<{ data: ArtifactData; replacedKey: string | null } | null> {
    const before = await this.getArtifactByName(owner, runId, a.name);
    const res = await this.db.run(
      `INSERT INTO artifacts (id, owner, run_id, name, type, size, sha256, storage_key, created_at)
       SELECT ?, r.owner, r.id, ?, ?, CAST(? AS BIGINT), ?, ?, CAST(? AS BIGINT) FROM runs r
       WHERE r.id = ? AND r.owner = ? AND r.state NOT IN (${END_LIST})${this.lockRun()}
       ON CONFLICT (run_id, name) DO UPDATE SET type = excluded.type, size = excluded.size, sha256 = excluded.sha256,
         storage_key = excluded.storage_key, created_at = excluded.created_at`,
      [newId(), a.name, a.type, a.size, a.sha256, a.storageKey, this.clock(), runId, owner],
    );
    if (res.changes === 0) return null;
    const data = (await this.getArtifactByName(owner, runId, a.name))!.data;
    return { data, replacedKey: before && before.storageKey !== a.storageKey ? before.storageKey : null };
  }

  async getArtifactByName(owner: string, runId: string, name: string): Promise<{ data: ArtifactData; storageKey: string } | null> {
    const r = await this.db.get<Row>(`SELECT * FROM artifacts WHERE run_id = ? AND name = ? AND owner = ?`, [runId, name, owner]);
    return r ? { data: artifactOf(r), storageKey: String(r.storage_key) } : null;
  }

  /** By id without an owner: only for signed URLs, whose signature is the authorization. */
  async getArtifactById(id: string): Promise<{ data: ArtifactData; storageKey: string } | null> {
    const r = await this.db.get<Row>(`SELECT * FROM artifacts WHERE id = ?`, [id]);
    return r ? { data: artifactOf(r), storageKey: String(r.storage_key) } : null;
  }

  /**
   * The datapool's checkpoint (the rule of `winnow run` too, src/run/checkpoint-source.ts): the one
   * trained by the newest COMPLETED run of the dataset that counts for the datapool (it uploaded
   * DATAPOOL_FILENAMES) and uploaded a CHECKPOINT. CRASHED/ABORTED runs never count: their weights
   * are half-trained and did not make the datapool's selection.
   */
  async newestDatasetCheckpoint(owner: string, datasetId: string, exceptRunId: string): Promise<{ run: RunData; artifact: ArtifactData } | null> {
    const r = await this.db.get<Row>(
      `SELECT a.run_id FROM artifacts a JOIN runs r ON r.id = a.run_id
       WHERE r.owner = ? AND r.dataset_id = ? AND a.type = 'CHECKPOINT' AND r.state = 'COMPLETED' AND r.id <> ?
         AND EXISTS (SELECT 1 FROM artifacts d WHERE d.run_id = r.id AND d.type = 'DATAPOOL_FILENAMES')
       ORDER BY r.created_at DESC, r.id DESC LIMIT 1`,
      [owner, datasetId, exceptRunId],
    );
    if (!r) return null;
    const run = (await this.getRun(owner, String(r.run_id)))!;
    return { run, artifact: run.artifacts.find((a) => a.type === "CHECKPOINT")! };
  }

  /** The newest earlier COMPLETED run of the dataset that recorded the datapool (use_datapool, datapool update on). */
  async newestDatasetSelection(owner: string, datasetId: string, exceptRunId: string): Promise<{ run: RunData; artifact: ArtifactData } | null> {
    const r = await this.db.get<Row>(
      `SELECT a.run_id FROM artifacts a JOIN runs r ON r.id = a.run_id
       WHERE r.owner = ? AND r.dataset_id = ? AND a.type = 'DATAPOOL_FILENAMES' AND r.state = 'COMPLETED' AND r.id <> ?
       ORDER BY r.created_at DESC, r.id DESC LIMIT 1`,
      [owner, datasetId, exceptRunId],
    );
    if (!r) return null;
    const run = (await this.getRun(owner, String(r.run_id)))!;
    return { run, artifact: run.artifacts.find((a) => a.type === "DATAPOOL_FILENAMES")! };
  }
}

/** SQLite's and PostgreSQL's (23503) foreign-key violation. */
function isForeignKeyViolation(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === "23503" || code === "SQLITE_CONSTRAINT_FOREIGNKEY";
}

/** The state does not allow it (a name taken, a dataset with active runs); the API answers 409. */
export class ConflictError extends WinnowError {
  constructor(message: string) {
    super("conflict", message);
  }
}
