// A scheduled run config is untrusted input that a worker executes: attacks through its path- and
// URL-valued keys, against a real server and a real worker process. What the server can judge is
// refused at schedule time (400 naming the field); the rest the worker refuses (src/run/policy.ts):
// configs edited in the database after scheduling stand for configs stored before the check existed.
// Safe outcome: the run ends FAILED quickly, the internal listeners see no connection, no file is
// written outside the run folder, and the secret marker (in a file outside the datasource and in the
// worker's environment, i.e. /proc/self/environ) appears in no run message, log line or artifact.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, ApiValidationError, type RunData } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { startServerProcess } from "./helpers/server-process.js";
import { tinyFolder, TINY_LIGHTLY } from "./helpers/run-setup.js";

const MARKER = `WINNOW_SECRET_${randomBytes(8).toString("hex")}`;
let dir: string;
let database: string;
let token: string;
let server: { proc: ChildProcess; url: string };
let worker: { proc: ChildProcess; out: string[] } | null = null;
let client: ApiWorkflowClient;
/** Listeners standing for internal services: `internal` on 127.0.0.1 must never be reached. */
const conns = { internal: 0, allowed: 0 };
let internal: http.Server;
let allowed: http.Server;
const ids: string[] = [];

function proc(kind: "serve" | "worker", o: object, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", kind, JSON.stringify(o)], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
}

const listen = (s: http.Server, host: string): Promise<number> =>
  new Promise((resolve) => s.listen(0, host, () => resolve((s.address() as { port: number }).port)));

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v as T;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; worker said:\n${worker?.out.slice(-30).join("\n")}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function ended(scheduledId: string): Promise<RunData> {
  await waitFor(`scheduled run ${scheduledId} to end`, async () => (await client.getComputeWorkerRunInfo(scheduledId)).inEndState());
  return client.getComputeWorkerRunFromScheduledRun(scheduledId);
}

const cfg = (wc: Record<string, unknown> = {}, lc: Record<string, unknown> = {}) => ({
  workerConfig: { num_threads: 1, ...wc },
  selectionConfig: { n_samples: 3 },
  lightlyConfig: { ...TINY_LIGHTLY, trainer: { gpus: 0, max_epochs: 1 }, ...lc },
});

async function refused(o: ReturnType<typeof cfg> | Record<string, unknown>, field: string): Promise<string> {
  const e = await client.scheduleComputeWorkerRun(o as never).then(() => null, (x: unknown) => x);
  assert.ok(e instanceof ApiValidationError, `refused with 400 naming ${field}, got ${String(e)}`);
  assert.equal(e.field, field);
  return e.message;
}

before(async () => {
  dir = tempDir("winnow-security-config-");
  const root = path.join(dir, "root");
  fs.mkdirSync(root);
  const { root: imgs } = await tinyFolder(8);
  fs.renameSync(imgs, path.join(root, "imgs"));
  // Outside the datasource: a file holding the secret, shaped so a reader that quotes lines would leak it.
  fs.mkdirSync(path.join(dir, "outside"));
  fs.writeFileSync(path.join(dir, "outside", "secret.csv"), `${MARKER},embedding_0,labels\n${MARKER},1,0\n`);
  fs.mkdirSync(path.join(dir, "cron.d"));
  // Traps inside the datasource: symlinks leading out, and a FIFO nobody ever writes to.
  fs.symlinkSync(path.join(dir, "outside", "secret.csv"), path.join(root, "imgs", "leak.csv"));
  execFileSync("mkfifo", [path.join(root, "imgs", "pipe.csv")]);

  internal = http.createServer((_q, r) => r.end("internal secret"));
  internal.on("connection", () => conns.internal++);
  const internalPort = await listen(internal, "127.0.0.1");
  // An operator-allowed host (127.0.0.3, --allow-url-host) that redirects to the internal one.
  allowed = http.createServer((_q, r) => {
    r.writeHead(302, { location: `http://127.0.0.1:${internalPort}/model.ckpt` });
    r.end();
  });
  allowed.on("connection", () => conns.allowed++);
  const allowedPort = await listen(allowed, "127.0.0.3");
  Object.assign(ports, { internal: internalPort, allowed: allowedPort });

  database = path.join(dir, "winnow.db");
  const db = await openDb(database);
  await migrate(db);
  token = (await new Store(db).createToken("sec")).token;
  await db.close();
  server = await startServerProcess({ database, storage: path.join(dir, "artifacts"), datasourceRoot: root, heartbeatTimeoutMs: 30_000 });
  const url = server.url;
  client = new ApiWorkflowClient({ url, token });
  await client.createDataset("imgs", "imgs");
});

