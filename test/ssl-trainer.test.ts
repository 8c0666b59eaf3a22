// The SimCLR trainer on tiny generated images and tiny models (resnet-9, width 1/8, 16 px views):
// the loss falls on an easy dataset; an epoch checkpoint + resume gives the same weights as an
// uninterrupted run (also from a mid-epoch stop); training starts from Lightly/PyTorch-made
// checkpoints and refuses mismatched ones clearly; top-k/last checkpoint files; no tensor leaks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { buildImageCache, type ImageCache } from "../src/data/index.js";
import { parseLightlyConfig, type LightlyConfigInput } from "../src/config/lightly-config.js";
import { train, readTrainingCheckpoint, deriveSeed, epochOrder, MOMENTUM_PREFIX, type TrainResult } from "../src/ssl/trainer.js";
import { CheckpointMismatchError, loadModelCheckpoint } from "../src/models/index.js";
import { loadStateDictFile, rawTensorToContiguousBytes } from "../src/checkpoint/index.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";

torch.setNumThreads(1);
const FIX = "/work/shared/fixtures/lightly";
// The lightly fixtures (../shared/fixtures) are required.
assert.ok(fs.existsSync(path.join(FIX, "manifest.json")), `fixtures missing: ${FIX}`);

let root: string;
let cache: ImageCache;
let baseline: number;
before(async () => {
  baseline = torch.liveTensors();
  root = tempDir("winnow-train-");
  await writePatternFolder(path.join(root, "img"), 32, 40);
  cache = await buildImageCache(path.join(root, "img"), { cacheDir: path.join(root, "cache"), resolution: 20 });
});
after(() => {
  cache.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const TINY = { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 } as const;
const cfgOf = (o: LightlyConfigInput) => parseLightlyConfig({ model: TINY, ...o, collate: { input_size: 16, ...o.collate } });
const out = (name: string): string => path.join(root, name);
const rawBytes = (file: string): Map<string, Buffer> =>
  new Map([...loadStateDictFile(file)].map(([k, t]) => [k, Buffer.from(rawTensorToContiguousBytes(t))]));

function assertSameCheckpoint(a: string, b: string): void {
  const A = readTrainingCheckpoint(a);
  const B = readTrainingCheckpoint(b);
  assert.deepEqual([...A.stateDict.keys()], [...B.stateDict.keys()]);
  for (const [k, t] of A.stateDict) {
    const eq = Buffer.from(rawTensorToContiguousBytes(t)).equals(Buffer.from(rawTensorToContiguousBytes(B.stateDict.get(k)!)));
    assert.ok(eq, `${k} differs between ${a} and ${b}`);
  }
  const mom = [...A.top.keys()].filter((k) => typeof k === "string" && k.startsWith(MOMENTUM_PREFIX)) as string[];
  assert.ok(mom.length > 0, "momentum buffers are saved");
  for (const k of mom) {
    const ta = A.top.get(k) as Parameters<typeof rawTensorToContiguousBytes>[0];
    const tb = B.top.get(k) as Parameters<typeof rawTensorToContiguousBytes>[0];
    assert.ok(Buffer.from(rawTensorToContiguousBytes(ta)).equals(Buffer.from(rawTensorToContiguousBytes(tb))), `${k} differs`);
  }
}

test("seeds and epoch orders depend only on (seed, epoch, step)", () => {
  assert.equal(deriveSeed(1, 0, 0), deriveSeed(1, 0, 0));
  assert.notEqual(deriveSeed(1, 0, 0), deriveSeed(1, 0, 1));
  assert.notEqual(deriveSeed(1, 1, 0), deriveSeed(2, 0, 0));
  assert.ok(Number.isSafeInteger(deriveSeed(2 ** 53 - 1, 99, 12345)));
  const a = epochOrder(32, 7, 3, true);
  torch.manualSeed(123); // whatever ran before does not matter
  torch.scope(() => torch.rand([100]));
  assert.deepEqual(epochOrder(32, 7, 3, true), a);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 32 }, (_, i) => i));
  assert.notDeepEqual(epochOrder(32, 7, 4, true), a);
  assert.deepEqual(epochOrder(5, 7, 3, false), [0, 1, 2, 3, 4]);
});

