// `winnow tags` / `winnow tag`, run as users run them (bin/winnow.mjs) against a real server on
// loopback (SQLite, local artifacts): a COMPLETED run's own tag with its file count, naming its
// selection, the dataset's list (by id, and by name with --token-file), and the refusals (name taken
// or invalid, run not COMPLETED, unknown run, another token's run, missing arguments) with their
// messages and exit codes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
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
let done: string;
let running: string;
let datasetId: string;

function winnow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, WINNOW_HOME: path.join(dir, "home") };
  delete env.WINNOW_TOKEN;
  delete env.WINNOW_SERVER_URL;
  return runWinnow(args, { env, cwd: dir });
}

const rows = (out: string): string[][] => out.trim().split("\n").map((l) => l.split(/\s{2,}/));

async function call(method: string, p: string, worker: string, body: unknown, type = "application/json"): Promise<void> {
  const res = await fetch(srv.url + p, {
    method, headers: { authorization: `Bearer ${tokA}`, "x-winnow-worker": worker, "content-type": type },
    body: type === "application/json" ? JSON.stringify(body) : (body as string),
  });
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${await res.text()}`);
}

/** A run claimed by a fresh worker; with `selected`, it uploads them and completes. */
async function playRun(c: ApiWorkflowClient, selected?: string[]): Promise<string> {
  await c.scheduleComputeWorkerRun({ selectionConfig: { n_samples: 3 } });
  const worker = await c.registerComputeWorker(`w-${Date.now()}`, []);
  const res = await fetch(`${srv.url}/v1/workers/${worker}/claim`, { method: "POST", headers: { authorization: `Bearer ${tokA}`, "content-type": "application/json" }, body: JSON.stringify({ wait_ms: 0 }) });
  const id = ((await res.json()) as { run: RunData }).run.id;
  if (!selected) {
    await call("PATCH", `/v1/runs/${id}`, worker, { state: "EMBEDDING" });
    return id;
  }
  await call("PUT", `/v1/runs/${id}/artifacts/selected_filenames.txt?type=SELECTED_FILENAMES`, worker, `${selected.join("\n")}\n`, "application/octet-stream");
  await call("PATCH", `/v1/runs/${id}`, worker, { state: "COMPLETED" });
  return id;
}

before(async () => {
  dir = tempDir("winnow-tags-cli-");
  fs.mkdirSync(path.join(dir, "root", "imgs"), { recursive: true });
  const database = path.join(dir, "w.db");
  const db = await openDb(database);
  await migrate(db);
  const st = new Store(db);
  tokA = (await st.createToken("a")).token;
  tokB = (await st.createToken("b")).token;
  await db.close();
  // The unfinished run has no worker beating: a long heartbeat timeout keeps it EMBEDDING on a loaded machine.
  srv = await serve({ database, storage: path.join(dir, "art"), datasourceRoot: path.join(dir, "root"), port: 0, heartbeatTimeoutMs: 3_600_000 });
  const a = new ApiWorkflowClient({ url: srv.url, token: tokA });
  datasetId = await a.createDataset("cats", "imgs");
  done = await playRun(a, ["a.png", "b.png", "sub/c.png"]);
  running = await playRun(a);
});

after(async () => srv?.close());

test("winnow tag names a COMPLETED run's selection; winnow tags lists the run's and the dataset's tags with file counts", async () => {
  const first = await winnow("tags", done, "--server", srv.url, "--token", tokA);
  assert.equal(first.code, 0, first.stderr);
  const r0 = rows(first.stdout);
  assert.deepEqual(r0[0], ["NAME", "KIND", "CREATED", "FILES"]);
  assert.deepEqual([r0.length, r0[1]![0], r0[1]![1], r0[1]![3]], [2, done, "run id", "3"]);
  assert.match(r0[1]![2]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);

  const tokenFile = path.join(dir, "token.txt");
  fs.writeFileSync(tokenFile, `${tokA}\n`, { mode: 0o600 });
  const made = await winnow("tag", done, "first picks", "--server", srv.url, "--token", tokA);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(made.stdout, `tagged run ${done}'s selection (3 files) as "first picks" in dataset ${datasetId}\n`);

  const [both, json, byId, byName] = await Promise.all([
    winnow("tags", done, "--server", srv.url, "--token", tokA),
    winnow("tags", done, "--json", "--server", srv.url, "--token", tokA),
    winnow("tags", "--dataset", datasetId, "--server", srv.url, "--token", tokA),
    winnow("tags", "--dataset", "cats", "--server", srv.url, "--token-file", tokenFile),
  ]);
  assert.equal(both.code, 0, both.stderr);
  assert.deepEqual(rows(both.stdout).slice(1).map((r) => [r[0], r[1], r[3]]), [[done, "run id", "3"], ["first picks", "given", "3"]]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual((JSON.parse(json.stdout) as { name: string; run_id: string; file_count: number; user_given: boolean }[]).map((t) => [t.name, t.run_id, t.user_given, t.file_count]),
    [[done, done, false, 3], ["first picks", done, true, 3]]);
  for (const d of [byId, byName]) {
    assert.equal(d.code, 0, d.stderr);
    const r = rows(d.stdout);
    assert.deepEqual(r[0], ["NAME", "RUN", "CREATED", "FILES"]);
    assert.deepEqual(r.slice(1).map((x) => [x[0], x[1], x[3]]), [["first picks", done, "3"]]);
  }
  // A run that has not completed has no tags yet, and says why.
  const none = await winnow("tags", running, "--server", srv.url, "--token", tokA);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, `run ${running} on ${srv.url} has no tags (it is EMBEDDING; a COMPLETED run's selection is a tag)\n`);
});