const ports = { internal: 0, allowed: 0 };

function startWorker(): void {
  const p = proc("worker", {
    server: server.url, token, name: "w", workDir: path.join(dir, "work"), datasourceRoot: path.join(dir, "root"),
    heartbeatMs: 500, pollWaitMs: 2000, allowUrlHosts: ["127.0.0.3"],
  }, { WINNOW_TEST_SECRET: MARKER });
  const out: string[] = [];
  p.stdout!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
  p.stderr!.on("data", (b) => out.push(...String(b).split("\n").filter(Boolean)));
  worker = { proc: p, out };
}

after(() => {
  worker?.proc.kill("SIGKILL");
  server?.proc.kill("SIGKILL");
  internal?.close();
  allowed?.close();
});

test("schedule time: absolute or escaping paths and out-of-bounds sizes are refused with 400 naming the field", async () => {
  await refused(cfg({ embeddings: "/proc/self/environ" }), "worker_config.embeddings");
  await refused(cfg({ embeddings: path.join(dir, "outside", "secret.csv") }), "worker_config.embeddings");
  await refused(cfg({ embeddings: "../outside/secret.csv" }), "worker_config.embeddings");
  await refused(cfg({ checkpoint: "/etc/passwd" }), "worker_config.checkpoint");
  await refused(cfg({ checkpoint: "file:///etc/passwd" }), "worker_config.checkpoint");
  const m = await refused(cfg({}, { checkpoint_callback: { dirpath: "/etc/cron.d" } }), "lightly_config.checkpoint_callback.dirpath");
  assert.match(m, /absolute paths are not allowed/);
  await refused(cfg({}, { checkpoint_callback: { dirpath: "../../x" } }), "lightly_config.checkpoint_callback.dirpath");
  await refused(cfg({}, { trainer: { max_epochs: 1_000_000 } }), "lightly_config.trainer.max_epochs");
  await refused(cfg({}, { loader: { batch_size: 100_000 } }), "lightly_config.loader.batch_size");
  await refused(cfg({}, { collate: { input_size: 5000 } }), "lightly_config.collate.input_size");
  await refused({ ...cfg(), selectionConfig: { n_samples: 1e9 } }, "selection_config.n_samples");
  // A stored config is judged against the dataset when it is scheduled by id.
  const configId = await client.createComputeWorkerConfig({ workerConfig: { embeddings: "/proc/self/environ" }, selectionConfig: { n_samples: 3 } });
  const ds = (await client.getDatasets()).find((d) => d.name === "imgs")!;
  const res = await fetch(`${server.url}/v1/datasets/${ds.id}/scheduled-runs`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ config_id: configId }),
  });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { field?: string }).field, "worker_config.embeddings");
  assert.equal((await client.getScheduledComputeWorkerRuns()).length, 0, "nothing was scheduled");
});

