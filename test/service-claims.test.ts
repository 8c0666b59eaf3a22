// Claims and the queue on both backends: a fitting run behind 201 non-fitting ones is claimed
// (labels filtered in SQL, not a window), the claim's two writes are atomic (a failure injected
// between them leaves the run OPEN), a LOCKED run without a run row (old data) is reopened and
// claimed, and migration 2 backfills the labels of a version-1 database's queued runs.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb, type Db } from "../src/db/driver.js";
import { migrate, MIGRATIONS } from "../src/db/migrations.js";
import { Store, newId } from "../src/db/store.js";
import type { WorkerData } from "../src/db/records.js";
import { ApiWorkflowClient } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, artifactStorage, freshDatabase, type BackendName } from "./helpers/service-backend.js";

/** The Db seam with a failure injected into a transaction's run-row INSERT (after the LOCKED UPDATE). */
function failingRunInsert(db: Db): Db {
  return {
    dialect: db.dialect,
    all: (s, p) => db.all(s, p),
    get: (s, p) => db.get(s, p),
    run: (s, p) => db.run(s, p),
    migrate: (s, r) => db.migrate(s, r),
    close: () => db.close(),
    transaction: (fn) => db.transaction((tx) => fn({
      ...tx,
      run: async (sql, params) => {
        if (/^\s*INSERT INTO runs\b/.test(sql)) throw new Error("injected: server died between the two writes");
        return tx.run(sql, params);
      },
    })),
  };
}