test("the loss falls on an easy dataset (4 patterns, 32 images)", async () => {
  const cfg = cfgOf({
    loader: { batch_size: 16 },
    trainer: { max_epochs: 10, gpus: 0 },
    optimizer: { lr: 0.2, momentum: 0.9 },
    collate: { cj_prob: 0, random_gray_scale: 0, gaussian_blur: 0, min_scale: 0.5 },
    checkpoint_callback: { save_top_k: 0, save_last: false },
    seed: 5,
  });
  const progress: number[] = [];
  const epochs: number[] = [];
  const r = await train({ cache, config: cfg, outDir: out("easy"), onProgress: (p) => progress.push(p.loss), onEpochEnd: (e) => epochs.push(e.loss) });
  assert.equal(r.stepLosses.length, 20);
  assert.equal(r.epochLosses.length, 10);
  assert.deepEqual(progress, r.stepLosses);
  assert.deepEqual(epochs, r.epochLosses);
  const first = (r.epochLosses[0]! + r.epochLosses[1]!) / 2;
  const last = (r.epochLosses[8]! + r.epochLosses[9]!) / 2;
  assert.ok(first - last > 0.3, `loss should fall clearly: first epochs ${first.toFixed(3)}, last epochs ${last.toFixed(3)} (${r.epochLosses.map((v) => v.toFixed(3)).join(" ")})`);
  // Initial loss ≈ log(2B - 1) for random features.
  assert.ok(Math.abs(r.stepLosses[0]! - Math.log(31)) < 0.6, `first loss ${r.stepLosses[0]}`);
  assert.ok(r.imagesPerSecond > 0);
  assert.equal(r.lastCheckpoint, null, "save_last: false removes last.ckpt at the end");
  assert.deepEqual(fs.readdirSync(out("easy")), []);
  assert.ok(r.notes.some((n) => /small batch size 16/.test(n)));
});

test("resume from the epoch checkpoint gives the same weights as an uninterrupted run (and from a mid-epoch stop)", async () => {
  const base: LightlyConfigInput = {
    loader: { batch_size: 8 }, optimizer: { lr: 0.1, momentum: 0.9, weight_decay: 1e-4 },
    trainer: { gpus: 0, max_epochs: 2 }, checkpoint_callback: { save_top_k: -1 }, seed: 11,
  };
  const full = await train({ cache, config: cfgOf(base), outDir: out("full") });
  assert.equal(full.globalStep, 8);
  assert.deepEqual(fs.readdirSync(out("full")).sort(), ["last.ckpt", "lightly_epoch_0.ckpt", "lightly_epoch_1.ckpt"]);

  // 1 epoch, then resume for the 2nd from the epoch checkpoint.
  const one = await train({ cache, config: cfgOf({ ...base, trainer: { gpus: 0, max_epochs: 1 } }), outDir: out("split") });
  assert.equal(one.epochsCompleted, 1);
  const meta = readTrainingCheckpoint(one.lastCheckpoint!).resume!;
  assert.equal(meta.epoch, 1);
  assert.equal(meta.step, 0);
  assert.equal(meta.globalStep, 4);
  const two = await train({ cache, config: cfgOf(base), outDir: out("split"), resumeFrom: one.lastCheckpoint! });
  assert.equal(two.stepLosses.length, 4);
  assert.equal(two.epochsCompleted, 2);
  assert.deepEqual(two.epochLosses, full.epochLosses);
  assert.deepEqual(two.resumedFrom, { path: one.lastCheckpoint, epoch: 1, step: 0 });
  assertSameCheckpoint(full.lastCheckpoint!, two.lastCheckpoint!);

  // Stopped after step 2 of epoch 1, then resumed.
  let steps = 0;
  const part = await train({ cache, config: cfgOf(base), outDir: out("mid"), onProgress: () => steps++, shouldStop: () => steps >= 2 });
  assert.equal(part.aborted, true);
  assert.equal(part.globalStep, 2);
  assert.equal(part.epochsCompleted, 0);
  const pm = readTrainingCheckpoint(part.lastCheckpoint!).resume!;
  assert.deepEqual([pm.epoch, pm.step, pm.complete], [0, 2, false]);
  const rest = await train({ cache, config: cfgOf(base), outDir: out("mid"), resumeFrom: part.lastCheckpoint! });
  assert.equal(rest.globalStep, 8);
  assert.deepEqual(rest.epochLosses, full.epochLosses);
  assertSameCheckpoint(full.lastCheckpoint!, rest.lastCheckpoint!);
  assert.equal(torch.liveTensors(), baseline);
});

