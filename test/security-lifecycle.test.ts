// Runs always end, ended runs stay as they ended, signed URLs die with their token: real server and
// worker processes (SQLite, artifacts in a folder). The artifact folder is a 32 MiB tmpfs where the
// test may mount one (root), so a full disk is a real ENOSPC; elsewhere the server's test-only
// `testStorageFullWhile` option makes its storage fail with ENOSPC instead.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, type RunData } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { TINY_LIGHTLY } from "./helpers/run-setup.js";
import { writePatternFolder } from "./helpers/ssl-images.js";

let dir: string;
let database: string;
let art: string;
let url: string;
let token: string;
let token2: { id: string; token: string };
let tmpfs = false;
const fullFlag = (): string => path.join(dir, "storage-full");
const procs: ChildProcess[] = [];
const workerOut: string[] = [];
let client: ApiWorkflowClient;

const MARKER = /… \[truncated, (\d+) characters\]$/;

function proc(kind: "serve" | "worker", o: object): ChildProcess {
  const p = spawn(process.execPath, ["--import", "tsx", "test/helpers/service-proc.ts", kind, JSON.stringify(o)], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  return p;
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v as T;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}\n--- worker:\n${workerOut.slice(-30).join("\n")}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const ended = async (scheduledId: string): Promise<RunData> => {
  await waitFor(`run ${scheduledId} to end`, async () => (await client.getComputeWorkerRunInfo(scheduledId)).inEndState());
  return client.getComputeWorkerRunFromScheduledRun(scheduledId);
};

const cfg = (wc: Record<string, unknown> = {}) => ({
  workerConfig: { num_threads: 1, ...wc },
  selectionConfig: { n_samples: 3 },
  lightlyConfig: { ...TINY_LIGHTLY, trainer: { ...TINY_LIGHTLY.trainer, max_epochs: 1 } },
});

/** An API call as the test (the token's owner), optionally as a given worker. */
async function api(method: string, p: string, body?: unknown, o: { worker?: string; raw?: Buffer; tok?: string } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${o.tok ?? token}` };
  if (o.worker) headers["x-winnow-worker"] = o.worker;
  if (o.raw) headers["content-type"] = "application/octet-stream";
  else if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url + p, { method, headers, body: o.raw ? new Uint8Array(o.raw) : body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A dataset whose .lightly/predictions/tasks.json lists task names summing to about `chars` characters. */
async function datasetWithManyTasks(name: string, chars: number): Promise<void> {
  const folder = path.join(dir, "root", name);
  fs.mkdirSync(path.join(folder, ".lightly", "predictions"), { recursive: true });
  await writePatternFolder(folder, 6, 16);
  const tasks = Array.from({ length: Math.ceil(chars / 100) }, (_, i) => `task_${String(i).padStart(5, "0")}_${"x".repeat(88)}`);
  fs.writeFileSync(path.join(folder, ".lightly", "predictions", "tasks.json"), JSON.stringify(tasks));
}

before(async () => {
  dir = tempDir("winnow-sec-lifecycle-");
  fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
  await writePatternFolder(path.join(dir, "root", "imgs"), 8, 16);
  await datasetWithManyTasks("tasks20k", 20_000);
  await datasetWithManyTasks("tasks50k", 50_000);
  art = path.join(dir, "art");
  fs.mkdirSync(art);
  // WINNOW_TEST_NO_MOUNT=1 takes the injected path even as root (to check it).
  tmpfs = !process.env.WINNOW_TEST_NO_MOUNT && spawnSync("mount", ["-t", "tmpfs", "-o", "size=32m", "tmpfs", art]).status === 0;
  database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  const store = new Store(db);
  const t = await store.createToken("sec");
  token = t.token;
  token2 = await store.createToken("sec-2", t.owner);
  await db.close();
  const sp = proc("serve", { database, storage: art, datasourceRoot: path.join(dir, "root"), port: 0, heartbeatTimeoutMs: 30_000, ...(tmpfs ? {} : { testStorageFullWhile: fullFlag() }) });
  sp.stderr!.on("data", (b) => process.stderr.write(`[server] ${b}`));
  url = await new Promise<string>((resolve, reject) => {
    sp.stdout!.on("data", (b) => {
      const m = /listening (\S+)/.exec(String(b));
      if (m) resolve(m[1]!);
    });
    sp.on("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
  const w = proc("worker", { server: url, token, name: "w", labels: [], workDir: path.join(dir, "worker"), datasourceRoot: path.join(dir, "root"), heartbeatMs: 500, pollWaitMs: 2000, uploadRetry: { attempts: 3, totalMs: 5000 } });
  for (const s of [w.stdout!, w.stderr!]) s.on("data", (b) => workerOut.push(...String(b).split("\n").filter(Boolean)));
  client = new ApiWorkflowClient({ url, token });
  await client.createDataset("imgs", "imgs");
});

after(() => {
  for (const p of procs) p.kill("SIGKILL");
  if (tmpfs) {
    // The server holds no file open once killed; retry briefly while it exits.
    for (let i = 0; i < 50 && spawnSync("umount", [art]).status !== 0; i++) spawnSync("sleep", ["0.1"]);
  }
});

test("an end message of 20,000 characters and a 50,000-character log line: the runs end, both cut with the marker", async () => {
  for (const [name, atLeast] of [["tasks20k", 20_000], ["tasks50k", 50_000]] as const) {
    await client.createDataset(name, name);
    // Training on a task the dataset's predictions do not list: the job fails naming every task there.
    const s = await client.scheduleComputeWorkerRun(cfg({ enable_training: true, training: { task_name: "not_listed" } }));
    const r = await ended(s);
    assert.equal(r.state, "FAILED", r.message);
    assert.match(r.message.slice(0, 200), /FAILED: worker_config\.training\.task_name: task "not_listed" is not in /);
    const m = MARKER.exec(r.message);
    assert.ok(m, `message ends with the marker: ${r.message.slice(-100)}`);
    assert.ok(Number(m[1]) >= atLeast, `the original message had ${m[1]} characters`);
    assert.ok(r.message.length <= 10_000);
    const log = await api("GET", `/v1/runs/${r.id}/log`);
    const lines = log.json as unknown as { line: string }[];
    const long = lines.find((l) => MARKER.test(l.line) && Number(MARKER.exec(l.line)![1]) >= atLeast);
    assert.ok(long, `a log line over ${atLeast} characters, stored cut`);
    assert.ok(long.line.length <= 10_000);
  }
});

test("the server cuts a long message and log line itself; a log batch keeps its bounds", async () => {
  // The test acts as a worker (labels no real worker has), so the server's side is seen alone.
  const w = (await api("POST", "/v1/workers", { name: "manual", labels: ["manual"] })).json;
  await client.scheduleComputeWorkerRun({ ...cfg(), runsOn: ["manual"] });
  const claim = (await api("POST", `/v1/workers/${w.id}/claim`, { wait_ms: 0 })).json as { run: RunData };
  const runId = claim.run.id;
  const as = { worker: String(w.id) };
  const line = "L".repeat(50_000);
  assert.equal((await api("POST", `/v1/runs/${runId}/log`, { lines: ["short", line] }, as)).status, 200);
  assert.equal((await api("POST", `/v1/runs/${runId}/log`, { lines: Array.from({ length: 1001 }, () => "x") }, as)).status, 400);
  assert.equal((await api("POST", `/v1/runs/${runId}/log`, { lines: ["y".repeat(600_000), "y".repeat(600_000)] }, as)).status, 413);
  const stored = (await api("GET", `/v1/runs/${runId}/log`)).json as unknown as { line: string }[];
  assert.deepEqual(stored.map((l) => l.line.length <= 10_000), [true, true]);
  assert.equal(stored[1]!.line, `${"L".repeat(10_000 - "… [truncated, 50000 characters]".length)}… [truncated, 50000 characters]`);
  const msg = "M".repeat(20_000);
  const end = await api("PATCH", `/v1/runs/${runId}`, { state: "FAILED", message: msg }, as);
  assert.equal(end.status, 200, JSON.stringify(end.json));
  const r = await client.getComputeWorkerRun(runId);
  assert.equal(r.state, "FAILED");
  assert.match(r.message, /^M+… \[truncated, 20000 characters\]$/);
  assert.equal(r.message.length, 10_000);
});

test("an ended run refuses artifact uploads and log lines (409); its checkpoint stays byte for byte", async () => {
  const s = await client.scheduleComputeWorkerRun(cfg({ enable_training: true }));
  const r = await ended(s);
  assert.equal(r.state, "COMPLETED", r.message);
  const ckpt = r.artifacts.find((a) => a.type === "CHECKPOINT")!;
  assert.ok(ckpt);
  const as = { worker: r.worker_id };
  const put = await api("PUT", `/v1/runs/${r.id}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, undefined, { ...as, raw: Buffer.from("swapped weights") });
  assert.equal(put.status, 409, JSON.stringify(put.json));
  assert.match(String(put.json.message), /has ended \(COMPLETED\)/);
  const other = await api("PUT", `/v1/runs/${r.id}/artifacts/extra.txt?type=OTHER`, undefined, { ...as, raw: Buffer.from("x") });
  assert.equal(other.status, 409);
  const linesBefore = ((await api("GET", `/v1/runs/${r.id}/log`)).json as unknown as unknown[]).length;
  assert.equal((await api("POST", `/v1/runs/${r.id}/log`, { lines: ["forged"] }, as)).status, 409);
  assert.equal(((await api("GET", `/v1/runs/${r.id}/log`)).json as unknown as unknown[]).length, linesBefore);
  const now = await client.getComputeWorkerRun(r.id);
  assert.deepEqual(now.artifacts.map((a) => [a.file_name, a.sha256, a.size]), r.artifacts.map((a) => [a.file_name, a.sha256, a.size]));
  const bytes = Buffer.from(await (await fetch(await client.getComputeWorkerRunCheckpointUrl(r))).arrayBuffer());
  assert.equal(createHash("sha256").update(bytes).digest("hex"), ckpt.sha256);
});

