// `winnow runs --server URL --token T`, run as users run it (bin/winnow.mjs) against a real server on
// loopback (SQLite, local artifacts): the token's runs newest first with state, dataset, duration and
// checkpoint; --dataset filters; --json gives the records; another token sees none; a wrong token, an
// unreachable server and flags that need --server fail with a clear message and exit code ≠ 0.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { serve, type RunningServer } from "../src/server/serve.js";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { ApiWorkflowClient, type RunData } from "../src/client/index.js";
import { tempDir } from "./helpers/data-images.js";
import { runWinnow } from "./helpers/run-setup.js";

let dir: string;
let srv: RunningServer;
let tokA: string;
let tokB: string;
let done: { id: string; scheduled: string };
let running: { id: string; worker: string };

function winnow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, WINNOW_HOME: path.join(dir, "home") };
  delete env.WINNOW_TOKEN;
  return runWinnow(args, { env, cwd: dir });
}

async function call(method: string, p: string, token: string, worker: string, body: unknown, type = "application/json"): Promise<number> {
  const res = await fetch(srv.url + p, {
    method, headers: { authorization: `Bearer ${token}`, "x-winnow-worker": worker, "content-type": type },
    body: type === "application/json" ? JSON.stringify(body) : (body as string),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Schedules a run on `dataset`, has a fresh worker claim it; returns the run's id. */
async function claimedRun(c: ApiWorkflowClient, token: string): Promise<{ id: string; scheduled: string; worker: string }> {
  const scheduled = await c.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 2 } });
  const worker = await c.registerComputeWorker(`w-${scheduled}`, []);
  const res = await fetch(`${srv.url}/v1/workers/${worker}/claim`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ wait_ms: 0 }) });
  const claim = (await res.json()) as { run: RunData };
  assert.equal(claim.run.scheduled_id, scheduled);
  return { id: claim.run.id, scheduled, worker };
}

before(async () => {
  dir = tempDir("winnow-runs-server-");
  fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
  const database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  const st = new Store(db);
  tokA = (await st.createToken("a")).token;
  tokB = (await st.createToken("b")).token;
  await db.close();
  srv = await serve({ database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), port: 0 });

  const a = new ApiWorkflowClient({ url: srv.url, token: tokA });
  await a.createDataset("cats", "imgs");
  const r1 = await claimedRun(a, tokA);
  // The first run trains, keeps a checkpoint and completes; the second is still training.
  assert.equal(await call("PATCH", `/v1/runs/${r1.id}`, tokA, r1.worker, { state: "TRAINING" }), 200);
  assert.equal(await call("PUT", `/v1/runs/${r1.id}/artifacts/checkpoint.ckpt?type=CHECKPOINT`, tokA, r1.worker, "ckpt", "application/octet-stream"), 201);
  await new Promise((r) => setTimeout(r, 20)); // distinct creation times: the order is checked
  assert.equal(await call("PATCH", `/v1/runs/${r1.id}`, tokA, r1.worker, { state: "COMPLETED", message: "done" }), 200);
  done = r1;
  await a.createDataset("dogs", "imgs");
  running = await claimedRun(a, tokA);
  assert.equal(await call("PATCH", `/v1/runs/${running.id}`, tokA, running.worker, { state: "EMBEDDING" }), 200);
});

after(async () => srv?.close());

test("winnow runs --server lists the token's runs, newest first, with dataset, state and checkpoint", async () => {
  const r = await winnow("runs", "--server", srv.url, "--token", tokA);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split("\n").map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows[0], ["ID", "STATE", "DATASET", "STARTED", "DURATION", "CHECKPOINT", "SCHEDULED"]);
  assert.equal(rows.length, 3);
  assert.deepEqual([rows[1]![0], rows[1]![1], rows[1]![2], rows[1]![4], rows[1]![5]], [running.id, "EMBEDDING", "dogs", "-", "no"]);
  assert.deepEqual([rows[2]![0], rows[2]![1], rows[2]![2], rows[2]![5], rows[2]![6]], [done.id, "COMPLETED", "cats", "yes", done.scheduled]);
  assert.match(rows[2]![3]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  assert.notEqual(rows[2]![4], "-"); // ended: has a duration

  const cats = await winnow("runs", "--server", srv.url, "--token", tokA, "--dataset", "cats", "--json");
  assert.equal(cats.code, 0, cats.stderr);
  const recs = JSON.parse(cats.stdout) as RunData[];
  assert.deepEqual(recs.map((x) => [x.id, x.state]), [[done.id, "COMPLETED"]]);
  assert.deepEqual(recs[0]!.artifacts.map((x) => x.type), ["CHECKPOINT"]);

  const other = await winnow("runs", "--server", srv.url, "--token", tokB);
  assert.equal(other.code, 0, other.stderr);
  assert.equal(other.stdout, `no runs on ${srv.url}\n`);
});

test("winnow runs --server: bad token, unknown dataset, unreachable server, misplaced flags", async () => {
  const recsOfA = await new ApiWorkflowClient({ url: srv.url, token: tokA }).getComputeWorkerRuns();
  const bad = await winnow("runs", "--server", srv.url, "--token", "wnw_wrong");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /refused the token \(401\)/);

  const noDs = await winnow("runs", "--server", srv.url, "--token", tokA, "--dataset", "birds");
  assert.equal(noDs.code, 1);
  assert.match(noDs.stderr, /--dataset: no dataset named "birds" .* \(it has: cats, dogs\)/);

  const noId = await winnow("runs", "--server", srv.url, "--token", tokB, "--dataset-id", recsOfA[0]!.dataset_id);
  assert.equal(noId.code, 1); // A's dataset: not B's to see
  assert.match(noId.stderr, /--dataset-id: .*not found|--dataset-id: .*does not exist/i);

  const noTok = await winnow("runs", "--server", srv.url);
  assert.equal(noTok.code, 2);
  assert.match(noTok.stderr, /--token: an API token is required/);

  // A port nobody listens on: taken and released at once.
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const down = await winnow("runs", "--server", `http://127.0.0.1:${port}`, "--token", tokA);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`cannot reach http://127.0.0.1:${port}: ECONNREFUSED`));

  const notUrl = await winnow("runs", "--server", "localhost:8470", "--token", tokA);
  assert.equal(notUrl.code, 2);
  assert.match(notUrl.stderr, /--server: expected an http\(s\) URL/);

  const local = await winnow("runs", "--dataset", "cats");
  assert.equal(local.code, 2);
  assert.match(local.stderr, /--dataset needs --server <url>/);
  const mixed = await winnow("runs", "--server", srv.url, "--token", tokA, "--input", ".");
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /--input lists local runs/);
});
