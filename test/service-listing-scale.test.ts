// Listings at 40,000 runs of one owner, on both backends: unpaged /v1/runs still answers (it used
// to fail on SQLite with "too many SQL variables"), and a page of /v1/runs or /v1/run-summaries
// (filters and count in SQL) answers in under 100 ms wherever it lies. Rows are inserted directly
// through the Db seam, 500 per statement, for speed.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb, type Db, type SqlValue } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store, newId } from "../src/db/store.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, artifactStorage, freshDatabase, type BackendName } from "./helpers/service-backend.js";

const N = 40_000;
const PAGE_BUDGET_MS = 100;

async function insertRows(db: Db, table: string, cols: string[], rows: SqlValue[][]): Promise<void> {
  const one = `(${cols.map(() => "?").join(", ")})`;
  await db.transaction(async (tx) => {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await tx.run(`INSERT INTO ${table} (${cols.join(", ")}) VALUES ${chunk.map(() => one).join(", ")}`, chunk.flat());
    }
  });
}

function suite(backend: BackendName): void {
  let srv: RunningServer;
  let token: string;
  let datasetId: string;
  let otherDataset: string;
  const runIds: string[] = [];

  before(async () => {
    const dir = tempDir("winnow-service-scale-");
    const database = await freshDatabase(backend, dir);
    fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
    const db = await openDb(database);
    await migrate(db);
    const st = new Store(db);
    const t = await st.createToken("many");
    token = t.token;
    const o = t.owner;
    datasetId = (await st.createDataset(o, "big", "imgs")).id;
    otherDataset = (await st.createDataset(o, "small", "imgs")).id;
    const cfg = await st.createConfig(o, { worker_config: { enable_training: true }, selection_config: { n_samples: 2 }, lightly_config: {} });
    const t0 = Date.now() - N * 1000;
    const sched: SqlValue[][] = [];
    const runs: SqlValue[][] = [];
    const arts: SqlValue[][] = [];
    for (let i = 0; i < N; i++) {
      const sid = newId();
      const rid = newId();
      runIds.push(rid);
      const ds = i % 100 === 0 ? otherDataset : datasetId;
      const at = t0 + i * 1000;
      const state = i % 7 === 0 ? "FAILED" : "COMPLETED";
      sched.push([sid, o, ds, cfg.id, "MID", 1, "[]", "DONE", "w", rid, at, at]);
      runs.push([rid, o, ds, sid, cfg.id, "w", state, "", at, at, at + 500]);
      if (i % 10 === 0) arts.push([newId(), o, rid, "checkpoint.ckpt", "CHECKPOINT", 10, "0".repeat(64), `${o}/${rid}/checkpoint.ckpt`, at]);
    }
    const w0 = Date.now();
    await insertRows(db, "scheduled_runs", ["id", "owner", "dataset_id", "config_id", "priority", "priority_rank", "runs_on", "state", "worker_id", "run_id", "created_at", "modified_at"], sched);
    await insertRows(db, "runs", ["id", "owner", "dataset_id", "scheduled_run_id", "config_id", "worker_id", "state", "message", "created_at", "modified_at", "ended_at"], runs);
    await insertRows(db, "artifacts", ["id", "owner", "run_id", "name", "type", "size", "sha256", "storage_key", "created_at"], arts);
    // What autovacuum does soon after a bulk load in production: planner statistics for the new rows.
    if (backend === "postgres") await db.run("ANALYZE");
    console.log(`[${backend}] inserted ${N} scheduled runs, ${N} runs, ${arts.length} artifacts in ${Date.now() - w0} ms`);
    await db.close();
    srv = await serve({ database, storage: await artifactStorage(backend, dir, `scale-${process.pid}`), datasourceRoot: path.join(dir, "root"), port: 0 });
  });
  after(async () => srv.close());

  async function timed(p: string): Promise<{ ms: number; status: number; json: any }> {
    const t0 = performance.now();
    const res = await fetch(srv.url + p, { headers: { authorization: `Bearer ${token}` } });
    const json = await res.json();
    return { ms: performance.now() - t0, status: res.status, json };
  }

  /** Median of 5 timed requests (the machine is shared; one slow answer is not the page's cost). */
  async function page(p: string): Promise<any> {
    const times: number[] = [];
    let last: any;
    for (let i = 0; i < 5; i++) {
      const r = await timed(p);
      assert.equal(r.status, 200, `${p}: ${JSON.stringify(r.json).slice(0, 200)}`);
      times.push(r.ms);
      last = r.json;
    }
    times.sort((a, b) => a - b);
    console.log(`[${backend}] ${p}: median ${times[2]!.toFixed(1)} ms (${times.map((t) => t.toFixed(1)).join(", ")})`);
    assert.ok(times[2]! < PAGE_BUDGET_MS, `${p}: median ${times[2]!.toFixed(1)} ms ≥ ${PAGE_BUDGET_MS} ms`);
    return last;
  }

  test(`${N} runs of one owner: unpaged /v1/runs answers them all`, async () => {
    // Health checks meanwhile: the listing reads in pages, so other requests are answered between them.
    const listing = timed("/v1/runs");
    const health: number[] = [];
    let done = false;
    void listing.finally(() => (done = true));
    while (!done) health.push((await timed("/v1/health")).ms);
    const r = await listing;
    health.sort((a, b) => a - b);
    console.log(`[${backend}] /v1/health during it: ${health.length} answers, median ${health[Math.floor(health.length / 2)]!.toFixed(1)} ms, max ${health[health.length - 1]!.toFixed(1)} ms`);
    assert.equal(r.status, 200, JSON.stringify(r.json).slice(0, 300));
    assert.equal(r.json.length, N);
    assert.deepEqual([r.json[0].id, r.json[N - 1].id], [runIds[0], runIds[N - 1]], "oldest first");
    assert.equal(r.json.filter((x: { artifacts: unknown[] }) => x.artifacts.length === 1).length, N / 10, "every run's artifacts are there");
    console.log(`[${backend}] unpaged /v1/runs: ${N} runs in ${r.ms.toFixed(0)} ms`);
  });

  test("a page of /v1/runs answers in < 100 ms at any offset, with its runs' artifacts", async () => {
    const first = await page("/v1/runs?limit=100&offset=0");
    assert.deepEqual(first.map((x: { id: string }) => x.id), runIds.slice(0, 100));
    const mid = await page("/v1/runs?limit=100&offset=20000");
    assert.deepEqual(mid.map((x: { id: string }) => x.id), runIds.slice(20000, 20100));
    assert.equal(mid[0].artifacts[0].type, "CHECKPOINT");
    const last = await page("/v1/runs?limit=100&offset=39950");
    assert.deepEqual(last.map((x: { id: string }) => x.id), runIds.slice(39950));
    const newest = await page(`/v1/runs?limit=50&order=desc&dataset_id=${datasetId}`);
    assert.equal(newest[0].id, runIds[N - 1]);
    assert.ok(newest.every((x: { dataset_id: string }) => x.dataset_id === datasetId));
  });

  test("a page of /v1/run-summaries answers in < 100 ms with the total, filtered by state and dataset in SQL", async () => {
    const all = await page("/v1/run-summaries?limit=25&offset=0");
    assert.equal(all.total, N);
    assert.equal(all.items[0].id, runIds[N - 1], "newest first");
    assert.equal(all.items[0].training, true);
    const deep = await page("/v1/run-summaries?limit=25&offset=39990");
    assert.deepEqual(deep.items.map((x: { id: string }) => x.id), runIds.slice(0, 10).reverse());
    const failed = await page("/v1/run-summaries?limit=50&offset=5000&state=FAILED");
    assert.equal(failed.total, Math.ceil(N / 7));
    assert.ok(failed.items.length === 50 && failed.items.every((x: { state: string }) => x.state === "FAILED"));
    const small = await page(`/v1/run-summaries?limit=200&dataset_id=${otherDataset}`);
    assert.equal(small.total, N / 100);
    assert.ok(small.items.every((x: { dataset_name: string; checkpoint: boolean }) => x.dataset_name === "small" && x.checkpoint), "runs i % 100 all have a checkpoint");
  });
}

for (const backend of BACKENDS) describe(`service listings at ${N} runs on ${backend}`, () => suite(backend));
