// The service API in one process (no engine): auth and owner isolation, signed URLs, path and
// body limits, config validation, the atomic claim under concurrency, the dead-worker policy.
// Once on SQLite with a local artifact folder, once on PostgreSQL with artifacts in S3.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb } from "../src/db/driver.js";
import { migrate, MIGRATIONS } from "../src/db/migrations.js";
import { Store, hashToken } from "../src/db/store.js";
import { ApiWorkflowClient, ApiValidationError, ApiUnauthorizedError, ApiNotFoundError, ApiConflictError } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, artifactStorage, freshDatabase, localS3, type BackendName } from "./helpers/service-backend.js";

function suite(backend: BackendName): void {
  let dir: string;
  let database: string;
  let srv: RunningServer;
  let tokA: string;
  let tokB: string;
  let tokA2: string;
  const TINY = { selection_config: { n_samples: 2 } };
  const TINY_C = { selectionConfig: { n_samples: 2 } };

  async function api(method: string, p: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined && !h["content-type"]) h["content-type"] = "application/json";
    const res = await fetch(srv.url + p, { method, headers: h, body: body === undefined ? undefined : typeof body === "string" || body instanceof Uint8Array ? (body as string) : JSON.stringify(body) });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* binary */
    }
    return { status: res.status, json, text };
  }

  before(async () => {
    dir = tempDir("winnow-service-api-");
    database = await freshDatabase(backend, dir);
    fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
    fs.mkdirSync(path.join(dir, "outside"));
    fs.symlinkSync(path.join(dir, "outside"), path.join(dir, "root", "escape"));
    const db = await openDb(database);
    await migrate(db);
    const st = new Store(db);
    const a = await st.createToken("a");
    tokA = a.token;
    tokB = (await st.createToken("b")).token;
    tokA2 = (await st.createToken("a2", a.owner)).token;
    await db.close();
    srv = await serve({ database, storage: await artifactStorage(backend, dir, `api-${process.pid}`), datasourceRoot: path.join(dir, "root"), port: 0, heartbeatTimeoutMs: 400, bodyLimit: 64 * 1024,
      artifactLimit: 20 << 20, s3: { partSize: 5 << 20 } });
  });
  after(async () => srv.close());

  test("tokens are stored hashed; migrations are idempotent", async () => {
    const db = await openDb(database);
    const rows = await db.all<{ hash: string }>("SELECT hash FROM tokens");
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => /^[0-9a-f]{64}$/.test(r.hash)));
    assert.ok(rows.some((r) => r.hash === hashToken(tokA)));
    if (backend === "sqlite") {
      const raw = fs.readFileSync(database);
      assert.equal(raw.includes(Buffer.from(tokA)), false, "the secret itself is not in the file");
    }
    assert.deepEqual(await migrate(db), []);
    assert.equal((await db.all("SELECT id FROM schema_migrations")).length, MIGRATIONS.length);
    await db.close();
  });

  test("missing or wrong token → 401; public paths need none; OpenAPI lists the routes and config schemas", async () => {
    assert.equal((await api("GET", "/v1/datasets", null)).status, 401);
    assert.equal((await api("GET", "/v1/datasets", "wnw_wrong")).status, 401);
    assert.equal((await api("GET", "/v1/datasets", null, undefined, { authorization: `Basic ${tokA}` })).status, 401);
    await assert.rejects(new ApiWorkflowClient({ url: srv.url, token: "wnw_nope" }).getDatasets(), ApiUnauthorizedError);
    assert.equal((await api("GET", "/v1/health", null)).status, 200);
    const doc = (await api("GET", "/openapi.json", null)).json;
    assert.equal(doc.openapi, "3.1.0");
    assert.ok(doc.paths["/v1/datasets/{id}/scheduled-runs"].post.requestBody);
    assert.ok(doc.components.schemas.LightlyConfig.properties.trainer);
    assert.ok(doc.components.schemas.SelectionConfig);
    assert.ok(doc.components.schemas.WorkerConfig.properties.checkpoint_run_id);
  });

  test("datasource paths: '..', absolute and symlinks out of the root are refused with the field", async () => {
    const c = new ApiWorkflowClient({ url: srv.url, token: tokA });
    for (const ds of ["../outside", "/etc", "imgs/../../outside", "escape"]) {
      const e = await c.createDataset(`bad-${ds}`, ds).then(() => null, (x) => x);
      assert.ok(e instanceof ApiValidationError, ds);
      assert.equal(e.field, "datasource");
    }
    await c.createDataset("good", "imgs");
    await assert.rejects(c.createDataset("good", "imgs"), ApiConflictError);
  });

  test("another token's owner sees nothing: datasets, runs, workers, scheduled runs and artifacts answer 404", async () => {
    const a = new ApiWorkflowClient({ url: srv.url, token: tokA });
    const b = new ApiWorkflowClient({ url: srv.url, token: tokB });
    const a2 = new ApiWorkflowClient({ url: srv.url, token: tokA2 });
    const dsId = await a.createDataset("iso", "imgs");
    const sid = await a.scheduleComputeWorkerRun(TINY_C);
    const wid = await a.registerComputeWorker("wa", []);
    const claim = (await api("POST", `/v1/workers/${wid}/claim`, tokA, { wait_ms: 0 })).json;
    const runId: string = claim.run.id;
    const up = await api("PUT", `/v1/runs/${runId}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, tokA, new Uint8Array([1, 2, 3]), { "content-type": "application/octet-stream", "x-winnow-worker": wid });
    assert.equal(up.status, 201, up.text);

    assert.deepEqual(await b.getDatasets(), []);
    assert.deepEqual(await b.getComputeWorkerRuns(), []);
    assert.deepEqual(await b.getComputeWorkers(), []);
    await assert.rejects(b.setDatasetId(dsId), ApiNotFoundError);
    await assert.rejects(b.getComputeWorkerRun(runId), ApiNotFoundError);
    await assert.rejects(b.getComputeWorkerRunFromScheduledRun(sid), ApiNotFoundError);
    await assert.rejects(b.cancelScheduledComputeWorkerRun(sid), ApiNotFoundError);
    await assert.rejects(b.deleteComputeWorker(wid), ApiNotFoundError);
    assert.equal((await api("GET", `/v1/runs/${runId}/artifacts/checkpoint.ckpt`, tokB)).status, 404);
    assert.equal((await api("POST", `/v1/runs/${runId}/artifacts/checkpoint.ckpt/signed-url`, tokB, {})).status, 404);
    assert.equal((await api("POST", `/v1/datasets/${dsId}/scheduled-runs`, tokB, TINY)).status, 404);
    assert.equal((await api("POST", `/v1/workers/${wid}/claim`, tokB, { wait_ms: 0 })).status, 404);
    // B cannot point a run at A's checkpoint.
    const bds = await b.createDataset("b-own", "imgs");
    assert.ok(bds);
    const e = await b.scheduleComputeWorkerRun({ ...TINY_C, workerConfig: { checkpoint_run_id: runId } }).then(() => null, (x) => x);
    assert.ok(e instanceof ApiValidationError);
    assert.equal(e.field, "worker_config.checkpoint_run_id");
    // A second token of the same owner sees A's records.
    assert.equal((await a2.getComputeWorkerRun(runId)).id, runId);
    // Only the worker holding the run may update it or upload to it.
    assert.equal((await api("PATCH", `/v1/runs/${runId}`, tokA, { state: "TRAINING" })).status, 403);
    const other = await a.registerComputeWorker("other", []);
    assert.equal((await api("PATCH", `/v1/runs/${runId}`, tokA, { state: "TRAINING" }, { "x-winnow-worker": other })).status, 403);
  });

  test("signed URLs: download without a token; expired, tampered or re-targeted ones refused", async () => {
    const a = new ApiWorkflowClient({ url: srv.url, token: tokA, datasetId: (await new ApiWorkflowClient({ url: srv.url, token: tokA }).getDatasets())[0]!.id });
    await a.scheduleComputeWorkerRun(TINY_C);
    const wid = await a.registerComputeWorker("signer", []);
    const claim = (await api("POST", `/v1/workers/${wid}/claim`, tokA, { wait_ms: 0 })).json;
    const runId: string = claim.run.id;
    const bytes = new Uint8Array(1000).map((_, i) => i % 251);
    const hdr = { "content-type": "application/octet-stream", "x-winnow-worker": wid };
    assert.equal((await api("PUT", `/v1/runs/${runId}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, tokA, bytes, hdr)).status, 201);
    assert.equal((await api("PUT", `/v1/runs/${runId}/artifacts/log.txt?type=LOG`, tokA, "hello", hdr)).status, 201);
    for (const bad of ["..", ".hidden", "a%2Fb", "a%2F..%2Fb", "%2Fetc%2Fpasswd"]) {
      const r = await api("PUT", `/v1/runs/${runId}/artifacts/${bad}?type=OTHER`, tokA, "x", hdr);
      assert.ok(r.status === 400 || r.status === 404, `${bad}: ${r.status}`);
    }
    const url = await a.getComputeWorkerRunCheckpointUrl(runId);
    const ok = await fetch(url);
    assert.equal(ok.status, 200);
    assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), bytes);
    const u = new URL(url);
    const exp = Number(u.searchParams.get("expires"));
    const tamperedExp = new URL(url);
    tamperedExp.searchParams.set("expires", String(exp + 3600));
    assert.equal((await fetch(tamperedExp)).status, 403);
    const tamperedSig = new URL(url);
    tamperedSig.searchParams.set("signature", u.searchParams.get("signature")!.replace(/^./, (ch) => (ch === "A" ? "B" : "A")));
    assert.equal((await fetch(tamperedSig)).status, 403);
    const logArt = (await a.getComputeWorkerRun(runId)).artifacts.find((x) => x.type === "LOG")!;
    const retarget = new URL(url.replace(/artifacts\/[0-9a-f]+/, `artifacts/${logArt.id}`));
    assert.equal((await fetch(retarget)).status, 403);
    // A URL valid for one second is refused once that second has passed.
    const short = (await api("POST", `/v1/runs/${runId}/artifacts/checkpoint.ckpt/signed-url`, tokA, { expires_in: 1 })).json;
    assert.equal((await fetch(short.url)).status, 200);
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await fetch(short.url);
    assert.equal(expired.status, 403);
    assert.match(((await expired.json()) as { message: string }).message, /expired/);
  });

  test("configs are checked with the CLI's schemas; oversized bodies are refused", async () => {
    const a = new ApiWorkflowClient({ url: srv.url, token: tokA });
    await a.setDatasetIdByName("good");
    const e = await a.scheduleComputeWorkerRun({ ...TINY_C, lightlyConfig: { trainer: { max_epoch: 3 } } }).then(() => null, (x) => x);
    assert.ok(e instanceof ApiValidationError);
    assert.equal(e.field, "lightly_config.trainer.max_epoch");
    assert.match(e.message, /did you mean 'max_epochs'/);
    const p = await api("POST", `/v1/datasets/${a.datasetId}/scheduled-runs`, tokA, { ...TINY, priority: "URGENT" });
    assert.equal(p.status, 400);
    assert.equal(p.json.field, "priority");
    const big = await api("POST", "/v1/datasets", tokA, { name: "x".repeat(100), datasource: "y".repeat(70 * 1024) });
    assert.equal(big.status, 413);
    const cfg = await a.createComputeWorkerConfig({ selectionConfig: { n_samples: 3 } });
    const viaConfig = await api("POST", `/v1/datasets/${a.datasetId}/scheduled-runs`, tokA, { config_id: cfg });
    assert.equal(viaConfig.status, 201);
    assert.equal(viaConfig.json.config_id, cfg);
    // Cancel: an OPEN scheduled run becomes CANCELED and is never claimed.
    const canceled = await a.cancelScheduledComputeWorkerRun(viaConfig.json.id);
    assert.equal(canceled.state, "CANCELED");
    assert.equal((await a.getComputeWorkerRunInfo(viaConfig.json.id)).state, "CANCELED_OR_NOT_EXISTING");
  });

  test("concurrent claims: 6 workers racing over 30 scheduled runs; each run claimed exactly once, by priority, labels respected", async () => {
    const c = new ApiWorkflowClient({ url: srv.url, token: tokB });
    await c.createDataset("race", "imgs");
    const prios = ["LOW", "MID", "HIGH", "CRITICAL"] as const;
    const scheduled: { id: string; prio: string; runsOn: string[] }[] = [];
    for (let i = 0; i < 30; i++) {
      const runsOn = i % 5 === 0 ? ["gpu"] : [];
      scheduled.push({ id: await c.scheduleComputeWorkerRun({ ...TINY_C, priority: prios[i % 4], runsOn }), prio: prios[i % 4]!, runsOn });
    }
    const workers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => c.registerComputeWorker(`w${i}`, i < 2 ? ["gpu", "cpu"] : ["cpu"])));
    const claimed: { worker: string; scheduled: string; prioSeen: string }[] = [];
    await Promise.all(workers.map(async (w) => {
      for (;;) {
        const r = await api("POST", `/v1/workers/${w}/claim`, tokB, { wait_ms: 0 });
        if (r.status === 204) return;
        assert.equal(r.status, 200, r.text);
        claimed.push({ worker: w, scheduled: r.json.run.scheduled_id, prioSeen: "" });
      }
    }));
    const ids = claimed.map((x) => x.scheduled);
    assert.equal(new Set(ids).size, ids.length, "no scheduled run claimed twice");
    assert.equal(ids.length, 30, "every scheduled run claimed");
    const gpuWorkers = new Set(workers.slice(0, 2));
    for (const s of scheduled.filter((x) => x.runsOn.includes("gpu"))) {
      assert.ok(gpuWorkers.has(claimed.find((x) => x.scheduled === s.id)!.worker), "runs_on gpu went to a gpu worker");
    }
    const sched = await c.getScheduledComputeWorkerRuns();
    // LOCKED, or DONE once the 400 ms heartbeat timeout of this suite has ended the idle runs CRASHED
    // (a loaded machine takes longer than that between the claims and this read).
    const unexpected = sched.filter((s) => !s.run_id || (s.state !== "LOCKED" && s.state !== "DONE"));
    assert.deepEqual(unexpected, [], "every scheduled run has its run");
    assert.equal((await c.getComputeWorkerRuns()).length, 30);
    // Priority order for a single worker: CRITICAL before HIGH before MID before LOW, then oldest first.
    await c.createDataset("order", "imgs");
    const order: string[] = [];
    for (const p of ["LOW", "CRITICAL", "MID", "HIGH", "CRITICAL"] as const) order.push(await c.scheduleComputeWorkerRun({ ...TINY_C, priority: p }));
    const w = await c.registerComputeWorker("solo", []);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push((await api("POST", `/v1/workers/${w}/claim`, tokB, { wait_ms: 0 })).json.run.scheduled_id);
    assert.deepEqual(got, [order[1], order[4], order[3], order[2], order[0]]);
  });

  test("large artifacts stream to storage (S3: multipart parts, presigned redirect), download intact; over the limit → 413, the earlier one kept", async () => {
    const c = new ApiWorkflowClient({ url: srv.url, token: tokA });
    await c.createDataset("big", "imgs");
    await c.scheduleComputeWorkerRun(TINY_C);
    const wid = await c.registerComputeWorker("uploader", []);
    // This suite ends a run CRASHED after 400 ms without a heartbeat, and a CRASHED run refuses
    // uploads; streaming 12 MiB through the in-process server can starve heartbeats that long.
    const runId: string = (await api("POST", `/v1/workers/${wid}/claim`, tokA, { wait_ms: 0 })).json.run.id;
    const db = await openDb(database);
    await db.run(`UPDATE workers SET last_heartbeat = ? WHERE id = ?`, [Date.now() + 3_600_000, wid]);
    await db.close();
    const hdr = { "content-type": "application/octet-stream", "x-winnow-worker": wid };
    const big = randomBytes(12 << 20);
    const s3 = backend === "postgres" ? await localS3() : null;
    const before = s3?.requests.length ?? 0;
    const up = await api("PUT", `/v1/runs/${runId}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, tokA, big, hdr);
    assert.equal(up.status, 201, up.text);
    assert.equal(up.json.size, big.length);
    assert.equal(up.json.sha256, createHash("sha256").update(big).digest("hex"));
    const dl = path.join(dir, "big.ckpt");
    await c.downloadComputeWorkerRunCheckpoint(runId, dl);
    assert.ok(fs.readFileSync(dl).equals(big), "downloaded bytes equal the uploaded ones");
    const direct = await fetch(`${srv.url}/v1/runs/${runId}/artifacts/checkpoint.ckpt`, { headers: { authorization: `Bearer ${tokA}` }, redirect: "manual" });
    if (s3) {
      // 12 MiB in 5 MiB parts: a multipart upload of 3 parts, and downloads go straight to S3.
      const parts = s3.requests.slice(before).filter((r) => /^PUT \/winnow-art\/.*checkpoint\.ckpt[.\w]*\?.*partNumber=/.test(r));
      assert.equal(parts.length, 3, s3.requests.slice(before).join("\n"));
      assert.equal(direct.status, 302);
      const loc = direct.headers.get("location")!;
      assert.ok(loc.startsWith(`${s3.endpoint}/winnow-art/`) && loc.includes("X-Amz-Signature="), loc);
    } else {
      assert.equal(direct.status, 200);
      await direct.arrayBuffer();
    }
    // Over the limit: refused, and the run keeps its earlier checkpoint, bytes and record.
    const tooBig = await api("PUT", `/v1/runs/${runId}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, tokA, randomBytes(21 << 20), hdr).catch((e: Error) => ({ status: -1, text: e.message }));
    assert.ok(tooBig.status === 413 || tooBig.status === -1, `${tooBig.status} ${tooBig.text}`);
    const kept = (await c.getComputeWorkerRun(runId)).artifacts.find((a) => a.type === "CHECKPOINT")!;
    assert.equal(kept.size, big.length);
    await c.downloadComputeWorkerRunCheckpoint(runId, dl);
    assert.ok(fs.readFileSync(dl).equals(big), "the earlier checkpoint is intact");
  });

  test("dead-worker policy: a silent worker's run ends CRASHED with its artifacts kept; later updates get 409", async () => {
    const c = new ApiWorkflowClient({ url: srv.url, token: tokA });
    await c.createDataset("dead", "imgs");
    const sid = await c.scheduleComputeWorkerRun(TINY_C);
    const wid = await c.registerComputeWorker("doomed", []);
    const claim = (await api("POST", `/v1/workers/${wid}/claim`, tokA, { wait_ms: 0 })).json;
    const hdr = { "x-winnow-worker": wid };
    assert.equal((await api("PATCH", `/v1/runs/${claim.run.id}`, tokA, { state: "TRAINING" }, hdr)).status, 200);
    assert.equal((await api("PUT", `/v1/runs/${claim.run.id}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, tokA, "ck", { ...hdr, "content-type": "application/octet-stream" })).status, 201);
    const t0 = Date.now();
    let info = await c.getComputeWorkerRunInfo(sid);
    while (info.state === "TRAINING" && Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 50));
      info = await c.getComputeWorkerRunInfo(sid);
    }
    assert.equal(info.state, "CRASHED");
    assert.match(info.message, /no heartbeat/);
    assert.ok(Date.now() - t0 < 400 + 500 + 300, `noticed within timeout + one check period (${Date.now() - t0} ms)`);
    const run = await c.getComputeWorkerRun(claim.run.id);
    assert.ok(run.artifacts.some((a) => a.type === "CHECKPOINT"), "uploaded artifacts are kept");
    assert.equal((await c.getScheduledComputeWorkerRuns()).find((s) => s.id === sid)!.state, "DONE");
    const late = await api("PATCH", `/v1/runs/${claim.run.id}`, tokA, { state: "EMBEDDING" }, hdr);
    assert.equal(late.status, 409);
    // Its checkpoint can seed a new run (resume by checkpoint_run_id).
    assert.ok(await c.scheduleComputeWorkerRun({ ...TINY_C, workerConfig: { checkpoint_run_id: run.id } }));
  });
}

for (const backend of BACKENDS) describe(`service API on ${backend}`, () => suite(backend));
