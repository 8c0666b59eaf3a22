// The trainer's prefetch worker (src/ssl/prefetch.ts) on tiny images and a tiny model: with prefetch
// on (from the first step, or handed over mid-epoch), off, resumed or run inside the training worker,
// the same seed gives bit-identical step losses, weights and momentum; the worker's 1 intra-op thread
// leaves the training thread's count alone; errors in the worker or the trainer, stops and a worker
// that cannot start leave no worker running and no tensor alive.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { buildImageCache, type ImageCache } from "../src/data/index.js";
import { parseLightlyConfig, type LightlyConfigInput } from "../src/config/lightly-config.js";
import * as os from "node:os";
import { train, readTrainingCheckpoint, prefetchByDefault, MOMENTUM_PREFIX, type TrainResult } from "../src/ssl/trainer.js";
import { ViewPrefetcher } from "../src/ssl/prefetch.js";
import { trainInWorker } from "../src/ssl/train-worker.js";
import { rawTensorToContiguousBytes } from "../src/checkpoint/index.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";

torch.setNumThreads(1);
let root: string;
let cache: ImageCache;
let baseline: number;
before(async () => {
  baseline = torch.liveTensors();
  root = tempDir("winnow-prefetch-");
  await writePatternFolder(path.join(root, "img"), 32, 40);
  cache = await buildImageCache(path.join(root, "img"), { cacheDir: path.join(root, "cache"), resolution: 20 });
});
after(() => {
  cache.close();
  fs.rmSync(root, { recursive: true, force: true });
});

// 32 images, batch 6 without drop_last: 5 batches of 6 and one of 2 per epoch.
const BASE: LightlyConfigInput = {
  model: { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 },
  loader: { batch_size: 6, drop_last: false }, optimizer: { lr: 0.1, momentum: 0.9, weight_decay: 1e-4 },
  trainer: { gpus: 0, max_epochs: 2 }, collate: { input_size: 16 }, checkpoint_callback: { save_top_k: 0 }, seed: 3,
};
const cfg = parseLightlyConfig(BASE);
const out = (name: string): string => path.join(root, name);

/** Every weight, BatchNorm statistic and momentum buffer of a checkpoint, as bytes. */
function stateBytes(file: string): Map<string, string> {
  const c = readTrainingCheckpoint(file);
  const m = new Map<string, string>();
  for (const [k, t] of c.stateDict) m.set(k, Buffer.from(rawTensorToContiguousBytes(t)).toString("base64"));
  for (const [k, t] of c.top) {
    if (typeof k === "string" && k.startsWith(MOMENTUM_PREFIX)) m.set(k, Buffer.from(rawTensorToContiguousBytes(t as Parameters<typeof rawTensorToContiguousBytes>[0])).toString("base64"));
  }
  return m;
}
function assertSameState(a: string, b: string): void {
  const A = stateBytes(a);
  const B = stateBytes(b);
  assert.ok([...A.keys()].some((k) => k.startsWith(MOMENTUM_PREFIX)), "momentum buffers are saved");
  assert.deepEqual([...A.keys()], [...B.keys()]);
  for (const [k, v] of A) assert.ok(v === B.get(k), `${k} differs between ${a} and ${b}`);
}
const clean = (): void => {
  assert.equal(ViewPrefetcher.running, 0, "no prefetch worker left running");
  assert.equal(torch.liveTensors(), baseline);
};

let off2: TrainResult; // no prefetch, training thread at 2 intra-op threads
let off: TrainResult; // no prefetch, 1 thread (the model step's values depend on the thread count)

test("prefetch on (from the first step or handed over mid-epoch) and off: bit-identical losses, weights and momentum", async () => {
  torch.setNumThreads(2); // the training thread at 2, the worker at 1
  try {
    off2 = await train({ cache, config: cfg, outDir: out("off2"), prefetch: false });
    assert.equal(off2.globalStep, 12);
    assert.equal(off2.prefetchedSteps, 0);
    const on = await train({ cache, config: cfg, outDir: out("on"), prefetch: { waitFromStep: 0 } });
    assert.equal(on.prefetchedSteps, 12);
    // Steps 0-2 prepared here (epoch 0's order drawn here), then the worker takes over at step 3
    // and draws epoch 0's order again itself.
    const mid = await train({ cache, config: cfg, outDir: out("mid"), prefetch: { waitFromStep: 3 } });
    assert.equal(mid.prefetchedSteps, 9);
    assert.equal(torch.getNumThreads(), 2, "the worker's setNumThreads(1) does not change the training thread's");
    for (const r of [on, mid]) {
      assert.deepEqual(r.stepLosses, off2.stepLosses);
      assertSameState(off2.lastCheckpoint!, r.lastCheckpoint!);
    }
    assert.ok(new Set(off2.stepLosses).size > 6, "the steps differ from each other");
  } finally {
    torch.setNumThreads(1);
  }
  clean();
});

