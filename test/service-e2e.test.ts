// The service end to end with real processes on loopback: a server, two workers with different
// labels, runs scheduled through ApiWorkflowClient, checkpoint reuse (checkpoint_run_id, datapool),
// a checkpoint that loads in PyTorch, and the faults: kill -9 of a worker mid-training, a server
// restart mid-run, Ctrl-C of a worker.
import { test, before, after } from "node:test";
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

const HEARTBEAT_TIMEOUT_MS = 5000;
let dir: string;
let token: string;
let url: string;
let port: number;
let server: ChildProcess;
const workers: Record<string, { proc: ChildProcess; out: string[] }> = {};
let client: ApiWorkflowClient;

function proc(kind: "serve" | "worker", o: object): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", kind, JSON.stringify(o)], { stdio: ["ignore", "pipe", "pipe"] });
}

async function startServer(p = 0): Promise<void> {
  server = proc("serve", { database: path.join(dir, "w.db"), storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), port: p, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  server.stderr!.on("data", (b) => process.stderr.write(`[server] ${b}`));
  url = await new Promise<string>((resolve, reject) => {
    server.stdout!.on("data", (b) => {
      const m = /listening (\S+)/.exec(String(b));
      if (m) resolve(m[1]!);
    });
    server.on("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
  port = Number(new URL(url).port);
}

function startWorker(name: string, labels: string[]): void {
  const p = proc("worker", { server: url, token, name, labels, workDir: path.join(dir, name), datasourceRoot: path.join(dir, "root"), heartbeatMs: 500, pollWaitMs: 2000 });
  const out: string[] = [];
  p.stdout!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
  p.stderr!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
  workers[name] = { proc: p, out };
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
  await waitFor(`scheduled run ${scheduledId} to end`, async () => (await client.getComputeWorkerRunInfo(scheduledId)).inEndState());
  return client.getComputeWorkerRunFromScheduledRun(scheduledId);
}

const lines = (f: string): string[] => fs.readFileSync(f, "utf8").split("\n").filter(Boolean);

before(async () => {
  dir = tempDir("winnow-service-e2e-");
  const { root } = await tinyFolder(16);
  fs.mkdirSync(path.join(dir, "root"));
  fs.renameSync(root, path.join(dir, "root", "imgs"));
  const db = await openDb(path.join(dir, "w.db"));
  await migrate(db);
  token = (await new Store(db).createToken("e2e")).token;
  await db.close();
  await startServer();
  startWorker("gpu", ["gpu", "cpu"]);
  startWorker("cpu", ["cpu"]);
  client = new ApiWorkflowClient({ url, token });
  await client.createDataset("tiny", "imgs");
});

after(() => {
  for (const w of Object.values(workers)) w.proc.kill("SIGKILL");
  server.kill("SIGKILL");
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
  const s6 = await client.scheduleComputeWorkerRun({ ...cfg({ use_datapool: true }) });
  const [r2, r3, r4, r6] = await Promise.all([s2, s3, s4, s6].map(ended));
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

test("kill -9 of a worker mid-training: its run ends CRASHED within the heartbeat timeout, the other worker carries on", async () => {
  const sLong = await client.scheduleComputeWorkerRun({ ...cfg({ enable_training: true }, { trainer: { max_epochs: 5000 } }), runsOn: ["gpu"] });
  const running = await waitFor("long run training with a checkpoint uploaded", async () => {
    const r = await client.getComputeWorkerRunFromScheduledRun(sLong);
    return r.state === "TRAINING" && r.artifacts.some((a) => a.type === "CHECKPOINT") ? r : null;
  });
  const sOther = await client.scheduleComputeWorkerRun(cfg());
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
  await waitFor("run training", async () => (await client.getComputeWorkerRunFromScheduledRun(s)).state === "TRAINING");
  server.kill("SIGKILL");
  await new Promise((r) => setTimeout(r, 500));
  await startServer(port);
  const r = await ended(s);
  assert.equal(r.state, "COMPLETED", r.message);
  assert.ok(r.artifacts.some((a) => a.type === "CHECKPOINT"));
  assert.ok(workers.cpu!.out.some((l) => /server unreachable/.test(l)), "the worker noticed the server was gone");
});

test("Ctrl-C of a worker: the run keeps its checkpoint, uploads it and ends ABORTED; the worker exits", async () => {
  const s = await client.scheduleComputeWorkerRun(cfg({ enable_training: true }, { trainer: { max_epochs: 5000 } }));
  await waitFor("run training with a checkpoint", async () => {
    const r = await client.getComputeWorkerRunFromScheduledRun(s);
    return r.state === "TRAINING" && r.artifacts.some((a) => a.type === "CHECKPOINT");
  });
  const w = workers.cpu!.proc;
  const exited = new Promise<number | null>((resolve) => w.on("exit", (c) => resolve(c)));
  w.kill("SIGINT");
  const r = await ended(s);
  assert.equal(r.state, "ABORTED", r.message);
  assert.ok(r.artifacts.some((a) => a.type === "CHECKPOINT") && r.artifacts.some((a) => a.type === "LOG"));
  assert.equal(await exited, 0);
});