test("worker side: every attack ends FAILED quickly, reaches no internal address and writes nothing outside the run", async (t) => {
  const sched = async (o: ReturnType<typeof cfg>): Promise<string> => {
    const id = await client.scheduleComputeWorkerRun(o);
    ids.push(id);
    return id;
  };
  const leakLink = await sched(cfg({ embeddings: "leak.csv" }));
  const fifo = await sched(cfg({ embeddings: "pipe.csv" }));
  const loopback = await sched(cfg({ checkpoint: `http://127.0.0.1:${ports.internal}/model.ckpt` }));
  const metadata = await sched(cfg({ checkpoint: "http://169.254.169.254/latest/meta-data/model.ckpt" }));
  const localhost = await sched(cfg({ checkpoint: `http://localhost:${ports.internal}/model.ckpt` }));
  const redirect = await sched(cfg({ checkpoint: `http://127.0.0.3:${ports.allowed}/model.ckpt` }));
  // Stored before the schedule-time checks existed: edited in the database below.
  const environ = await sched(cfg({ embeddings: "placeholder.csv" }));
  const passwd = await sched(cfg({ checkpoint: "placeholder.ckpt" }));
  const missing = await sched(cfg({ checkpoint: "placeholder2.ckpt" }));
  const escape = await sched(cfg({ enable_training: true }, { checkpoint_callback: { dirpath: "ckpt" } }));
  const cron = await sched(cfg({ enable_training: true }, { checkpoint_callback: { dirpath: "ckpt" } }));
  const db = await openDb(database);
  const edit = async (scheduledId: string, column: "worker_config" | "lightly_config", patch: (v: Record<string, unknown>) => void): Promise<void> => {
    const s = (await client.getScheduledComputeWorkerRuns()).find((x) => x.id === scheduledId)!;
    const row = (await db.get<Record<string, string>>(`SELECT ${column} FROM configs WHERE id = ?`, [s.config_id]))!;
    const v = JSON.parse(row[column]!);
    patch(v);
    await db.run(`UPDATE configs SET ${column} = ? WHERE id = ?`, [JSON.stringify(v), s.config_id]);
  };
  const absent = `/nonexistent-${randomBytes(4).toString("hex")}/passwd`;
  await edit(environ, "worker_config", (v) => (v.embeddings = "/proc/self/environ"));
  await edit(passwd, "worker_config", (v) => (v.checkpoint = "/etc/passwd"));
  await edit(missing, "worker_config", (v) => (v.checkpoint = absent));
  await edit(escape, "lightly_config", (v) => ((v.checkpoint_callback as Record<string, unknown>).dirpath = "../../escaped"));
  await edit(cron, "lightly_config", (v) => ((v.checkpoint_callback as Record<string, unknown>).dirpath = path.join(dir, "cron.d")));
  await db.close();

  startWorker();
  const expect: Array<[string, RegExp]> = [
    [leakLink, /worker_config\.embeddings: "leak\.csv" is not a file inside the folders .* refused by policy/],
    [fifo, /worker_config\.embeddings: .*pipe\.csv is not a regular file/],
    [loopback, /worker_config\.checkpoint: http:\/\/127\.0\.0\.1:\d+\/model\.ckpt refused by policy: loopback address/],
    [metadata, /worker_config\.checkpoint: http:\/\/169\.254\.169\.254\/latest\/meta-data\/model\.ckpt refused by policy: link-local address/],
    [localhost, /worker_config\.checkpoint: http:\/\/localhost:\d+\/model\.ckpt refused by policy: the host resolves to a loopback address/],
    [redirect, /worker_config\.checkpoint: http:\/\/127\.0\.0\.1:\d+\/model\.ckpt refused by policy: loopback address/],
    [environ, /worker_config\.embeddings: "\/proc\/self\/environ" is not a file inside the folders .* refused by policy/],
    [passwd, /worker_config\.checkpoint: "\/etc\/passwd" is not a file inside the folders .* refused by policy/],
    [missing, /worker_config\.checkpoint: "\/nonexistent-[0-9a-f]+\/passwd" is not a file inside the folders/],
    [escape, /lightly_config\.checkpoint_callback\.dirpath: "\.\.\/\.\.\/escaped" refused by policy: "\.\." segments are not allowed/],
    [cron, /lightly_config\.checkpoint_callback\.dirpath: ".*cron\.d" refused by policy: absolute paths are not allowed/],
  ];
  const runs: Record<string, RunData> = {};
  const durations: string[] = [];
  for (const [id, re] of expect) {
    const r = await ended(id);
    runs[id] = r;
    assert.equal(r.state, "FAILED", `${id}: ${r.message}`);
    assert.match(r.message, re);
    // The FIFO and the policy refusals end before any training: seconds, not a hang.
    assert.doesNotMatch(r.message, /job failed to start/);
    const ms = (r.ended_at ?? Date.now()) - r.created_at;
    assert.ok(ms < 60_000, `${id} took ${ms} ms`);
    durations.push(`${re.source.slice(0, 40)}…: ${ms} ms`);
  }
  t.diagnostic(`claim to FAILED per attack run: ${durations.join("; ")}`);
  // A refusal does not reveal whether the refused file exists.
  const shown = (m: string, p: string): string => m.replace(/^run \S+ /, "").replace(p, "P");
  assert.equal(shown(runs[passwd]!.message, "/etc/passwd"), shown(runs[missing]!.message, absent));
  assert.equal(conns.internal, 0, "the internal listener was never connected to");
  assert.ok(conns.allowed >= 1, "the allowed host was asked and its redirect refused");
  assert.ok(!fs.existsSync(path.join(dir, "work", "runs", "escaped")), "nothing written through ../../");
  assert.deepEqual(fs.readdirSync(path.join(dir, "cron.d")), [], "nothing written into the absolute dirpath");
});