test("stop mid-epoch and resume with prefetch gives the uninterrupted run's weights", async () => {
  off = await train({ cache, config: cfg, outDir: out("off"), prefetch: false });
  let steps = 0;
  const part = await train({ cache, config: cfg, outDir: out("stop"), prefetch: { waitFromStep: 0 }, onProgress: () => steps++, shouldStop: () => steps >= 4 });
  assert.equal(part.aborted, true);
  assert.equal(part.globalStep, 4);
  clean(); // the worker, a step ahead, was stopped and has exited
  const rest = await train({ cache, config: cfg, outDir: out("stop"), resumeFrom: part.lastCheckpoint!, prefetch: { waitFromStep: 0 } });
  assert.equal(rest.prefetchedSteps, 8);
  assert.equal(rest.globalStep, 12);
  assert.deepEqual([...part.stepLosses, ...rest.stepLosses], off.stepLosses);
  assertSameState(off.lastCheckpoint!, rest.lastCheckpoint!);
  clean();
});

test("an error in the worker or in the trainer rejects train() and stops the worker", async () => {
  // The worker augments first (waitFromStep 0): its error surfaces, named.
  await assert.rejects(
    train({ cache, config: cfg, outDir: out("err"), prefetch: { waitFromStep: 0 }, augment: { normalize: { mean: [0.5, 0.5] as unknown as [number, number, number], std: [1, 1] as unknown as [number, number, number] } } }),
    /prefetch worker: normalize: need 3 means and stds/,
  );
  clean();
  // The training thread fails while the worker is ahead of it.
  let steps = 0;
  await assert.rejects(
    train({
      cache, config: cfg, outDir: out("err2"), prefetch: { waitFromStep: 0 },
      onProgress: () => {
        if (++steps === 2) throw new Error("progress callback failed");
      },
    }),
    /progress callback failed/,
  );
  clean();
});

test("default: prefetch only on the CPU with two cores to spare", () => {
  assert.equal(prefetchByDefault("cuda", 1), false);
  assert.equal(prefetchByDefault("cpu", os.availableParallelism() - 1), false);
  assert.equal(prefetchByDefault("cpu", Math.max(1, os.availableParallelism() - 2)), os.availableParallelism() >= 3);
});

test("a worker that cannot start: the trainer prepares the views itself, with a note, same results", async () => {
  // A second cache of the same folder whose index disappears after opening: the worker cannot open it.
  const gone = await buildImageCache(path.join(root, "img"), { cacheDir: path.join(root, "cache-gone"), resolution: 20 });
  try {
    for (const f of fs.readdirSync(gone.dir)) if (f.startsWith("index")) fs.rmSync(path.join(gone.dir, f));
    const r = await train({ cache: gone, config: cfg, outDir: out("gone"), prefetch: { waitFromStep: 0 } });
    assert.equal(r.prefetchedSteps, 0);
    assert.ok(r.notes.some((n) => /prefetch worker failed to start \(.*no complete image cache/.test(n)), r.notes.join("\n"));
    assert.deepEqual(r.stepLosses, off.stepLosses);
  } finally {
    gone.close();
  }
  clean();
});

test("inside the training worker: prefetch from a nested worker, same weights", async () => {
  const r = await trainInWorker({ cacheDir: cache.dir, config: cfg, outDir: out("in-worker"), numThreads: 1, prefetch: { waitFromStep: 0 } }).result;
  assert.equal(r.prefetchedSteps, 12);
  assert.deepEqual(r.stepLosses, off.stepLosses);
  assertSameState(off.lastCheckpoint!, r.lastCheckpoint!);
  clean();
});
