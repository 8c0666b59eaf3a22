// lightly_config.pre_trained (Lightly's default, true): a run with no checkpoint starts from the zoo
// file for its model, found in torch hub's folder; training fine-tunes from it; a model without a
// zoo entry warns; offline with no file fails at INITIALIZING. The "zoo file" is made here: a model
// pretrained by Winnow on the same images, re-saved by real PyTorch in lightly's 2020 layout and the
// legacy format, under a zoo file name whose hash prefix is its own (WINNOW_MODEL_ZOO points the
// zoo key at it; the real entries' hashes are fixed and their files are not on this machine).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { run, RunError, readRunRecord } from "../src/run/index.js";
import { startedFromText } from "../src/cli/runs.js";
import { startingWeightsText } from "../src/run/report.js";
import { runPython, PY_PRELUDE } from "./helpers/ckpt-python.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, TINY_LIGHTLY } from "./helpers/run-setup.js";

const MODEL = { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 };
const KEY = "resnet-9/simclr/d16/w0.125";
let root: string;
let out: string;
let hub: string;
let zooFile: string;
let sha: string;
let pretrainLosses: number[] = [];
const saved = { ...process.env };

// The tests' tiny config without its pre_trained: false, so Lightly's default (true) applies.
const { pre_trained: _off, ...LIGHTLY_DEFAULTS_TINY } = TINY_LIGHTLY;
// 32 px (the Fashion-MNIST images are 28 px), batches of 32: small enough to pretrain in seconds,
// and data a tiny model learns something on (the tests' 20 px patterns collapse to uniform loss).
const cfg = (lc: Record<string, unknown>, wc: Record<string, unknown> = {}) => ({
  worker_config: { num_threads: 1, ...wc },
  selection_config: { n_samples: 5 },
  lightly_config: { ...LIGHTLY_DEFAULTS_TINY, model: MODEL, loader: { batch_size: 32 }, collate: { input_size: 32 }, ...lc },
});

before(async () => {
  privateHome();
  process.env.WINNOW_OFFLINE = "1"; // nothing may be downloaded, whoever runs this file
  // 100 of the bundled Fashion-MNIST images (every 4th: all ten classes)
  root = tempDir("winnow-pre-img-");
  const fm = path.resolve("samples/fashion-mnist");
  fs.readdirSync(fm).filter((f) => f.endsWith(".png")).filter((_f, i) => i % 4 === 0).forEach((f) => fs.copyFileSync(path.join(fm, f), path.join(root, f)));
  out = tempDir("winnow-pre-out-");
  const torchHome = tempDir("winnow-pre-torch-");
  process.env.TORCH_HOME = torchHome;
  hub = path.join(torchHome, "hub", "checkpoints");
  // pretrain on the same images (from scratch), then re-save the checkpoint the way 2020 lightly did
  const pre = await run({ input: root, config: cfg({ pre_trained: false, trainer: { gpus: 0, max_epochs: 20 } }, { enable_training: true }), output: path.join(out, "pretrain"), stream: null });
  pretrainLosses = pre.report.training!.epochLosses.map((l) => Math.round(l * 1000) / 1000);
  const made = runPython<{ file: string; sha256: string }>(PY_PRELUDE + String.raw`
import collections
sd = torch.load(INPUT["ckpt"], weights_only=True)["state_dict"]
old = collections.OrderedDict((k.replace("model.backbone.", "model.features.").replace("projection_head.layers.", "projection_head."), v) for k, v in sd.items())
tmp = os.path.join(INPUT["dir"], "tmp.pth")
torch.save({"state_dict": old, "epoch": 20}, tmp, _use_new_zipfile_serialization=False)
h = hashlib.sha256(open(tmp, "rb").read()).hexdigest()
name = "whattolabel-resnet9-simclr-d16-w0.125-i-" + h[:8] + ".pth"
os.makedirs(INPUT["hub"], exist_ok=True)
os.replace(tmp, os.path.join(INPUT["hub"], name))
out({"file": os.path.join(INPUT["hub"], name), "sha256": h})
`, { ckpt: pre.record.checkpoint, dir: out, hub });
  zooFile = made.file;
  sha = made.sha256;
  const zooJson = path.join(out, "zoo.json");
  fs.writeFileSync(zooJson, JSON.stringify({ [KEY]: { url: `https://models.invalid/${path.basename(zooFile)}` } }));
  process.env.WINNOW_MODEL_ZOO = zooJson;
});