test("optimizer.lr_schedule cosine: the lr follows the half cosine over the run's steps, and a resumed run stays on it", async () => {
  const base: LightlyConfigInput = {
    loader: { batch_size: 8 }, optimizer: { lr: 0.1, momentum: 0.9, lr_schedule: "cosine" },
    trainer: { gpus: 0, max_epochs: 2 }, checkpoint_callback: { save_top_k: 0 }, seed: 3,
  };
  const lrs: number[] = [];
  const full = await train({ cache, config: cfgOf(base), outDir: out("cos-full"), onProgress: (p) => lrs.push(p.lr!) });
  assert.equal(full.globalStep, 8);
  // lightly's cosine_schedule(step, 8, 0.1, 0): 0.1 at step 0, 0 at the last step.
  const expected = Array.from({ length: 8 }, (_, t) => (t === 7 ? 0 : (0.1 * (Math.cos((Math.PI * t) / 7) + 1)) / 2));
  lrs.forEach((v, t) => assert.ok(Math.abs(v - expected[t]!) < 1e-12, `step ${t}: lr ${v}, expected ${expected[t]}`));
  const constant = await train({ cache, config: cfgOf({ ...base, optimizer: { lr: 0.1, momentum: 0.9 } }), outDir: out("cos-const") });
  assert.notDeepEqual(constant.epochLosses, full.epochLosses, "the schedule changes the training");

  let steps = 0;
  const part = await train({ cache, config: cfgOf(base), outDir: out("cos-mid"), onProgress: () => steps++, shouldStop: () => steps >= 3 });
  assert.equal(part.globalStep, 3);
  const resumedLrs: number[] = [];
  const rest = await train({ cache, config: cfgOf(base), outDir: out("cos-mid"), resumeFrom: part.lastCheckpoint!, onProgress: (p) => resumedLrs.push(p.lr!) });
  assert.deepEqual(resumedLrs, lrs.slice(3));
  assert.deepEqual(rest.epochLosses, full.epochLosses);
  assertSameCheckpoint(full.lastCheckpoint!, rest.lastCheckpoint!);
  assert.equal(torch.liveTensors(), baseline);
});

test("checkpoints load in lightly's layout; the worker's plain head; top-k files follow the epoch loss", async () => {
  const r = await train({
    cache, config: cfgOf({ loader: { batch_size: 16 }, trainer: { gpus: 0, max_epochs: 3 }, optimizer: { lr: 0.05 }, checkpoint_callback: { save_top_k: 2 } }), outDir: out("topk"),
  });
  const files = fs.readdirSync(out("topk")).sort();
  assert.equal(files.length, 3, files.join(", "));
  const ranked = r.epochLosses.map((l, e) => ({ l, e })).sort((a, b) => a.l - b.l || a.e - b.e).slice(0, 2).map((x) => `lightly_epoch_${x.e}.ckpt`);
  assert.deepEqual(files, ["last.ckpt", ...ranked].sort());
  assert.equal(r.bestCheckpoint, path.join(out("topk"), ranked[0]!));
  assert.equal(r.checkpoint, r.bestCheckpoint);
  // torch.save layout: {"state_dict": {"model.backbone…", "model.projection_head.layers.{0,2}…"}, "epoch", "global_step", …}
  const c = readTrainingCheckpoint(r.lastCheckpoint!);
  assert.equal(c.top.get("epoch"), 3);
  assert.equal(c.top.get("global_step"), 6);
  const keys = [...(c.top.get("state_dict") as Map<string, unknown>).keys()];
  assert.ok(keys.every((k) => k.startsWith("model.")));
  assert.ok(keys.includes("model.projection_head.layers.2.weight") && !keys.includes("model.projection_head.layers.1.running_mean"));
  // The models layer infers the same settings back from the file.
  const { model, config } = loadModelCheckpoint(r.lastCheckpoint!);
  model.dispose();
  assert.deepEqual(config, { name: "resnet-9", width: 0.125, numFtrs: 16, outDim: 16, projectionHeadBatchNorm: false, inputBatchNorm: true, featureConv: true });
});

