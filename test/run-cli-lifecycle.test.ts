// `winnow run` as a new user meets it (bin/winnow.mjs, a real process): a second Ctrl-C during the
// first one's clean-up still leaves a final record with the checkpoint recorded; an output folder
// under /proc is refused at once; the quickstart's "reuse the demo's checkpoint by run id" command
// works as docs/quickstart.md writes it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { tempDir } from "./helpers/data-images.js";
import { tinyFolder } from "./helpers/run-setup.js";

const BIN = path.resolve("bin/winnow.mjs");
let home: string;
let work: string;
let root: string;

function start(args: string[], cwd = work): { p: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }>; stderr: () => string } {
  const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, WINNOW_HOME: home }, cwd });
  let stdout = "";
  let stderr = "";
  p.stdout!.on("data", (d) => (stdout += d));
  p.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { p, done, stderr: () => stderr };
}

before(async () => {
  home = tempDir("winnow-life-home-");
  work = tempDir("winnow-life-work-");
  ({ root } = await tinyFolder(24, "winnow-life-img-"));
});

test("a second Ctrl-C during the first one's clean-up ends the run ABORTED with its checkpoint recorded", async () => {
  const out = path.join(work, "twice");
  // Wide enough that a training step takes a while, so the second Ctrl-C lands during the first's wind-down.
  fs.writeFileSync(path.join(work, "long.yaml"), [
    "worker_config: { enable_training: true, num_threads: 1 }",
    "selection_config: { n_samples: 4 }",
    "lightly_config:",
    "  model: { name: resnet-18, width: 0.5, num_ftrs: 32, out_dim: 32 }",
    "  loader: { batch_size: 24 }",
    "  trainer: { gpus: 0, max_epochs: 200 }",
    "  collate: { input_size: 64 }",
    "",
  ].join("\n"));
  const r = start(["run", root, "--config", "long.yaml", "-o", out]);
  const t0 = Date.now();
  while (!/epoch 1\/200 done/.test(r.stderr())) {
    assert.ok(Date.now() - t0 < 120_000, `no epoch done after 120 s:\n${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  r.p.kill("SIGINT");
  while (!/stopping \(training keeps a checkpoint\)/.test(r.stderr())) await new Promise((res) => setTimeout(res, 5));
  r.p.kill("SIGINT");
  const res = await r.done;
  assert.equal(res.code, 130, res.stderr);
  const rec = JSON.parse(fs.readFileSync(path.join(out, "run.json"), "utf8"));
  assert.equal(rec.state, "ABORTED");
  assert.match(rec.error, /second Ctrl-C/, "the second Ctrl-C ended the record (not the first one's clean-up)");
  assert.equal(rec.checkpoint, path.join(out, "checkpoints", "last.ckpt"));
  assert.ok(fs.statSync(rec.checkpoint).size > 0);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(home, "runs", `${rec.id}.json`), "utf8")).state, "ABORTED");
  // The recorded checkpoint is usable: checkpoint_run_id accepts the run (its config check passes before any work).
  const reuse = await start(["run", root, "--checkpoint-run-id", rec.id, "--n-samples", "3", "-q", "-o", path.join(work, "reuse")]).done;
  assert.equal(reuse.code, 0, reuse.stderr);
  assert.match(fs.readFileSync(path.join(work, "reuse", "log.txt"), "utf8"), /lightly_config\.model taken from run/);
});

test("an output folder under /proc is refused at once with exit code 2", async () => {
  const t0 = Date.now();
  const res = await start(["run", root, "--n-samples", "2", "-o", "/proc/winnow-test/out"]).done;
  const secs = (Date.now() - t0) / 1000;
  console.log(`/proc output refused in ${secs.toFixed(1)} s (process start included)`);
  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /output folder \/proc\/winnow-test\/out: \/proc is on proc, a kernel filesystem/);
  assert.ok(secs < 30);
  assert.ok(!fs.existsSync(path.join(home, "runs")) || fs.readdirSync(path.join(home, "runs")).every((f) => !JSON.parse(fs.readFileSync(path.join(home, "runs", f), "utf8")).output.startsWith("/proc")));
});

test("the quickstart's reuse-by-run-id command works as written", async () => {
  const doc = fs.readFileSync("docs/quickstart.md", "utf8");
  const line = doc.split("\n").find((l) => l.includes("--checkpoint-run-id <run id>"));
  assert.ok(line, "docs/quickstart.md has the command");
  const cmd = line!.replace(/#.*$/, "").trim().split(/\s+/);
  assert.deepEqual(cmd.slice(0, 3), ["npx", "winnow", "run"]);
  // The demo's run, shortened to one epoch; then the documented command with its id, from a folder holding samples/.
  const cwd = tempDir("winnow-life-quick-");
  fs.symlinkSync(path.resolve("samples"), path.join(cwd, "samples"));
  const demo = await start(["run", "samples/fashion-mnist", "--config", "samples/fashion-mnist.yaml", "--epochs", "1", "-q"], cwd).done;
  assert.equal(demo.code, 0, demo.stderr);
  const id = /run (\S+) COMPLETED/.exec(demo.stdout)![1]!;
  const reuse = await start(cmd.slice(2).map((a) => (a === "<run" ? id : a)).filter((a) => a !== "id>"), cwd).done;
  assert.equal(reuse.code, 0, reuse.stderr);
  assert.match(reuse.stdout, /COMPLETED: \d+ selected/);
  const out = /output: (\S+)/.exec(reuse.stdout)![1]!;
  const log = fs.readFileSync(path.join(out, "log.txt"), "utf8");
  assert.match(log, new RegExp(`checkpoint: .* \\(run:${id}\\)`));
  assert.match(log, /lightly_config\.model taken from run .*"name":"resnet-9","width":0.25,"num_ftrs":64,"out_dim":64/);
});