test("a signed URL dies with the token that made it; one made by another token still works", async () => {
  const r = (await client.getComputeWorkerRuns()).find((x) => x.state === "COMPLETED" && x.artifacts.some((a) => a.type === "CHECKPOINT"))!;
  assert.ok(r, "a completed run with a checkpoint (the test above)");
  const mint = async (tok: string) => String((await api("POST", `/v1/runs/${r.id}/artifacts/checkpoint.ckpt/signed-url`, {}, { tok })).json.url);
  const byT1 = await mint(token2.token);
  const byT2 = await mint(token);
  assert.equal((await fetch(byT1)).status, 200);
  // The old format (no token id) and a URL moved onto another token id are refused.
  const old = new URL(byT2);
  old.searchParams.delete("t");
  assert.equal((await fetch(old)).status, 403);
  const moved = new URL(byT1);
  moved.searchParams.set("t", new URL(byT2).searchParams.get("t")!);
  assert.equal((await fetch(moved)).status, 403);
  const db = await openDb(database);
  assert.equal(await new Store(db).revokeToken(token2.id), true);
  await db.close();
  const refused = await fetch(byT1);
  assert.equal(refused.status, 403);
  assert.match(((await refused.json()) as { message: string }).message, /revoked/);
  assert.equal((await fetch(byT2)).status, 200);
});

