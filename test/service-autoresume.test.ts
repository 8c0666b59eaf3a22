// Automatic resume on the service (worker_config.max_retries), with a real server and real worker
// processes on SQLite: a worker killed with kill -9 mid-training has its run CRASHED by the
// dead-worker policy, queued again, claimed by another worker, which resumes it from the crashed run's
// CHECKPOINT so the loss curve continues as if never interrupted; and the retry limit stops it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, type RunData } from "../src/client/index.js";
import { run } from "../src/run/index.js";
import { tempDir } from "./helpers/data-images.js";
import { startServerProcess } from "./helpers/server-process.js";
import { tinyFolder, TINY_LIGHTLY } from "./helpers/run-setup.js";

const HEARTBEAT_TIMEOUT_MS = 3000;
const EPOCHS = 40;
// The worker's job and run() below compute the same steps on one thread: resume is bit-exact.
const TOLERANCE = 1e-6;
let dir: string;
let token: string;
let server: { proc: ChildProcess; url: string };
const workers: Record<string, { proc: ChildProcess; out: string[] }> = {};
let client: ApiWorkflowClient;

function proc(kind: "serve" | "worker", o: object): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", kind, JSON.stringify(o)], { stdio: ["ignore", "pipe", "pipe"] });
}

function startWorker(name: string, labels: string[]): void {
  const p = proc("worker", { server: server.url, token, name, labels, workDir: path.join(dir, name), datasourceRoot: path.join(dir, "root"), heartbeatMs: 500, pollWaitMs: 1000 });
  const out: string[] = [];
  p.stdout!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
  p.stderr!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
  workers[name] = { proc: p, out };
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v as T;
    if (Date.now() - t0 > timeoutMs) {
      const tails = Object.entries(workers).map(([n, w]) => `--- worker ${n}:\n${w.out.slice(-15).join("\n")}`).join("\n");
      throw new Error(`timed out waiting for ${what}\n${tails}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cfg = (maxRetries: number) => ({
  workerConfig: { num_threads: 1, enable_training: true, max_retries: maxRetries },
  selectionConfig: { n_samples: 4 },
  lightlyConfig: { ...TINY_LIGHTLY, trainer: { gpus: 0, max_epochs: EPOCHS } },
});

/** Waits until the run of `scheduledId` trains on a worker and has uploaded a checkpoint; answers the run. */
const trainingWithCheckpoint = (scheduledId: string): Promise<RunData> =>
  waitFor(`run of ${scheduledId} training with a checkpoint`, async () => {
    const r = await client.getComputeWorkerRunFromScheduledRun(scheduledId);
    return r.state === "TRAINING" && r.artifacts.some((a) => a.type === "CHECKPOINT") ? r : null;
  });

const crashedRun = (id: string): Promise<RunData> => waitFor(`run ${id} CRASHED`, async () => {
  const r = await client.getComputeWorkerRun(id);
  return r.state === "CRASHED" ? r : null;
});

async function workerName(id: string): Promise<string> {
  return (await client.getComputeWorkers()).find((w) => w.id === id)!.name;
}

before(async () => {
  dir = tempDir("winnow-autoresume-");
  const { root } = await tinyFolder(24, "winnow-autoresume-img-");
  fs.mkdirSync(path.join(dir, "root"));
  fs.renameSync(root, path.join(dir, "root", "imgs"));
  const database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  token = (await new Store(db).createToken("autoresume")).token;
  await db.close();
  server = await startServerProcess({ database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  const url = server.url;
  client = new ApiWorkflowClient({ url, token });
  await client.createDataset("tiny", "imgs");
});

after(() => {
  for (const w of Object.values(workers)) w.proc.kill("SIGKILL");
  server?.proc.kill("SIGKILL");
});

test("kill -9 mid-training: the CRASHED run is resumed on another worker and its loss curve continues", async () => {
  startWorker("first", ["resume"]);
  const s = await client.scheduleComputeWorkerRun({ ...cfg(2), runsOn: ["resume"] });
  const running = await trainingWithCheckpoint(s);
  assert.equal(await workerName(running.worker_id), "first");
  startWorker("second", ["resume"]);
  workers.first!.proc.kill("SIGKILL");
  const crashed = await crashedRun(running.id);
  const m = /resumed automatically as scheduled run (\w+) \(retry 1 of 2\)/.exec(crashed.message);
  assert.ok(m, crashed.message);
  const resumed = await waitFor("the resumed run to end", async () => {
    const r = await client.getComputeWorkerRunFromScheduledRun(m[1]!);
    return ["COMPLETED", "FAILED", "ABORTED", "CRASHED"].includes(r.state) ? r : null;
  });
  assert.equal(resumed.state, "COMPLETED", resumed.message);
  assert.equal(await workerName(resumed.worker_id), "second");
  assert.equal(resumed.checkpoint_source, `resume:${crashed.id}`);

  const log = path.join(dir, "resumed-log.txt");
  await client.downloadComputeWorkerRunLog(resumed, log);
  const at = /resumed from \S+: epoch (\d+), step (\d+)/.exec(fs.readFileSync(log, "utf8"));
  assert.ok(at, "the job resumed (not restarted) training");
  const report = path.join(dir, "resumed-report.json");
  await client.downloadComputeWorkerRunReportJson(resumed, report);
  const got = (JSON.parse(fs.readFileSync(report, "utf8")) as { training: { epochLosses: number[] } }).training.epochLosses;

  // The same training uninterrupted, in this process.
  process.env.WINNOW_HOME = tempDir("winnow-autoresume-home-");
  const c = cfg(0);
  const whole = await run({
    input: path.join(dir, "root", "imgs"), output: path.join(dir, "whole"), stream: null,
    config: { worker_config: { ...c.workerConfig, max_retries: 0 }, selection_config: c.selectionConfig, lightly_config: c.lightlyConfig },
  });
  const want = whole.report.training!.epochLosses;
  assert.equal(got.length, EPOCHS);
  const from = Number(at[1]) - 1;
  assert.ok(from >= 1 && from < EPOCHS, `interrupted after epoch ${from}`);
  const diff = Math.max(...want.map((w, i) => Math.abs(w - got[i]!)));
  console.log(`autoresume: killed during epoch ${from + 1} (step ${at[2]}); resumed epochs ${from + 1}..${EPOCHS}; max |Δ| of epoch losses vs uninterrupted ${diff}`);
  assert.ok(diff <= TOLERANCE, `epoch losses differ by ${diff}`);
});

test("the retry limit: a run that keeps killing its workers is not queued again after max_retries", async () => {
  startWorker("victim1", ["victim"]);
  const s = await client.scheduleComputeWorkerRun({ ...cfg(1), runsOn: ["victim"] });
  const first = await trainingWithCheckpoint(s);
  workers.victim1!.proc.kill("SIGKILL");
  const c1 = await crashedRun(first.id);
  const m = /resumed automatically as scheduled run (\w+) \(retry 1 of 1\)/.exec(c1.message);
  assert.ok(m, c1.message);
  startWorker("victim2", ["victim"]);
  const second = await trainingWithCheckpoint(m[1]!);
  assert.equal(await workerName(second.worker_id), "victim2");
  workers.victim2!.proc.kill("SIGKILL");
  const c2 = await crashedRun(second.id);
  assert.match(c2.message, /not resumed again: worker_config\.max_retries \(1\) reached; checkpoint_run_id=\w+ continues/);
  // Nothing is waiting for a worker: the run stays CRASHED and both scheduled runs are closed.
  await new Promise((r) => setTimeout(r, 1500));
  const open = await client.getScheduledComputeWorkerRuns("OPEN");
  assert.deepEqual(open.map((x) => x.id), []);
  assert.equal((await client.getComputeWorkerRun(second.id)).state, "CRASHED");
});
