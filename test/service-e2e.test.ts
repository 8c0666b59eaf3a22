// The service end to end with real processes on loopback: a server, two workers with different
// labels, runs scheduled through ApiWorkflowClient, checkpoint reuse (checkpoint_run_id, datapool),
// a checkpoint that loads in PyTorch, and the faults: kill -9 of a worker mid-training, a server
// restart mid-run, Ctrl-C of a worker. Once on SQLite (one server, two workers, local folders) and
// once on PostgreSQL with artifacts and the datasource in S3, two server processes behind the one
// database and three workers (there also: 50 small scheduled runs, each executed exactly once).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, type RunData } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { tinyFolder, TINY_LIGHTLY } from "./helpers/run-setup.js";
import { writePatternFolder } from "./helpers/ssl-images.js";
import { BACKENDS, artifactStorage, freshDatabase, localS3, uploadFolder, type BackendName } from "./helpers/service-backend.js";

function suite(backend: BackendName): void {
  // Long enough to cover a server restart (a tsx start-up) on a loaded 2-core machine: on PostgreSQL the
  // other server keeps judging heartbeats while the worker's own server is down.
  const HEARTBEAT_TIMEOUT_MS = 12_000;
  let dir: string;
  let token: string;
  let database: string;
  let storage: string;
  /** The servers (one on SQLite, two on PostgreSQL), each with its URL and port. */
  const servers: { proc: ChildProcess; url: string; port: number }[] = [];
  const workers: Record<string, { proc: ChildProcess; out: string[]; server: number }> = {};
  let client: ApiWorkflowClient;
  const multi = backend === "postgres";
  /** The S3 variables (endpoint, credentials) for the child processes on PostgreSQL + S3. */
  let childEnv: Record<string, string> = {};

  function proc(kind: "serve" | "worker", o: object): ChildProcess {
    return spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", kind, JSON.stringify(o)], {
      stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...childEnv },
    });
  }

  /** Starts server `i` (again, on its old port, when `p` is given). */
  async function startServer(i: number, p = 0): Promise<void> {
    const sp = proc("serve", { database, storage, datasourceRoot: path.join(dir, "root"), port: p, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
    sp.stderr!.on("data", (b) => process.stderr.write(`[server ${i}] ${b}`));
    const url = await new Promise<string>((resolve, reject) => {
      sp.stdout!.on("data", (b) => {
        const m = /listening (\S+)/.exec(String(b));
        if (m) resolve(m[1]!);
      });
      sp.on("exit", (c) => reject(new Error(`server exited ${c}`)));
    });
    servers[i] = { proc: sp, url, port: Number(new URL(url).port) };
  }

  function startWorker(name: string, labels: string[], server = 0): void {
    const p = proc("worker", { server: servers[server]!.url, token, name, labels, workDir: path.join(dir, name), datasourceRoot: path.join(dir, "root"), heartbeatMs: 500, pollWaitMs: 2000 });
    const out: string[] = [];
    p.stdout!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
    p.stderr!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
    workers[name] = { proc: p, out, server };
  }

  /** The test's worker (name) that registered as `id`. */
  async function workerNamed(id: string): Promise<string> {
    const w = (await client.getComputeWorkers()).find((x) => x.id === id);
    assert.ok(w && workers[w.name], `worker ${id} is one of this test's`);
    return w.name;
  }

  const cfg = (wc: Record<string, unknown> = {}, lc: Record<string, unknown> = {}) => ({
    workerConfig: { num_threads: 1, ...wc },
    selectionConfig: { n_samples: 4 },
    lightlyConfig: { ...TINY_LIGHTLY, ...lc, trainer: { ...TINY_LIGHTLY.trainer, ...((lc.trainer as object) ?? {}) } },
  });

  async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 90_000): Promise<T> {
    const t0 = Date.now();
    for (;;) {
      const v = await fn().catch(() => null);
      if (v) return v as T;
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  async function ended(scheduledId: string): Promise<RunData> {
    try {
      await waitFor(`scheduled run ${scheduledId} to end`, async () => (await client.getComputeWorkerRunInfo(scheduledId)).inEndState());
    } catch (e) {
      // A run that never ends: say where it stands and what the workers last said.
      const info = await client.getComputeWorkerRunInfo(scheduledId).then((i) => `${i.state}: ${i.message}`, (x) => `run info failed: ${(x as Error).message}`);
      const tails = Object.entries(workers).map(([n, w]) => `--- worker ${n} (server ${w.server}):\n${w.out.slice(-25).join("\n")}`).join("\n");
      throw new Error(`${(e as Error).message}; run ${info}\n${tails}`);
    }
    return client.getComputeWorkerRunFromScheduledRun(scheduledId);
  }

  const lines = (f: string): string[] => fs.readFileSync(f, "utf8").split("\n").filter(Boolean);

  before(async () => {
    dir = tempDir("winnow-service-e2e-");
    const { root } = await tinyFolder(16);
    fs.mkdirSync(path.join(dir, "root"));
    fs.renameSync(root, path.join(dir, "root", "imgs"));
    fs.mkdirSync(path.join(dir, "root", "small"));
    await writePatternFolder(path.join(dir, "root", "small"), 8, 16);
    database = await freshDatabase(backend, dir);
    storage = await artifactStorage(backend, dir, `e2e-${process.pid}`);
    if (multi) childEnv = (await localS3()).env;
    const db = await openDb(database);
    await migrate(db);
    token = (await new Store(db).createToken("e2e")).token;
    await db.close();
    // Two replicas starting at once on one database (PostgreSQL): both serve the same records.
    await Promise.all((multi ? [0, 1] : [0]).map((i) => startServer(i)));
    startWorker("gpu", ["gpu", "cpu"], 0);
    startWorker("cpu", ["cpu"], multi ? 1 : 0);
    if (multi) startWorker("cpu2", ["cpu"], 0);
    client = new ApiWorkflowClient({ url: servers[0]!.url, token });
    // On S3 the datasets' images are read from the bucket (mirrored by each worker).
    await client.createDataset("tiny", multi ? await uploadFolder(path.join(dir, "root", "imgs"), `e2e-${process.pid}/imgs`) : "imgs");
  });

  after(() => {
    for (const w of Object.values(workers)) w.proc.kill("SIGKILL");
    for (const s of servers) s.proc.kill("SIGKILL");
  });

  test("six scheduled runs: each executed once by a matching worker; checkpoint_run_id and datapool reuse; checkpoint loads in PyTorch", async () => {
    const gpuId = await waitFor("workers registered", async () => (await client.getComputeWorkers()).find((w) => w.name === "gpu")?.id);
    const s1 = await client.scheduleComputeWorkerRun({ ...cfg({ enable_training: true }), runsOn: ["gpu"], priority: "LOW" });
    const s2 = await client.scheduleComputeWorkerRun({ ...cfg({ enable_training: true }), priority: "HIGH" });
    const s3 = await client.scheduleComputeWorkerRun({ ...cfg(), priority: "CRITICAL", runsOn: ["cpu"] });
    const s5 = await client.scheduleComputeWorkerRun({ ...cfg({ enable_training: true, use_datapool: true }), priority: "MID" });
    const seen: string[] = [];
    for await (const info of client.computeWorkerRunInfoGenerator(s1, { pollMs: 100 })) seen.push(info.state);
    const r1 = await ended(s1);
    assert.equal(r1.state, "COMPLETED", r1.message);
    assert.equal(r1.worker_id, gpuId, "runs_on [gpu] ran on the gpu worker");
    assert.ok(seen.includes("COMPLETED") && seen.length >= 3, `states streamed: ${seen.join(" → ")}`);
    const s4 = await client.scheduleComputeWorkerRun({ ...cfg({ enable_training: true, checkpoint_run_id: r1.id }) });
    const r5 = await ended(s5);
    assert.equal(r5.state, "COMPLETED", r5.message);
    // s6 takes the datapool's checkpoint: the one trained by the newest COMPLETED datapool run (r5,
    // the only one), however recent the other runs' checkpoints are (docs/service.md).
    const [r2, r3, r4] = await Promise.all([s2, s3, s4].map(ended));
    const s6 = await client.scheduleComputeWorkerRun({ ...cfg({ use_datapool: true }) });
    const r6 = await ended(s6);
    for (const r of [r2, r3, r4, r6]) assert.equal(r!.state, "COMPLETED", r!.message);

    // Exactly once: one run per scheduled run, each claimed once across both workers' logs.
    const runs = await client.getComputeWorkerRuns();
    const ids = [r1, r2, r3, r4, r5, r6].map((r) => r!.id);
    for (const id of ids) {
      assert.equal(runs.filter((r) => r.id === id).length, 1);
      const claims = Object.values(workers).flatMap((w) => w.out).filter((l) => l.includes(`claimed run ${id}`));
      assert.equal(claims.length, 1, `run ${id} claimed once`);
    }
    assert.ok((await client.getScheduledComputeWorkerRuns()).every((s) => s.state === "DONE"));

    // Checkpoint reuse across the service.
    assert.equal(r4!.checkpoint_source, `run:${r1.id}`);
    assert.equal(r6!.checkpoint_source, `datapool:${r5.id}`);
    const dl = path.join(dir, "dl");
    await client.downloadComputeWorkerRunArtifacts(r6!, path.join(dl, "r6"));
    await client.downloadComputeWorkerRunArtifacts(r5, path.join(dl, "r5"));
    const log6 = fs.readFileSync(path.join(dl, "r6", "log.txt"), "utf8");
    assert.match(log6, /datapool: 4 sample\(s\) selected by 1 earlier run/);
    const pool5 = lines(path.join(dl, "r5", "selected_filenames.txt"));
    const new6 = lines(path.join(dl, "r6", "selected_filenames.txt"));
    assert.equal(new6.length, 4);
    assert.equal(new6.filter((f) => pool5.includes(f)).length, 0, "the datapool run picks new samples only");
    assert.deepEqual(lines(path.join(dl, "r6", "datapool_filenames.txt")), [...pool5, ...new6]);
    assert.ok(!r3!.artifacts.some((a) => a.type === "CHECKPOINT"), "a run without training uploads no checkpoint");
    assert.ok(r3!.artifacts.some((a) => a.type === "EMBEDDINGS") && r3!.artifacts.some((a) => a.type === "SELECTED_FILENAMES"));

    // The checkpoint through a signed URL and through the client loads in PyTorch with weights_only.
    const ck = path.join(dl, "r4.ckpt");
    await client.downloadComputeWorkerRunCheckpoint(r4!, ck);
    const viaUrl = Buffer.from(await (await fetch(await client.getComputeWorkerRunCheckpointUrl(r4!))).arrayBuffer());
    assert.deepEqual(viaUrl, fs.readFileSync(ck));
    if (multi) {
      // Stored in S3: the server answers the signed URL with a presigned S3 URL of the object.
      const s3 = await localS3();
      const hop = await fetch(await client.getComputeWorkerRunCheckpointUrl(r4!), { redirect: "manual" });
      assert.equal(hop.status, 302);
      assert.ok(hop.headers.get("location")!.startsWith(`${s3.endpoint}/winnow-art/e2e-${process.pid}/`), hop.headers.get("location")!);
      assert.ok(s3.requests.some((l) => l.startsWith(`PUT /winnow-art/e2e-${process.pid}/`) && l.includes(`/${r4!.id}/checkpoint.ckpt`)), "uploaded to the bucket");
      // The signing key lives in the database: the other replica accepts the same signed URL.
      const other = new URL(await client.getComputeWorkerRunCheckpointUrl(r4!));
      other.port = String(servers[1]!.port);
      const viaOther = Buffer.from(await (await fetch(other)).arrayBuffer());
      assert.deepEqual(viaOther, fs.readFileSync(ck));
    }
    const py = spawnSync("/usr/bin/python3", ["-c", `
import sys, torch
sd = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
sd = sd.get("state_dict", sd)
n = sum(v.numel() for v in sd.values() if torch.is_tensor(v))
print(len(sd), n)
`, ck], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
    const [keys, params] = py.stdout.trim().split(" ").map(Number);
    assert.ok(keys! > 10 && params! > 10_000, py.stdout);
  });

  if (multi) test("two servers, three workers: 50 small scheduled runs, each executed exactly once", async () => {
    // Runs without training on 8 images (the point is the claiming, not the pipeline), scheduled
    // through both servers; the workers long-poll one server or the other.
    const small = new ApiWorkflowClient({ url: servers[1]!.url, token });
    await small.createDataset("small", await uploadFolder(path.join(dir, "root", "small"), `e2e-${process.pid}/small`));
    const viaA = new ApiWorkflowClient({ url: servers[0]!.url, token, datasetId: small.datasetId! });
    const cheap = { workerConfig: { num_threads: 1, enable_training: false }, selectionConfig: { n_samples: 2 }, lightlyConfig: { ...TINY_LIGHTLY, loader: { batch_size: 8 } } };
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push(await (i % 2 ? small : viaA).scheduleComputeWorkerRun({ ...cheap, priority: (["LOW", "MID", "HIGH"] as const)[i % 3] }));
    const runs = await Promise.all(ids.map((id) => waitFor(`run of ${id}`, async () => {
      const info = await client.getComputeWorkerRunInfo(id);
      return info.inEndState() ? client.getComputeWorkerRunFromScheduledRun(id) : null;
    }, 400_000)));
    for (const r of runs) assert.equal(r.state, "COMPLETED", r.message);
    assert.equal(new Set(runs.map((r) => r.id)).size, 50, "one run per scheduled run");
    const claims = Object.values(workers).flatMap((w) => w.out).filter((l) => /claimed run \S+ \(scheduled/.test(l));
    for (const id of ids) assert.equal(claims.filter((l) => l.includes(`scheduled ${id},`)).length, 1, `scheduled run ${id} claimed once`);
    const byWorker = new Map<string, number>();
    for (const r of runs) byWorker.set(r.worker_id, (byWorker.get(r.worker_id) ?? 0) + 1);
    assert.equal(byWorker.size, 3, `all three workers took runs: ${[...byWorker.values()].join(", ")}`);
    const sched = await small.getScheduledComputeWorkerRuns();
    assert.equal(sched.filter((s) => ids.includes(s.id) && s.state === "DONE").length, 50);
    // Each run read the 8 images of the S3 datasource.
    const one = path.join(dir, "dl", "small-one");
    await client.downloadComputeWorkerRunArtifacts(runs[0]!, one);
    assert.equal(lines(path.join(one, "embeddings.csv")).length, 1 + 8);
  });

  test("kill -9 of a worker mid-training: its run ends CRASHED within the heartbeat timeout, the other worker carries on", async () => {
    const sLong = await client.scheduleComputeWorkerRun({ ...cfg({ enable_training: true }, { trainer: { max_epochs: 5000 } }), runsOn: ["gpu"] });
    const running = await waitFor("long run training with a checkpoint uploaded", async () => {
      const r = await client.getComputeWorkerRunFromScheduledRun(sLong);
      return r.state === "TRAINING" && r.artifacts.some((a) => a.type === "CHECKPOINT") ? r : null;
    });
    const sOther = await client.scheduleComputeWorkerRun(cfg());
    assert.equal(await workerNamed(running.worker_id), "gpu");
    workers.gpu!.proc.kill("SIGKILL");
    const t0 = Date.now();
    const crashed = await ended(sLong);
    const took = Date.now() - t0;
    assert.equal(crashed.state, "CRASHED");
    assert.match(crashed.message, /no heartbeat/);
    assert.ok(took < HEARTBEAT_TIMEOUT_MS + 3000, `noticed in ${took} ms`);
    assert.ok(crashed.artifacts.some((a) => a.type === "CHECKPOINT"), "the uploaded epoch checkpoint is kept");
    const other = await ended(sOther);
    assert.equal(other.state, "COMPLETED", other.message);
    assert.notEqual(other.worker_id, running.worker_id);
    // The crashed run's checkpoint seeds a new run (the documented way to resume).
    const sResume = await client.scheduleComputeWorkerRun(cfg({ checkpoint_run_id: crashed.id }));
    const resumed = await ended(sResume);
    assert.equal(resumed.state, "COMPLETED", resumed.message);
    assert.equal(resumed.checkpoint_source, `run:${crashed.id}`);
  });

  test("server restart mid-run: the worker reconnects and the run completes", async () => {
    const s = await client.scheduleComputeWorkerRun(cfg({ enable_training: true }, { trainer: { max_epochs: 12 } }));
    const training = await waitFor("run training", async () => {
      const r = await client.getComputeWorkerRunFromScheduledRun(s);
      return r.state === "TRAINING" ? r : null;
    });
    // Restart the server that the run's worker talks to (with two, the client uses the other one).
    const name = await workerNamed(training.worker_id);
    const i = workers[name]!.server;
    const seenBefore = workers[name]!.out.filter((l) => /server unreachable/.test(l)).length;
    servers[i]!.proc.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    await startServer(i, servers[i]!.port);
    const r = await ended(s);
    assert.equal(r.state, "COMPLETED", r.message);
    assert.ok(r.artifacts.some((a) => a.type === "CHECKPOINT"));
    assert.ok(workers[name]!.out.filter((l) => /server unreachable/.test(l)).length > seenBefore, "the worker noticed the server was gone");
  });

  test("Ctrl-C of a worker: the run keeps its checkpoint, uploads it and ends ABORTED; the worker exits", async () => {
    const s = await client.scheduleComputeWorkerRun(cfg({ enable_training: true }, { trainer: { max_epochs: 5000 } }));
    const training = await waitFor("run training with a checkpoint", async () => {
      const r = await client.getComputeWorkerRunFromScheduledRun(s);
      return r.state === "TRAINING" && r.artifacts.some((a) => a.type === "CHECKPOINT") ? r : null;
    });
    const w = workers[await workerNamed(training.worker_id)]!.proc;
    const exited = new Promise<number | null>((resolve) => w.on("exit", (c) => resolve(c)));
    w.kill("SIGINT");
    const r = await ended(s);
    assert.equal(r.state, "ABORTED", r.message);
    assert.ok(r.artifacts.some((a) => a.type === "CHECKPOINT") && r.artifacts.some((a) => a.type === "LOG"));
    assert.equal(await exited, 0);
  });

  if (!multi) test("worker_config.shutdown_when_job_finished in a scheduled run: the worker that ran it exits", async () => {
    startWorker("once", ["once"], 0);
    const w = workers.once!.proc;
    const exited = new Promise<number | null>((resolve) => w.on("exit", (c) => resolve(c)));
    const s = await client.scheduleComputeWorkerRun({ ...cfg({ shutdown_when_job_finished: true }), runsOn: ["once"] });
    const r = await ended(s);
    assert.equal(r.state, "COMPLETED", r.message);
    assert.equal(await exited, 0);
    assert.ok(workers.once!.out.some((l) => /shutting down after run .*worker_config\.shutdown_when_job_finished/.test(l)), workers.once!.out.join("\n"));
  });
}

for (const backend of BACKENDS) describe(`service end to end on ${backend}`, () => suite(backend));