test("a full artifact disk: the run ends FAILED naming the artifact and ENOSPC, and the worker completes the next run", async () => {
  let filler: string | null = null;
  if (tmpfs) {
    // Fill the tmpfs to the last byte: every artifact write now fails with ENOSPC.
    filler = path.join(art, "filler");
    const fd = fs.openSync(filler, "w");
    const block = Buffer.alloc(64 * 1024);
    try {
      for (;;) fs.writeSync(fd, block);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, "ENOSPC");
    }
    for (const n of [4096, 512, 1]) {
      try {
        for (;;) fs.writeSync(fd, block.subarray(0, n));
      } catch {
        /* full at this granularity */
      }
    }
    fs.closeSync(fd);
  } else fs.writeFileSync(fullFlag(), "");
  const t0 = Date.now();
  const s = await client.scheduleComputeWorkerRun(cfg());
  const r = await ended(s);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.state, "FAILED", r.message);
  assert.match(r.message, /^artifact \S+ could not be uploaded: .*artifact storage is full \(ENOSPC\)/);
  assert.ok(seconds < 60, `ended after ${seconds} s`);
  process.stderr.write(`# full storage (${tmpfs ? "32 MiB tmpfs" : "injected ENOSPC"}): schedule → FAILED in ${seconds.toFixed(1)} s\n`);
  // No partial upload was left behind.
  const leftovers = (fs.readdirSync(art, { recursive: true }) as string[]).filter((f) => f.endsWith(".part"));
  assert.deepEqual(leftovers, []);

  if (filler) fs.rmSync(filler);
  else fs.rmSync(fullFlag());
  const s2 = await client.scheduleComputeWorkerRun(cfg());
  const r2 = await ended(s2);
  assert.equal(r2.state, "COMPLETED", r2.message);
  assert.equal(r2.worker_id, r.worker_id, "the same worker took the next run");
});
