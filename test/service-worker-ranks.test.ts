// A service worker runs a run's ranks (src/worker/job-ranks.ts), with a real server and a real CPU
// worker process on SQLite: a run scheduled with trainer.num_processes 2 is claimed by the CPU
// worker, trains and embeds over 2 Gloo ranks on loopback (the worker's log names both pids), and
// ends COMPLETED with the same artifacts as a 1-rank run, one embeddings.csv of every image. A cancel
// mid-training ends the 2-rank run ABORTED with its checkpoint, and no rank process is left.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, type RunData } from "../src/client/index.js";
import { readEmbeddingsCsv } from "../src/run/embeddings-csv.js";
import { tempDir } from "./helpers/data-images.js";
import { startServerProcess, killStarted } from "./helpers/server-process.js";
import { tinyFolder, TINY_LIGHTLY } from "./helpers/run-setup.js";

let dir: string;
let client: ApiWorkflowClient;
let worker: ChildProcess;
const out: string[] = [];
const ENDED = ["COMPLETED", "FAILED", "ABORTED", "CRASHED"];

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 150_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v as T;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}\n--- worker:\n${out.slice(-20).join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cfg = (numProcesses: number, epochs: number) => ({
  workerConfig: { num_threads: 1, enable_training: true },
  selectionConfig: { n_samples: 4 },
  lightlyConfig: { ...TINY_LIGHTLY, loader: { batch_size: 4 }, trainer: { gpus: 0, num_processes: numProcesses, max_epochs: epochs } },
});

const ended = (scheduledId: string): Promise<RunData> => waitFor(`run of ${scheduledId} to end`, async () => {
  const r = await client.getComputeWorkerRunFromScheduledRun(scheduledId);
  return ENDED.includes(r.state) ? r : null;
});

/** The pids of the run's ranks, from the worker's log line. */
const rankPids = (runId: string): Promise<number[]> => waitFor(`the ranks of run ${runId} in the worker's log`, async () => {
  const line = out.find((l) => l.includes(`run ${runId}: 2 ranks (pids `));
  return line ? /pids ([\d, ]+)\)/.exec(line)![1]!.split(", ").map(Number) : null;
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

before(async () => {
  dir = tempDir("winnow-worker-ranks-");
  const { root } = await tinyFolder(10, "winnow-worker-ranks-img-");
  fs.mkdirSync(path.join(dir, "root"));
  fs.renameSync(root, path.join(dir, "root", "imgs"));
  const database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  const token = (await new Store(db).createToken("ranks")).token;
  await db.close();
  const server = await startServerProcess({ database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), heartbeatTimeoutMs: 60_000 });
  client = new ApiWorkflowClient({ url: server.url, token });
  await client.createDataset("tiny", "imgs");
  const o = { server: server.url, token, name: "cpu", device: "cpu", workDir: path.join(dir, "worker"), datasourceRoot: path.join(dir, "root"), heartbeatMs: 500, pollWaitMs: 500 };
  worker = spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", "worker", JSON.stringify(o)], { stdio: ["ignore", "pipe", "pipe"] });
  for (const s of [worker.stdout!, worker.stderr!]) s.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
});

after(() => {
  worker?.kill("SIGKILL");
  killStarted();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a CPU worker runs trainer.num_processes 2 as 2 ranks: COMPLETED, artifacts as a 1-rank run, one embeddings.csv", { timeout: 400_000 }, async () => {
  const two = await ended(await client.scheduleComputeWorkerRun(cfg(2, 1)));
  assert.equal(two.state, "COMPLETED", two.message);
  const pids = await rankPids(two.id);
  assert.equal(pids.length, 2);
  assert.ok(pids.every((p) => !alive(p)), `no rank left: ${pids}`);
  const log = path.join(dir, "two-log.txt");
  await client.downloadComputeWorkerRunLog(two, log);
  assert.match(fs.readFileSync(log, "utf8"), /2 ranks joined; this rank trains and embeds on cpu/);
  const csv = path.join(dir, "two.csv");
  await client.downloadArtifact(two, "EMBEDDINGS", csv);
  const emb = readEmbeddingsCsv(csv);
  // The folder less its corrupt file and its exact duplicate.
  const images = fs.readdirSync(path.join(dir, "root", "imgs")).filter((f) => !f.startsWith("zz-")).sort();
  assert.deepEqual([...emb.filenames].sort(), images, "every image once, gathered from both ranks");

  const one = await ended(await client.scheduleComputeWorkerRun(cfg(1, 1)));
  assert.equal(one.state, "COMPLETED", one.message);
  assert.ok(!out.some((l) => l.includes(`run ${one.id}: `) && l.includes(" ranks (pids")), "a 1-rank run starts no ranks");
  const kinds = (r: RunData): string[] => r.artifacts.map((a) => `${a.type}:${a.file_name}`).sort();
  assert.deepEqual(kinds(two), kinds(one));
  const oneCsv = path.join(dir, "one.csv");
  await client.downloadArtifact(one, "EMBEDDINGS", oneCsv);
  assert.deepEqual(emb.filenames, readEmbeddingsCsv(oneCsv).filenames, "the same rows in the same (file) order as 1 rank");
  assert.ok(kinds(two).includes("CHECKPOINT:checkpoint.ckpt") && kinds(two).includes("EMBEDDINGS:embeddings.csv"), kinds(two).join(" "));
  const left = (fs.readdirSync(path.join(dir, "worker"), { recursive: true }) as string[]).filter((f) => /rank-tmp|winnow-rank-/.test(f));
  assert.deepEqual(left, [], "no rank scratch folder left in the worker's folder");
});

test("cancel of a 2-rank run mid-training: ABORTED with its checkpoint, every rank process gone", { timeout: 400_000 }, async () => {
  const s = await client.scheduleComputeWorkerRun(cfg(2, 200));
  const running = await waitFor("the 2-rank run training", async () => {
    const r = await client.getComputeWorkerRunFromScheduledRun(s);
    return r.state === "TRAINING" && r.artifacts.some((a) => a.type === "CHECKPOINT") ? r : null;
  });
  const pids = await rankPids(running.id);
  assert.ok(pids.every(alive), "both ranks run while training");
  await client.cancelScheduledComputeWorkerRun(s);
  const r = await ended(s);
  assert.equal(r.state, "ABORTED", r.message);
  assert.ok(r.artifacts.some((a) => a.type === "CHECKPOINT"), "the checkpoint is kept");
  await waitFor("every rank process to exit", async () => pids.every((p) => !alive(p)), 15_000);
});

test("kill -9 of rank 1 mid-training: the run ends FAILED naming the rank, checkpoint kept, rank 0 gone too", { timeout: 400_000 }, async () => {
  const s = await client.scheduleComputeWorkerRun(cfg(2, 200));
  const running = await waitFor("the 2-rank run training", async () => {
    const r = await client.getComputeWorkerRunFromScheduledRun(s);
    return r.state === "TRAINING" && r.artifacts.some((a) => a.type === "CHECKPOINT") ? r : null;
  });
  const pids = await rankPids(running.id);
  process.kill(pids[1]!, "SIGKILL");
  const r = await ended(s);
  assert.equal(r.state, "FAILED", r.message);
  assert.match(r.message, /rank 1 \(local rank 1\) was killed by SIGKILL/);
  assert.ok(r.artifacts.some((a) => a.type === "CHECKPOINT"), "the checkpoint is kept");
  await waitFor("rank 0 (the job process) to exit", async () => !alive(pids[0]!), 15_000);
});