test("winnow tag / tags refuse with a clear message: name taken (1), invalid name (2), run not COMPLETED (1), unknown or another token's run (1), bad usage (2)", async () => {
  await new ApiWorkflowClient({ url: srv.url, token: tokA }).createComputeWorkerRunTag(done, "taken name"); // after the first test's "first picks"
  const [taken, invalid, notDone, unknown, theirs, theirDataset] = await Promise.all([
    winnow("tag", done, "taken name", "--server", srv.url, "--token", tokA),
    winnow("tag", done, "bad/name", "--server", srv.url, "--token", tokA),
    winnow("tag", running, "too early", "--server", srv.url, "--token", tokA),
    winnow("tag", "no-such-run", "some name", "--server", srv.url, "--token", tokA),
    winnow("tags", done, "--server", srv.url, "--token", tokB),
    winnow("tags", "--dataset", datasetId, "--server", srv.url, "--token", tokB),
  ]);
  assert.deepEqual([taken.code, taken.stdout], [1, ""]);
  assert.match(taken.stderr, /^winnow: dataset \S+ has a tag named "taken name" already\n$/);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /name: "bad\/name" is not a tag name; allowed: 3-128 letters/);
  assert.equal(notDone.code, 1);
  assert.match(notDone.stderr, new RegExp(`run ${running} is EMBEDDING; only a COMPLETED run's selection is a tag`));
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /run "no-such-run" not found on http:\/\/127\.0\.0\.1:\d+ \(or it belongs to another token\)/);
  assert.equal(theirs.code, 1);
  assert.match(theirs.stderr, new RegExp(`run "${done}" not found`));
  assert.equal(theirDataset.code, 1);
  assert.match(theirDataset.stderr, /--dataset: no dataset with id or name .* \(it has: none\)/);
  // The refusals changed nothing.
  assert.deepEqual((await new ApiWorkflowClient({ url: srv.url, token: tokA }).getComputeWorkerRunTags(done)).map((t) => t.name), [done, "first picks", "taken name"]);

  const [noArg, both, noToken, notUrl] = await Promise.all([
    winnow("tags", "--server", srv.url, "--token", tokA),
    winnow("tags", done, "--dataset", "cats", "--server", srv.url, "--token", tokA),
    winnow("tags", done, "--server", srv.url),
    winnow("tag", done, "a name", "--server", "localhost:8470", "--token", tokA),
  ]);
  for (const r of [noArg, both]) {
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give a run id or --dataset <id>, one of them/);
  }
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /--token: an API token is required/);
  assert.equal(notUrl.code, 2);
  assert.match(notUrl.stderr, /--server: expected an http\(s\) URL/);
});