test("start from a Lightly/PyTorch-made checkpoint; a mismatched one is refused with the settings that fit", async () => {
  const ckpt = path.join(FIX, "resnet-9-w0.125-f32-o128-headPlain.ckpt");
  const cfg = parseLightlyConfig({
    model: { name: "resnet-9", width: 0.125, num_ftrs: 32, out_dim: 128 }, loader: { batch_size: 16 },
    trainer: { gpus: 0, max_epochs: 1 }, optimizer: { lr: 1e-4 }, collate: { input_size: 16 }, checkpoint_callback: { save_top_k: 0 },
  });
  const r = await train({ cache, config: cfg, outDir: out("from-pt"), startFrom: ckpt });
  assert.equal(r.startedFrom, ckpt);
  assert.equal(r.globalStep, 2);
  // Two tiny SGD steps away from the fixture's weights (a random init would be far off).
  const before = rawBytes(ckpt);
  const afterW = loadStateDictFile(r.lastCheckpoint!);
  const w0 = new Float32Array(new Uint8Array(before.get("model.backbone.1.weight")!).buffer);
  const w1 = new Float32Array(new Uint8Array(rawTensorToContiguousBytes(afterW.get("model.backbone.1.weight")!)).slice().buffer);
  let maxDiff = 0;
  for (let i = 0; i < w0.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w0[i]! - w1[i]!));
  assert.ok(maxDiff > 0 && maxDiff < 1e-3, `weights moved by ${maxDiff}`);

  // The lightly-docs head (with BatchNorm) is recognised and kept.
  const bn = await train({ cache, config: cfg, outDir: out("from-pt-bn"), startFrom: path.join(FIX, "resnet-9-w0.125-f32-o128-headBN.ckpt") });
  assert.equal(bn.modelConfig.projectionHeadBatchNorm, true);
  assert.ok(bn.notes.some((n) => /BatchNorm/.test(n)));

  // Mismatch: lightly_config.model says width 0.25.
  const wrong = parseLightlyConfig({ ...cfg, model: { ...cfg.model, width: 0.25 } });
  await assert.rejects(train({ cache, config: wrong, outDir: out("bad"), startFrom: ckpt }), (e: unknown) => {
    assert.ok(e instanceof CheckpointMismatchError);
    assert.match(e.message, /does not fit the model configured as lightly_config\.model = \{ name: "resnet-9", width: 0\.25/);
    assert.match(e.message, /The checkpoint fits lightly_config\.model = \{ name: "resnet-9", width: 0\.125, num_ftrs: 32, out_dim: 128 \}/);
    return true;
  });
  // resumeFrom needs Winnow's resume state.
  await assert.rejects(train({ cache, config: cfg, outDir: out("bad"), resumeFrom: ckpt }), /has no Winnow resume state .* use startFrom/);
  await assert.rejects(train({ cache, config: cfg, outDir: out("bad"), resumeFrom: ckpt, startFrom: ckpt }), /not both/);
  assert.equal(torch.liveTensors(), baseline);
});

test("precision 16 on the CPU is ignored with a note; keepModel returns the trained model in eval mode", async () => {
  const r: TrainResult = await train({
    cache, config: cfgOf({ loader: { batch_size: 16 }, trainer: { gpus: 0, max_epochs: 1, precision: 16 }, checkpoint_callback: { save_top_k: 0 } }),
    outDir: out("prec"), keepModel: true,
  });
  assert.equal(r.precision, "32");
  assert.ok(r.notes.some((n) => /precision = 16 is ignored on the CPU/.test(n)));
  assert.ok(r.model && !r.model.training);
  r.model!.dispose();
  assert.equal(torch.liveTensors(), baseline);
});