test("regression: a trained run's checkpoint is reused by checkpoint_run_id and by the server's signed URL", async () => {
  if (!worker) startWorker();
  const trained = await ended(await client.scheduleComputeWorkerRun(cfg({ enable_training: true })));
  assert.equal(trained.state, "COMPLETED", trained.message);
  const byId = await ended(await client.scheduleComputeWorkerRun(cfg({ checkpoint_run_id: trained.id })));
  assert.equal(byId.state, "COMPLETED", byId.message);
  assert.equal(byId.checkpoint_source, `run:${trained.id}`);
  const url = await client.getComputeWorkerRunCheckpointUrl(trained);
  assert.ok(url.startsWith(server.url), "the signed URL points at the worker's own server (loopback here)");
  const byUrl = await ended(await client.scheduleComputeWorkerRun(cfg({ checkpoint: url })));
  assert.equal(byUrl.state, "COMPLETED", byUrl.message);
  ids.push(trained.scheduled_id, byId.scheduled_id, byUrl.scheduled_id);
});

test("the secret marker is in no run message, log line, artifact, worker output or file the worker wrote", async () => {
  // The attack had something to leak: the marker is in the worker's environment.
  assert.ok(fs.readFileSync(`/proc/${worker!.proc.pid}/environ`, "latin1").includes(MARKER));
  assert.ok(ids.length >= 14);
  for (const sid of ids) {
    const r = await client.getComputeWorkerRunFromScheduledRun(sid);
    assert.ok(!r.message.includes(MARKER), `message of ${r.id}`);
    const log = await (await fetch(`${server.url}/v1/runs/${r.id}/log`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.ok(!log.includes(MARKER), `log of ${r.id}`);
    const out = path.join(dir, "downloads", r.id);
    const files = await client.downloadComputeWorkerRunArtifacts(r, out);
    for (const f of files) assert.ok(!fs.readFileSync(f, "latin1").includes(MARKER), `artifact ${f}`);
  }
  assert.ok(!worker!.out.join("\n").includes(MARKER), "worker output");
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(d, e.name);
    return e.isDirectory() ? walk(p) : e.isFile() ? [p] : [];
  });
  for (const f of walk(path.join(dir, "work"))) assert.ok(!fs.readFileSync(f, "latin1").includes(MARKER), `worker file ${f}`);
});
