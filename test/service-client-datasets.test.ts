// Lightly client parity against a real server, on both backends: registerComputeWorker answers the
// existing worker for a name (labels replaced, the old process's runs CRASHED), dataset deletion
// (409 while queued or running; records and artifact bytes gone after), and the dataset and run
// methods Lightly users call (getDatasetById, getDatasetsByName, datasetExists, getFilenames,
// getComputeWorkerRunsIter, …). The test plays the worker through the worker API.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { LocalStorage, type ArtifactStorage } from "../src/server/storage.js";
import { S3Storage } from "../src/server/s3-storage.js";
import { parseS3Url } from "../src/s3/client.js";
import { ApiWorkflowClient, ApiConflictError, ApiNotFoundError } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, artifactStorage, freshDatabase, type BackendName } from "./helpers/service-backend.js";

function suite(backend: BackendName): void {
  let dir: string;
  let database: string;
  let srv: RunningServer;
  let token: string;
  let owner: string;
  let client: ApiWorkflowClient;
  let other: ApiWorkflowClient;
  let storage: ArtifactStorage;

  before(async () => {
    dir = tempDir("winnow-service-client-");
    database = await freshDatabase(backend, dir);
    fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
    const db = await openDb(database);
    await migrate(db);
    const st = new Store(db);
    const t = await st.createToken("me");
    token = t.token;
    owner = t.owner;
    const o = await st.createToken("other");
    await db.close();
    const spec = await artifactStorage(backend, dir, `client-${process.pid}`);
    storage = backend === "sqlite" ? new LocalStorage(spec) : new S3Storage(parseS3Url(spec, "storage"));
    srv = await serve({ database, storage: spec, datasourceRoot: path.join(dir, "root"), port: 0, heartbeatTimeoutMs: 60_000 });
    client = new ApiWorkflowClient({ url: srv.url, token });
    other = new ApiWorkflowClient({ url: srv.url, token: o.token });
  });
  after(async () => srv.close());

  async function api(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const h: Record<string, string> = { authorization: `Bearer ${token}`, ...headers };
    let data: BodyInit | undefined;
    if (typeof body === "string") data = body;
    else if (body !== undefined) (h["content-type"] = "application/json"), (data = JSON.stringify(body));
    const res = await fetch(srv.url + p, { method, headers: h, body: data });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  /** Schedules on the current dataset and plays the worker: claim, upload `artifacts`, end in `state`. */
  async function workedRun(workerId: string, state: string, artifacts: Record<string, { type: string; text: string }> = {}): Promise<string> {
    const sid = await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 }, runsOn: ["t"] });
    const c = await api("POST", `/v1/workers/${workerId}/claim`, { wait_ms: 0 });
    assert.equal(c.status, 200);
    assert.equal(c.json.run.scheduled_id, sid);
    const runId = c.json.run.id as string;
    for (const [name, a] of Object.entries(artifacts)) {
      const up = await api("PUT", `/v1/runs/${runId}/artifacts/${name}?type=${a.type}`, a.text, { "content-type": "application/octet-stream", "x-winnow-worker": workerId });
      assert.equal(up.status, 201);
    }
    assert.equal((await api("POST", `/v1/runs/${runId}/log`, { lines: ["[1/3] INITIALIZING", "done"] }, { "x-winnow-worker": workerId })).status, 200);
    assert.equal((await api("PATCH", `/v1/runs/${runId}`, { state }, { "x-winnow-worker": workerId })).status, 200);
    return runId;
  }

  const csv = (names: string[]): string => `filenames,embedding_0,embedding_1,labels\n${names.map((n, i) => `${n},${i},0.5,0`).join("\n")}\n`;

  test("registerComputeWorker answers the existing worker of a name, with its labels replaced; the old process's runs end CRASHED", async () => {
    const a = await client.registerComputeWorker("shelf-gpu", ["gpu"]);
    const b = await client.registerComputeWorker("shelf-gpu", ["gpu", "a100"]);
    assert.equal(b, a);
    const mine = (await client.getComputeWorkers()).filter((w) => w.name === "shelf-gpu");
    assert.equal(mine.length, 1);
    assert.deepEqual(mine[0]!.labels, ["gpu", "a100"]);
    const theirs = await other.registerComputeWorker("shelf-gpu", ["gpu"]);
    assert.notEqual(theirs, a, "another owner's worker of the same name is another worker");
    await client.deleteComputeWorker(a);
    assert.notEqual(await client.registerComputeWorker("shelf-gpu", []), a, "a deleted worker's name registers a new worker");

    // A worker process that restarts under its name: the run its old process held cannot go on.
    await client.createDataset("restart", "imgs");
    const w = await client.registerComputeWorker("restarting", ["t"]);
    await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 }, runsOn: ["t"] });
    const c = await api("POST", `/v1/workers/${w}/claim`, { wait_ms: 0 });
    assert.equal(c.status, 200);
    assert.equal(await client.registerComputeWorker("restarting", ["t"]), w);
    const r = await client.getComputeWorkerRun(c.json.run.id);
    assert.equal(r.state, "CRASHED");
    assert.match(r.message, /registered again/);
  });

  test("dataset lookups: getDatasetById, getDatasetsByName, datasetExists, datasetNameExists, createNewDatasetWithUniqueName", async () => {
    const id = await client.createDataset("lookups", "imgs");
    assert.equal((await client.getDatasetById(id)).name, "lookups");
    assert.deepEqual((await client.getDatasetsByName("lookups")).map((d) => d.id), [id]);
    assert.deepEqual(await client.getDatasetsByName("nope"), []);
    assert.equal(await client.datasetExists(id), true);
    assert.equal(await client.datasetExists("0".repeat(24)), false);
    assert.equal(await other.datasetExists(id), false, "another owner's dataset does not exist for them");
    assert.equal(await client.datasetNameExists("lookups"), true);
    assert.equal(await other.datasetNameExists("lookups"), false);
    const u1 = await client.createNewDatasetWithUniqueName("lookups", "imgs");
    const u2 = await client.createNewDatasetWithUniqueName("lookups", "imgs");
    assert.deepEqual([(await client.getDatasetById(u1)).name, (await client.getDatasetById(u2)).name], ["lookups_1", "lookups_2"]);
    assert.equal(client.datasetId, u2, "the new dataset is selected");
    assert.ok((await client.getAllDatasets()).some((d) => d.id === id));
  });

  test("getComputeWorkerRunsIter pages through the runs (oldest first, or newest first); getFilenames reads the newest COMPLETED run's embeddings", async () => {
    const ds = await client.createDataset("iter", "imgs");
    await assert.rejects(client.getFilenames(), (e: unknown) => e instanceof ApiNotFoundError && /no COMPLETED run with embeddings/.test((e as Error).message));
    const w = await client.registerComputeWorker("iter-w", ["t"]);
    const ids: string[] = [];
    ids.push(await workedRun(w, "COMPLETED", { "embeddings.csv": { type: "EMBEDDINGS", text: csv(["old/a.png", "old/b.png"]) } }));
    ids.push(await workedRun(w, "COMPLETED", { "embeddings.csv": { type: "EMBEDDINGS", text: csv(["a.png", "sub/b c.png", "d.jpg"]) } }));
    ids.push(await workedRun(w, "FAILED", { "embeddings.csv": { type: "EMBEDDINGS", text: csv(["failed.png"]) } }));
    ids.push(await workedRun(w, "COMPLETED"));
    ids.push(await workedRun(w, "ABORTED"));
    const paged: string[] = [];
    for await (const r of client.getComputeWorkerRunsIter({ datasetId: ds, pageSize: 2 })) paged.push(r.id);
    assert.deepEqual(paged, ids);
    assert.deepEqual((await client.getComputeWorkerRuns({ datasetId: ds })).map((r) => r.id), ids);
    const newest: string[] = [];
    for await (const r of client.getComputeWorkerRunsIter({ datasetId: ds, pageSize: 3, newestFirst: true })) newest.push(r.id);
    assert.deepEqual(newest, [...ids].reverse());
    const unpaged = await api("GET", `/v1/runs?dataset_id=${ds}`);
    assert.deepEqual(unpaged.json.map((r: { id: string }) => r.id), ids, "unpaged /v1/runs answers every run");
    assert.equal((await api("GET", "/v1/runs?limit=0")).status, 400);
    assert.equal((await api("GET", "/v1/runs?limit=abc")).json.field, "limit");
    assert.deepEqual(await client.getFilenames(), ["a.png", "sub/b c.png", "d.jpg"], "the newest COMPLETED run that has embeddings");
  });

  test("deleteDatasetById: 409 while a run is queued or running; then the dataset, its runs, logs and artifact bytes are gone", async () => {
    const ds = await client.createDataset("doomed", "imgs");
    const keep = await client.createDataset("kept", "imgs");
    client.datasetId = ds;
    const w = await client.registerComputeWorker("doomed-w", ["t"]);
    const done = await workedRun(w, "COMPLETED", { "report.json": { type: "REPORT_JSON", text: '{"ok":true}' } });
    // Each upload has its own storage key (<owner>/<run>/<name>.<hex>): read it from the database.
    const keyDb = await openDb(database);
    const row = await keyDb.get<{ storage_key: string }>(`SELECT storage_key FROM artifacts WHERE run_id = ? AND name = ?`, [done, "report.json"]);
    await keyDb.close();
    const key = row!.storage_key;
    assert.ok(key.startsWith(`${owner}/${done}/report.json`), key);
    (await storage.get(key)).destroy();
    const url = await client.getArtifactUrl(done, "REPORT_JSON");

    const queued = await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 }, runsOn: ["nobody"] });
    await assert.rejects(client.deleteDatasetById(ds), (e: unknown) => e instanceof ApiConflictError && /1 queued or running/.test((e as Error).message));
    const claimed = await client.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 }, runsOn: ["t"] });
    await client.cancelScheduledComputeWorkerRun(queued);
    assert.equal((await api("POST", `/v1/workers/${w}/claim`, { wait_ms: 0 })).status, 200);
    await assert.rejects(client.deleteDatasetById(ds), ApiConflictError, "a running run blocks it too");
    const running = await client.getComputeWorkerRunFromScheduledRun(claimed);
    assert.equal((await api("PATCH", `/v1/runs/${running.id}`, { state: "FAILED", message: "stopped" }, { "x-winnow-worker": w })).status, 200);

    await assert.rejects(other.deleteDatasetById(ds), ApiNotFoundError, "another owner cannot delete it");
    await client.deleteDatasetById(ds);
    assert.equal(await client.datasetExists(ds), false);
    assert.equal(await client.datasetExists(keep), true, "other datasets are untouched");
    assert.throws(() => client.datasetId, /no dataset set/, "the deleted dataset is no longer selected");
    await assert.rejects(client.getComputeWorkerRun(done), ApiNotFoundError);
    await assert.rejects(client.getComputeWorkerRunFromScheduledRun(claimed), ApiNotFoundError);
    assert.equal((await api("GET", `/v1/runs/${done}/log`)).status, 404);
    const db = await openDb(database);
    try {
      for (const [table, col] of [["run_log_lines", "run_id"], ["artifacts", "run_id"], ["runs", "id"]]) {
        const n = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${col} IN (?, ?)`, [done, running.id]);
        assert.equal(Number(n!.n), 0, `${table} rows of the dataset's runs are deleted`);
      }
      const sched = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM scheduled_runs WHERE dataset_id = ?`, [ds]);
      assert.equal(Number(sched!.n), 0);
    } finally {
      await db.close();
    }
    assert.equal((await fetch(url)).status, 404, "its signed URLs answer 404");
    await assert.rejects(storage.get(key).then((s) => s.destroy()), "the artifact bytes are deleted from storage");
    assert.equal((await client.getComputeWorkerRuns()).some((r) => r.dataset_id === ds), false);
    await assert.rejects(client.deleteDatasetById(ds), ApiNotFoundError);
  });
}

for (const backend of BACKENDS) describe(`service client (datasets, workers, runs) on ${backend}`, () => suite(backend));