after(() => {
  for (const d of [root, out, path.dirname(path.dirname(hub))]) fs.rmSync(d, { recursive: true, force: true });
  for (const k of ["WINNOW_OFFLINE", "TORCH_HOME", "WINNOW_MODEL_ZOO"]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

test("a default run (pre_trained true, no checkpoint) embeds with the zoo file from torch hub's folder; provenance recorded", async () => {
  const base = torch.liveTensors();
  const r = await run({ input: root, config: cfg({}), output: path.join(out, "zoo-embed"), stream: null });
  const want = { kind: "zoo", zooKey: KEY, sha256: sha, foundIn: "torch-hub", path: zooFile };
  assert.deepEqual(r.record.startingWeights, want);
  assert.deepEqual(readRunRecord(r.record.id).startingWeights, want);
  assert.equal(r.record.weights, `zoo:${KEY}`);
  assert.deepEqual(r.report.embedding.startingWeights, want);
  assert.match(startingWeightsText(want as never), new RegExp(`Lightly's model zoo ${KEY}, sha256 ${sha}`));
  assert.equal(startedFromText(r.record.startingWeights), `zoo ${KEY} (sha256 ${sha.slice(0, 8)}…)`);
  assert.match(fs.readFileSync(r.paths.reportHtml, "utf8"), new RegExp(`Starting weights: Lightly&#39;s model zoo ${KEY.replace(/\./g, "\\.")}|Starting weights: Lightly's model zoo`));
  // the same embeddings as naming the file as the checkpoint; not those of random weights
  const byPath = await run({ input: root, config: cfg({}, { checkpoint: zooFile }), output: path.join(out, "zoo-path"), stream: null });
  assert.deepEqual(byPath.record.startingWeights, { kind: "checkpoint", path: zooFile });
  const random = await run({ input: root, config: cfg({ pre_trained: false }), output: path.join(out, "random"), stream: null });
  assert.deepEqual(random.record.startingWeights, { kind: "random" });
  const emb = (x: { paths: { embeddings: string } }): string => fs.readFileSync(x.paths.embeddings, "utf8");
  assert.equal(emb(r), emb(byPath));
  assert.notEqual(emb(r), emb(random));
  assert.equal(torch.liveTensors(), base);
});

test("with enable_training the run fine-tunes from the zoo weights: first-step loss below the from-scratch run's", async () => {
  const train = (pre: boolean, name: string) =>
    run({ input: root, config: cfg({ pre_trained: pre, trainer: { gpus: 0, max_epochs: 1 } }, { enable_training: true }), output: path.join(out, name), stream: null });
  const tuned = await train(true, "tuned");
  const scratch = await train(false, "scratch");
  assert.equal(tuned.record.weights, `trained from zoo:${KEY}`);
  assert.equal(tuned.record.startingWeights?.sha256, sha);
  const a = tuned.report.training!.stepLosses[0]!;
  const b = scratch.report.training!.stepLosses[0]!;
  assert.ok(a < b - 0.05, `first-step loss ${a} (from the zoo) vs ${b} (from scratch)`);
});

test("a model with no zoo entry: random weights, a warning in the log, the report and run.json", async () => {
  const r = await run({ input: root, config: cfg({ model: { ...MODEL, num_ftrs: 8 } }), output: path.join(out, "nozoo"), stream: null });
  const w = r.record.startingWeights!;
  assert.equal(w.kind, "random");
  assert.equal(w.zooKey, "resnet-9/simclr/d8/w0.125");
  assert.match(w.warning!, /model zoo has no checkpoint for resnet-9\/simclr\/d8\/w0\.125 .*RANDOM weights.*pre_trained: false/);
  assert.deepEqual(readRunRecord(r.record.id).startingWeights, w);
  assert.ok(r.report.notes.includes(w.warning!));
  assert.ok(fs.readFileSync(r.paths.log, "utf8").includes(`note: ${w.warning}`));
});

test("offline with no zoo file: the run fails at INITIALIZING (nothing decoded) saying where to put the file", async () => {
  const empty = tempDir("winnow-pre-empty-");
  process.env.TORCH_HOME = empty;
  try {
    let err: unknown;
    try {
      await run({ input: root, config: cfg({}), output: path.join(out, "offline"), stream: null });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RunError, String(err));
    for (const s of [path.basename(zooFile), `https://models.invalid/${path.basename(zooFile)}`, path.join(empty, "hub", "checkpoints"), path.join(process.env.WINNOW_HOME!, "models"), "pre_trained: false"]) {
      assert.ok(err.message.includes(s), `${err.message} lacks ${s}`);
    }
    assert.equal(err.record.state, "FAILED");
    assert.deepEqual(err.record.stages.map((s) => s.state), ["INITIALIZING"]);
  } finally {
    process.env.TORCH_HOME = path.dirname(path.dirname(hub));
  }
});
