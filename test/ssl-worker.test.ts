// Training in a worker thread: progress and epoch messages reach the main thread, abort() stops after
// the current step and leaves a valid checkpoint that resumes to the same result as an uninterrupted
// run; errors in the worker reject the promise; nothing leaks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { buildImageCache } from "../src/data/index.js";
import { parseLightlyConfig } from "../src/config/lightly-config.js";
import { trainInWorker, readTrainingCheckpoint, type TrainProgress, type EpochSummary } from "../src/ssl/index.js";
import { loadModelCheckpoint } from "../src/models/index.js";
import { rawTensorToContiguousBytes } from "../src/checkpoint/index.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";

torch.setNumThreads(1);
let root: string;
let cacheDir: string;
let baseline: number;
const cfg = parseLightlyConfig({
  model: { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 },
  loader: { batch_size: 8 },
  trainer: { gpus: 0, max_epochs: 3 },
  optimizer: { lr: 0.1, momentum: 0.9 },
  collate: { input_size: 16 },
  checkpoint_callback: { save_top_k: 0 },
  seed: 2,
});

before(async () => {
  baseline = torch.liveTensors();
  root = tempDir("winnow-worker-");
  await writePatternFolder(path.join(root, "img"), 24, 32);
  const cache = await buildImageCache(path.join(root, "img"), { cacheDir: path.join(root, "cache"), resolution: 18 });
  cacheDir = cache.dir;
  cache.close();
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const weightsOf = (file: string): Map<string, string> =>
  new Map([...readTrainingCheckpoint(file).stateDict].map(([k, t]) => [k, Buffer.from(rawTensorToContiguousBytes(t)).toString("base64")]));

test("the worker reports progress; abort() stops after the current step with a valid checkpoint; resuming completes the run exactly", async () => {
  // Uninterrupted reference, also in a worker.
  const full = await trainInWorker({ cacheDir, config: cfg, outDir: path.join(root, "full"), numThreads: 1 }).result;
  assert.equal(full.aborted, false);
  assert.equal(full.globalStep, 9);
  assert.equal(full.epochsCompleted, 3);

  const progress: TrainProgress[] = [];
  const epochs: EpochSummary[] = [];
  const logs: string[] = [];
  const h = trainInWorker({
    cacheDir, config: cfg, outDir: path.join(root, "run"), numThreads: 1,
    onProgress: (p) => {
      progress.push(p);
      if (p.globalStep === 4) h.abort();
    },
    onEpochEnd: (e) => epochs.push(e),
    log: (m) => logs.push(m),
  });
  const r = await h.result;
  assert.equal(r.aborted, true);
  // The abort lands after step 4 or, at the latest, the step that was running when it arrived.
  assert.ok(r.globalStep >= 4 && r.globalStep <= 5, `stopped at step ${r.globalStep}`);
  assert.equal(progress.length, r.globalStep);
  assert.deepEqual(progress.map((p) => p.globalStep), Array.from({ length: r.globalStep }, (_, i) => i + 1));
  const p0 = progress[0]!;
  assert.deepEqual([p0.epoch, p0.epochs, p0.step, p0.stepsPerEpoch], [0, 3, 1, 3]);
  assert.ok(Number.isFinite(p0.loss) && p0.imagesPerSecond > 0 && p0.etaSeconds !== null && p0.etaSeconds >= 0);
  assert.equal(epochs.length, 1);
  assert.deepEqual([epochs[0]!.epoch, epochs[0]!.steps], [0, 3]);
  assert.ok(logs.some((l) => /stopped after epoch 2, step \d: checkpoint/.test(l)), logs.join("\n"));

  // The checkpoint is complete and loadable, and says where to continue.
  const c = readTrainingCheckpoint(r.lastCheckpoint!);
  assert.deepEqual([c.resume!.epoch, c.resume!.step, c.resume!.globalStep, c.resume!.complete], [1, r.globalStep - 3, r.globalStep, false]);
  const { model } = loadModelCheckpoint(r.lastCheckpoint!);
  model.dispose();

  const rest = await trainInWorker({ cacheDir, config: cfg, outDir: path.join(root, "run"), numThreads: 1, resumeFrom: r.lastCheckpoint! }).result;
  assert.equal(rest.aborted, false);
  assert.equal(rest.globalStep, 9);
  assert.deepEqual(rest.epochLosses, full.epochLosses);
  assert.deepEqual(weightsOf(rest.lastCheckpoint!), weightsOf(full.lastCheckpoint!));
  assert.equal(torch.liveTensors(), baseline);
});

test("errors in the worker reject the result with the worker's message", async () => {
  await assert.rejects(
    trainInWorker({ cacheDir: path.join(root, "no-such-cache"), config: cfg, outDir: path.join(root, "x") }).result,
    /no complete image cache in .*no-such-cache/,
  );
  await assert.rejects(
    trainInWorker({ cacheDir, config: cfg, outDir: path.join(root, "x"), resumeFrom: path.join(root, "missing.ckpt") }).result,
    /missing\.ckpt/,
  );
});