function suite(backend: BackendName): void {
  let dir: string;
  let database: string;
  let srv: RunningServer;
  let db: Db;
  let store: Store;
  let owner: string;
  let client: ApiWorkflowClient;
  let token: string;

  before(async () => {
    dir = tempDir("winnow-service-claims-");
    database = await freshDatabase(backend, dir);
    fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
    db = await openDb(database);
    await migrate(db);
    store = new Store(db);
    const t = await store.createToken("claims");
    owner = t.owner;
    token = t.token;
    srv = await serve({ database, storage: await artifactStorage(backend, dir, `claims-${process.pid}`), datasourceRoot: path.join(dir, "root"), port: 0, heartbeatTimeoutMs: 60_000, orphanLockGraceMs: 500 });
    client = new ApiWorkflowClient({ url: srv.url, token: t.token });
  });
  after(async () => {
    await srv.close();
    await db.close();
  });

  async function claimOverApi(workerId: string, waitMs = 0): Promise<{ status: number; json: any }> {
    const res = await fetch(`${srv.url}/v1/workers/${workerId}/claim`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ wait_ms: waitMs }),
    });
    return { status: res.status, json: res.status === 200 ? await res.json() : null };
  }

  test("a fitting run behind 201 non-fitting OPEN runs of the same priority is claimed", async () => {
    const ds = await store.createDataset(owner, "queue", "imgs");
    const cfg = await store.createConfig(owner, { worker_config: {}, selection_config: { n_samples: 2 }, lightly_config: {} });
    for (let i = 0; i < 201; i++) await store.schedule(owner, ds.id, cfg.id, "MID", ["gpu"]);
    const fitting = await store.schedule(owner, ds.id, cfg.id, "MID", ["cpu"]);
    const cpu = await client.registerComputeWorker("cpu-only", ["cpu"]);
    const none = await client.registerComputeWorker("no-labels", []);
    assert.equal((await claimOverApi(none)).status, 204, "a worker without labels fits none of them");
    const got = await claimOverApi(cpu);
    assert.equal(got.status, 200);
    assert.equal(got.json.run.scheduled_id, fitting.id);
    assert.equal((await claimOverApi(cpu)).status, 204, "nothing else fits");
    const open = await store.listScheduled(owner, { datasetId: ds.id, state: "OPEN" });
    assert.equal(open.length, 201, "the non-fitting runs stay queued");
  });

  test("claim is atomic: a failure between the LOCKED mark and the run row leaves the run OPEN; a LOCKED run without a run row is reopened and claimed", async () => {
    const ds = await store.createDataset(owner, "atomic", "imgs");
    const cfg = await store.createConfig(owner, { worker_config: {}, selection_config: { n_samples: 2 }, lightly_config: {} });
    const s = await store.schedule(owner, ds.id, cfg.id, "CRITICAL", ["atomic"]);
    const w: WorkerData = await store.registerWorker(owner, "atomic-w", ["atomic"]);
    await assert.rejects(new Store(failingRunInsert(db)).claim(owner, w), /injected/);
    const after = (await store.getScheduled(owner, s.id))!;
    assert.equal(after.state, "OPEN", "the LOCKED mark was rolled back with the failed run row");
    assert.equal(after.worker_id, null);
    assert.equal(await store.getRunOfScheduled(owner, s.id), null);
    const ok = await store.claim(owner, w);
    assert.equal(ok?.scheduled.id, s.id, "the run is claimable after the failure");
    assert.equal(ok?.run.state, "INITIALIZING");

    // Old data: a server that died between the two writes (before they were one transaction).
    const orphan = await store.schedule(owner, ds.id, cfg.id, "CRITICAL", ["atomic"]);
    await db.run(`UPDATE scheduled_runs SET state = 'LOCKED', worker_id = ?, run_id = ?, modified_at = ? WHERE id = ?`, ["gone", newId(), Date.now() - 3_600_000, orphan.id]);
    const t0 = Date.now();
    const got = await claimOverApi(w.id, 10_000);
    assert.equal(got.status, 200, "reopened by the server's reaper and claimed by the long-polling worker");
    assert.equal(got.json.run.scheduled_id, orphan.id);
    console.log(`[${backend}] orphan LOCKED run reopened and claimed in ${Date.now() - t0} ms`);
    const runs = await db.all<{ n: number }>(`SELECT COUNT(*) AS n FROM runs WHERE scheduled_run_id = ?`, [orphan.id]);
    assert.equal(Number(runs[0]!.n), 1);
  });

  test("concurrent claims, schedules and registrations through one Store: each run claimed once, no transaction error", async () => {
    const ds = await store.createDataset(owner, "race", "imgs");
    const cfg = await store.createConfig(owner, { worker_config: {}, selection_config: { n_samples: 2 }, lightly_config: {} });
    const ws = await Promise.all(Array.from({ length: 12 }, (_, i) => store.registerWorker(owner, `race-${i}`, ["race"])));
    const scheduled = await Promise.all(Array.from({ length: 10 }, () => store.schedule(owner, ds.id, cfg.id, "CRITICAL", ["race"])));
    // Started in the same turn: on SQLite their transactions share one connection and must queue.
    const got = await Promise.all([...ws, ...ws].map((w) => store.claim(owner, w)));
    const ids = got.filter((g) => g !== null).map((g) => g!.scheduled.id);
    assert.equal(ids.length, 10);
    assert.deepEqual(new Set(ids), new Set(scheduled.map((s) => s.id)));
    for (const s of scheduled) assert.equal((await store.getRunOfScheduled(owner, s.id))?.scheduled_id, s.id);
  });

  test("migration 2 on a version-1 database backfills the labels of queued runs; claims then filter by them", async () => {
    const old = await openDb(await freshDatabase(backend, tempDir("winnow-service-claims-v1-")));
    try {
      await old.run(`CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      await old.migrate(MIGRATIONS[0]!.statements as string[], { id: 1, name: "initial", appliedAt: 1 });
      const now = Date.now();
      await old.run(`INSERT INTO datasets (id, owner, name, datasource, created_at) VALUES ('d1', 'o', 'd', 'imgs', ?)`, [now]);
      await old.run(`INSERT INTO configs (id, owner, worker_config, lightly_config, created_at) VALUES ('c1', 'o', '{}', '{}', ?)`, [now]);
      const sched = (id: string, runsOn: string[], state: string, at: number) => old.run(
        `INSERT INTO scheduled_runs (id, owner, dataset_id, config_id, priority, priority_rank, runs_on, state, created_at, modified_at)
         VALUES (?, 'o', 'd1', 'c1', 'MID', 1, ?, ?, ?, ?)`, [id, JSON.stringify(runsOn), state, at, at]);
      await sched("s-gpu", ["gpu", "a100"], "OPEN", now);
      await sched("s-any", [], "OPEN", now + 1);
      await sched("s-done", ["gpu"], "DONE", now - 5);
      assert.deepEqual(await migrate(old), MIGRATIONS.slice(1).map((m) => m.id));
      const labels = await old.all<{ scheduled_run_id: string; label: string }>(`SELECT scheduled_run_id, label FROM scheduled_run_labels ORDER BY scheduled_run_id, label`);
      assert.deepEqual(labels.map((l) => `${l.scheduled_run_id}:${l.label}`), ["s-gpu:a100", "s-gpu:gpu"]);
      const st = new Store(old);
      const gpuOnly = await st.registerWorker("o", "gpu-only", ["gpu"]);
      assert.equal((await st.claim("o", gpuOnly))?.scheduled.id, "s-any", "s-gpu needs a100 too");
      assert.equal(await st.claim("o", gpuOnly), null);
      const full = await st.registerWorker("o", "full", ["a100", "gpu", "x"]);
      assert.equal((await st.claim("o", full))?.scheduled.id, "s-gpu");
    } finally {
      await old.close();
    }
  });
}

for (const backend of BACKENDS) describe(`service claims on ${backend}`, () => suite(backend));
