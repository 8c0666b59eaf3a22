// The trainer's callbacks and training checkpoints: hooks run in Lightning's order (with the gradients
// in place before the optimizer step, where a data-parallel callback would reduce them), an early stop
// reaches the callbacks, top-k ranking; the optimizer's momentum goes to the file through
// Optimizer.stateDict() under the keys Winnow has always written, PyTorch reads them back, and
// loadOptimizerMomentum restores them; a WinnowError crosses the worker boundary with its code; no
// tensor leaks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { SGD } from "../src/nn/index.js";
import { buildModel, saveCheckpoint, type SimCLR } from "../src/models/index.js";
import {
  writeTrainingCheckpoint, loadOptimizerMomentum, readTrainingCheckpoint, MOMENTUM_PREFIX, RESUME_FORMAT, type ResumeState,
} from "../src/models/training-checkpoint.js";
import { buildImageCache, type ImageCache } from "../src/data/index.js";
import { parseLightlyConfig, modelSettingsOf } from "../src/config/lightly-config.js";
import { train, trainInWorker, type TrainCallback, type TrainLoopState } from "../src/ssl/index.js";
import { WinnowError } from "../src/util/errors.js";
import { rankTopK } from "../src/ssl/callbacks/checkpoint.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";
import { hasTorch, runPython, PY_PRELUDE, NO_TORCH_REASON } from "./helpers/ckpt-python.js";

torch.setNumThreads(1);
const TINY = { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 } as const;
const config = parseLightlyConfig({
  model: TINY, collate: { input_size: 16 }, loader: { batch_size: 4 }, optimizer: { lr: 0.1, momentum: 0.9 },
  trainer: { gpus: 0, max_epochs: 2 }, checkpoint_callback: { save_top_k: 1 }, seed: 3,
});

