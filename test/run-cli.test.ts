// The `winnow` command line, run as users run it (bin/winnow.mjs, what `npx winnow` starts):
// help, config errors and their exit codes, a run, `winnow runs`, `winnow checkpoint inspect`.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { tempDir } from "./helpers/data-images.js";
import { tinyFolder, runWinnow } from "./helpers/run-setup.js";

const FIXTURE = path.resolve("../shared/fixtures/lightly/resnet-18-w0.25-f16-o64-headPlain.ckpt");
let home: string;
let root: string;
let work: string;

function winnow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runWinnow(args, { env: { ...process.env, WINNOW_HOME: home }, cwd: work });
}

before(async () => {
  home = tempDir("winnow-cli-home-");
  work = tempDir("winnow-cli-work-");
  ({ root } = await tinyFolder(12, "winnow-cli-img-"));
  fs.writeFileSync(path.join(work, "run.yaml"), [
    "worker_config:",
    "  num_threads: 1",
    "selection_config:",
    "  n_samples: 4",
    "  strategies:",
    "    - input: { type: EMBEDDINGS }",
    "      strategy: { type: DIVERSITY }",
    "lightly_config:",
    "  model: { name: resnet-18, width: 0.25, num_ftrs: 16, out_dim: 64 }",
    "  trainer: { gpus: 0 }",
    "  collate: { input_size: 32 }",
    "",
  ].join("\n"));
});

test("--help works for the program and every command", async () => {
  const top = await winnow("--help");
  assert.equal(top.code, 0, top.stderr);
  for (const cmd of ["run [options] [input]", "runs [options]", "checkpoint"]) assert.ok(top.stdout.includes(cmd), cmd);
  const r = await winnow("run", "--help");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: winnow run \[options\] \[input\]/);
  for (const flag of ["--config", "--n-samples", "--train", "--epochs", "--batch-size", "--checkpoint <path|url>", "--checkpoint-run-id", "--output", "--device"]) assert.ok(r.stdout.includes(flag), flag);
});

test("config errors exit with code 2 and name the field, a suggestion or the allowed range", async () => {
  fs.writeFileSync(path.join(work, "typo.yaml"), "worker_config:\n  enable_trainig: true\nselection_config:\n  n_samples: 3\n");
  const typo = await winnow("run", root, "--config", "typo.yaml");
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /worker_config\.enable_trainig: unknown key — did you mean 'enable_training'\?/);
  const range = await winnow("run", root, "--config", "run.yaml", "--epochs", "0");
  assert.equal(range.code, 2);
  assert.match(range.stderr, /lightly_config\.trainer\.max_epochs: got 0; allowed: an integer in \[1, 10000\]/);
  const notInt = await winnow("run", root, "--n-samples", "lots");
  assert.equal(notInt.code, 2);
  assert.match(notInt.stderr, /--n-samples takes an integer, got "lots"/);
  const badYaml = path.join(work, "bad.yaml");
  fs.writeFileSync(badYaml, "worker_config: [unclosed\n");
  const y = await winnow("run", root, "--config", badYaml);
  assert.equal(y.code, 2);
  assert.match(y.stderr, /bad\.yaml is not valid YAML/);
  // Nothing was run.
  assert.ok(!fs.existsSync(path.join(work, "winnow-runs")));
});

test("a run with a checkpoint, a failed run, and `winnow runs` listing both", async () => {
  const ok = await winnow("run", root, "--config", "run.yaml", "--checkpoint", FIXTURE, "--quiet");
  assert.equal(ok.code, 0, ok.stderr);
  const id = /run (\S+) COMPLETED: 4 selected/.exec(ok.stdout)?.[1];
  assert.ok(id, ok.stdout);
  const outDir = path.join(work, "winnow-runs", id!);
  assert.ok(ok.stdout.includes(path.join(outDir, "report.html")));
  assert.equal(fs.readFileSync(path.join(outDir, "filenames", "selected_filenames.txt"), "utf8").trim().split("\n").length, 4);
  const bad = await winnow("run", path.join(work, "missing-folder"), "--config", "run.yaml", "--quiet");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /FAILED: input .*missing-folder: no such folder/);
  const failedId = /run (\S+) FAILED/.exec(bad.stderr)?.[1];
  assert.ok(failedId);

  const list = await winnow("runs");
  assert.equal(list.code, 0, list.stderr);
  const rows = list.stdout.trim().split("\n");
  assert.match(rows[0]!, /^ID\s+STATE\s+INPUT\s+STARTED\s+DURATION\s+CHECKPOINT\s+SELECTED\s+WEIGHTS FROM$/);
  const okRow = rows.find((r) => r.startsWith(id!))!;
  const failRow = rows.find((r) => r.startsWith(failedId!))!;
  assert.match(okRow, new RegExp(`COMPLETED\\s+${fs.realpathSync(root).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s.*\\syes\\s+4\\s+checkpoint \\S+headPlain\\.ckpt$`));
  assert.match(failRow, /FAILED\s.*\sno\s+-\s+\S+$/);
  assert.ok(rows.indexOf(failRow) < rows.indexOf(okRow), "newest first");
  const json = JSON.parse((await winnow("runs", "--json")).stdout);
  assert.deepEqual(json.map((r: { id: string }) => r.id).sort(), [id, failedId].sort());
});

test("checkpoint inspect prints the architecture and head; unreadable files exit 1 with a message", async () => {
  const r = await winnow("checkpoint", "inspect", FIXTURE);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lightly_config\.model: \{ name: "resnet-18", width: 0\.25, num_ftrs: 16, out_dim: 64 \}/);
  assert.match(r.stdout, /projection head: plain \(projection_head\.layers\.\{0,2\}/);
  assert.match(r.stdout, /backbone\.\*: \d+ tensors/);
  const j = JSON.parse((await winnow("checkpoint", "inspect", FIXTURE, "--json")).stdout);
  assert.deepEqual(j.lightlyConfigModel, { name: "resnet-18", width: 0.25, num_ftrs: 16, out_dim: 64, projection_head_batch_norm: false, input_batch_norm: true, feature_conv: true });
  assert.equal(j.headVariant, "plain");
  const junk = path.join(work, "junk.ckpt");
  fs.writeFileSync(junk, "definitely not a zip file");
  const bad = await winnow("checkpoint", "inspect", junk);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^winnow: checkpoint inspect: .*junk\.ckpt: cannot read it as a PyTorch checkpoint: /);
});
