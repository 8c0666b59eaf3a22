// `winnow run` over 2 CPU ranks on loopback, as users start it (--nproc-per-node 2): rank 0 writes
// the run folder and the only run record, rank 1 leaves nothing behind; the gathered embeddings.csv
// equals one process embedding the run's own checkpoint (within 1e-5). A rank killed with -9 makes
// the run end FAILED with the distributed error, and the command exit 1 within the timeout.
// (Written to hold as well once train() is data-parallel over the group: nothing here depends on
// how the ranks share the training.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import YAML from "yaml";
import * as torch from "../src/torch/index.js";
import { parseLightlyConfig } from "../src/config/lightly-config.js";
import { prepareImages, embedImages } from "../src/pipeline/index.js";
import { readEmbeddingsCsv } from "../src/run/embeddings-csv.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";
import { runWinnow } from "./helpers/run-setup.js";

torch.setNumThreads(1);
const LIGHTLY = {
  model: { name: "resnet-9", width: 0.125, num_ftrs: 8, out_dim: 8 },
  loader: { batch_size: 4 }, trainer: { gpus: 0, max_epochs: 1 }, collate: { input_size: 16 }, seed: 3,
};
let home: string;
let tmp: string;
let images: string;

before(async () => {
  home = tempDir("winnow-dist-run-home-");
  tmp = tempDir("winnow-dist-run-tmp-");
  images = path.join(home, "images");
  await writePatternFolder(images, 9, 20);
  fs.writeFileSync(path.join(home, "run.yaml"), YAML.stringify({
    worker_config: { enable_training: true, num_threads: 1 },
    selection_config: { n_samples: 3, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }] },
    lightly_config: LIGHTLY,
  }));
});
after(() => {
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

function winnow(args: string[], onSpawn?: (pid: number) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  return runWinnow(args, { env: { ...process.env, WINNOW_HOME: home, TMPDIR: tmp }, cwd: home, onSpawn });
}
const records = (): any[] => fs.readdirSync(path.join(home, "runs")).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(fs.readFileSync(path.join(home, "runs", f), "utf8")));

test("2 CPU ranks: rank 0 writes the run folder and record; embeddings.csv = one process on the run's checkpoint", { timeout: 240_000 }, async () => {
  const out = path.join(home, "out-2");
  const r = await winnow(["run", images, "-c", "run.yaml", "--nproc-per-node", "2", "-o", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /starting 2 rank\(s\) here \(2 in all, on CPUs/);
  assert.match(r.stdout, /COMPLETED: 3 selected/);
  const recs = records();
  assert.equal(recs.length, 1, "one run record (rank 0's)");
  assert.equal(recs[0].state, "COMPLETED");
  assert.ok(fs.existsSync(recs[0].checkpoint), recs[0].checkpoint);
  assert.deepEqual(fs.readdirSync(home).sort(), ["cache", "images", "out-2", "run.yaml", "runs"], "no folder of rank 1's");
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith("winnow-rank-")), [], "rank 1's scratch folder is gone");
  const log = fs.readFileSync(path.join(out, "log.txt"), "utf8");
  assert.match(log, /rank 0 of 2/);

  const config = parseLightlyConfig(LIGHTLY);
  const cache = await prepareImages(images, { cacheDir: path.join(home, "cache"), config });
  const one = embedImages({ cache, config, outDir: path.join(tmp, "one"), checkpoint: recs[0].checkpoint });
  cache.close();
  const a = readEmbeddingsCsv(one.csvPath!);
  const b = readEmbeddingsCsv(path.join(out, "data", "embeddings.csv"));
  assert.deepEqual(b.filenames, a.filenames);
  let maxDiff = 0;
  for (let i = 0; i < a.values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.values[i]! - b.values[i]!));
  assert.ok(maxDiff <= 1e-5, `max |difference| ${maxDiff}`);
  fs.rmSync(path.join(tmp, "one"), { recursive: true });
});

/** The pid of the launcher's child that is rank `rank` (its environment says). */
function rankPid(launcher: number, rank: number): number {
  const pids = execFileSync("ps", ["-o", "pid=", "--ppid", String(launcher)], { encoding: "utf8" }).split("\n").map((s) => Number(s.trim())).filter((n) => n > 0);
  const hit = pids.find((p) => fs.readFileSync(`/proc/${p}/environ`, "latin1").split("\0").includes(`RANK=${rank}`));
  if (!hit) throw new Error(`no rank ${rank} among ${pids.join(", ")}`);
  return hit;
}

test("kill -9 of rank 1 while training: the run ends FAILED (checkpoint kept, resumable), the command exits 1; --resume on 1 rank completes", { timeout: 300_000 }, async () => {
  const out = path.join(home, "out-kill");
  let launcher = 0;
  const done = winnow(["run", images, "-c", "run.yaml", "--nproc-per-node", "2", "--epochs", "200", "--dist-timeout", "60", "-o", out, "-q"], (pid) => (launcher = pid));
  const mine = (): any => records().find((r) => r.output === out);
  const t0 = Date.now();
  while (mine()?.state !== "TRAINING") {
    assert.ok(Date.now() - t0 < 180_000, "the run never reached TRAINING");
    await new Promise((r) => setTimeout(r, 100));
  }
  const tKill = performance.now();
  process.kill(rankPid(launcher, 1), "SIGKILL");
  const r = await done;
  const seconds = (performance.now() - tKill) / 1000;
  assert.equal(r.code, 1, r.stderr);
  assert.ok(seconds < 60, `exited ${seconds.toFixed(1)} s after the kill (timeout 60 s)`);
  console.log(`kill -9 of rank 1 → the command exited ${seconds.toFixed(1)} s later`);
  assert.match(r.stderr, /rank 1 \(local rank 1\) was killed by SIGKILL; the other ranks were stopped/);
  const rec = mine();
  assert.equal(rec.state, "FAILED");
  assert.match(rec.error, /another rank of this run failed|failed on rank 0 of 2/);
  assert.equal(rec.stages.at(-1).state, "TRAINING");
  assert.ok(rec.checkpoint && fs.existsSync(rec.checkpoint), `checkpoint kept: ${rec.checkpoint}`);
  assert.equal(rec.resumable, true);

  const resumed = await winnow(["run", "--resume", rec.id, "--epochs", "1", "-o", path.join(home, "out-resumed"), "-q"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /COMPLETED/);
});