let root: string;
let cache: ImageCache;
let baseline: number;
before(async () => {
  baseline = torch.liveTensors();
  root = tempDir("winnow-callbacks-");
  await writePatternFolder(path.join(root, "img"), 8, 24);
  cache = await buildImageCache(path.join(root, "img"), { cacheDir: path.join(root, "cache"), resolution: 20 });
});
after(() => {
  cache.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const hexOf = (t: torch.Tensor): string =>
  torch.scope(() => {
    const a = t.contiguous().data();
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
  });

test("rankTopK keeps the k lowest losses (ties to the earlier epoch), all for k < 0, none added for k = 0", () => {
  const best = [{ epoch: 0, loss: 2, file: "a" }, { epoch: 1, loss: 1, file: "b" }];
  const e2 = { epoch: 2, loss: 1, file: "c" };
  assert.deepEqual(rankTopK(best, e2, 2), { kept: [best[1], e2], removed: [best[0]] });
  assert.deepEqual(rankTopK(best, e2, 1).kept, [best[1]]);
  assert.deepEqual(rankTopK(best, e2, -1), { kept: [best[1], e2, best[0]], removed: [] });
  assert.deepEqual(rankTopK(best, e2, 0), { kept: best, removed: [] });
});

test("hooks run in order, see the gradients before the optimizer step, and hear an early stop", async () => {
  const events: string[] = [];
  let gradsSeen = 0;
  const recorder: TrainCallback = {
    onTrainStart: (s) => events.push(`start ${s.epoch}`),
    onEpochStart: (s) => events.push(`epoch ${s.epoch}`),
    onBeforeOptimizerStep: (s: TrainLoopState) => {
      if (s.model.parameters().every((p) => p.grad !== null)) gradsSeen++;
    },
    onBatchEnd: (s, b) => events.push(`batch ${b.epoch}.${b.step} n=${b.count} g=${s.globalStep}`),
    onEpochEnd: (s, e) => events.push(`epoch-end ${e.epoch} last=${e.last} losses=${s.epochLosses.length} ckpt=${s.lastCheckpoint !== null}`),
    onStop: (s, at) => events.push(`stop ${at.epoch}.${at.step} aborted=${s.aborted}`),
    onTrainEnd: (s) => events.push(`end aborted=${s.aborted}`),
  };
  const r = await train({ cache, config, outDir: path.join(root, "full"), prefetch: false, callbacks: [recorder] });
  assert.equal(r.globalStep, 4);
  assert.equal(gradsSeen, 4);
  assert.deepEqual(events, [
    "start 0", "epoch 0", "batch 0.0 n=4 g=1", "batch 0.1 n=4 g=2", "epoch-end 0 last=false losses=1 ckpt=true",
    "epoch 1", "batch 1.0 n=4 g=3", "batch 1.1 n=4 g=4", "epoch-end 1 last=true losses=2 ckpt=true", "end aborted=false",
  ]);

  events.length = 0;
  let steps = 0;
  const part = await train({
    cache, config, outDir: path.join(root, "part"), prefetch: false, callbacks: [recorder], onProgress: () => steps++, shouldStop: () => steps >= 1,
  });
  assert.equal(part.aborted, true);
  assert.deepEqual(events, ["start 0", "epoch 0", "batch 0.0 n=4 g=1", "stop 0.1 aborted=true", "end aborted=true"]);
  assert.equal(readTrainingCheckpoint(part.lastCheckpoint!).resume?.step, 1);
  assert.equal(torch.liveTensors(), baseline);
});

test("momentum goes through Optimizer.stateDict() under winnow_optimizer.momentum_buffer.<name>; PyTorch reads it; it loads back", () => {
  assert.ok(hasTorch(), NO_TORCH_REASON);
  const file = path.join(root, "momentum.ckpt");
  torch.manualSeed(5);
  const model = buildModel(modelSettingsOf(config)) as SimCLR;
  const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const fresh = new SGD(model.parameters(), { lr: 0.5, momentum: 0.9 });
  try {
    for (let i = 0; i < 2; i++) {
      torch.scope(() => {
        const loss = model.forward(torch.randn([4, 3, 16, 16])).pow(2).mean();
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
    }
    opt.zeroGrad();
    const state = { format: RESUME_FORMAT, epochsCompleted: 1, globalStep: 2 } as ResumeState;
    writeTrainingCheckpoint(model, opt, file, state);

    const names = [...model.namedParameters()].map(([n]) => n);
    const mine = new Map(names.map((n, i) => [n, hexOf(opt.state.get(model.parameters()[i]!)!.momentum_buffer as torch.Tensor)]));
    const py = runPython<{ keys: string[]; epoch: number; step: number; hex: Record<string, string> }>(PY_PRELUDE + String.raw`
ck = torch.load(INPUT["file"], weights_only=True)
pre = INPUT["prefix"]
keys = [k for k in ck if k.startswith(pre)]
out({"keys": keys, "epoch": ck["epoch"], "step": ck["global_step"], "hex": {k[len(pre):]: tbytes(ck[k]).hex() for k in keys}})
`, { file, prefix: MOMENTUM_PREFIX });
    assert.deepEqual(py.keys, names.map((n) => MOMENTUM_PREFIX + n), "one momentum key per parameter, in parameter order");
    assert.deepEqual([py.epoch, py.step], [1, 2]);
    for (const [n, hex] of mine) assert.equal(py.hex[n], hex, `${n}: PyTorch reads the buffer Winnow had`);

    const loaded = loadOptimizerMomentum(model, fresh, readTrainingCheckpoint(file).top);
    assert.equal(loaded, names.length);
    assert.equal(fresh.getLr()[0], 0.5, "the optimizer keeps its own hyper-parameters");
    for (const [i, p] of model.parameters().entries()) {
      const buf = fresh.state.get(p)!.momentum_buffer as torch.Tensor;
      assert.equal(hexOf(buf), mine.get(names[i]!));
    }
  } finally {
    opt.dispose();
    fresh.dispose();
    model.dispose();
  }
  assert.equal(torch.liveTensors(), baseline);
});

test("a WinnowError in the training worker keeps its code and file on the main thread", async () => {
  const plain = path.join(root, "plain.ckpt");
  const model = buildModel(modelSettingsOf(config));
  saveCheckpoint(model, plain); // weights only: no resume state
  model.dispose();
  await assert.rejects(trainInWorker({ cacheDir: cache.dir, config, outDir: path.join(root, "w"), resumeFrom: plain }).result, (e: unknown) => {
    assert.ok(e instanceof WinnowError, String(e));
    assert.equal(e.code, "checkpoint");
    assert.equal(e.where, plain);
    assert.match(e.message, /has no Winnow resume state/);
    return true;
  });
  assert.equal(torch.liveTensors(), baseline);
});
