// A/B of train() between two checkouts on the same image cache: the trainer alone (2 epochs,
// resnet-18 width 0.25, input 32, batch 128, prefetch off, seed 1, 2 threads), so a refactor's
// before/after is compared without the DataLoader side of bench/speed-train.ts. Run it once per tree,
// alternating, on a quiet machine; equal epoch losses show the two trainers did the same work.
//   npx tsx bench/trainer-ab.ts --root /path/to/checkout --cache <cache dir, e.g. one speed-train built>
import { arg, argStr } from "./quality-data.js";

const root = argStr("root", process.cwd());
const cacheDir = argStr("cache", "");
if (!cacheDir) throw new Error("--cache: expected an image cache folder (bench/speed-train.ts builds one under its --work)");
const torch = await import(`${root}/src/torch/index.ts`);
const { openImageCache } = await import(`${root}/src/data/index.ts`);
const { train } = await import(`${root}/src/ssl/trainer.ts`);
const { parseLightlyConfig } = await import(`${root}/src/config/lightly-config.ts`);
torch.setNumThreads(arg("threads", 2));
const cache = openImageCache(cacheDir);
const config = parseLightlyConfig({
  loader: { batch_size: 128, num_workers: 0 }, model: { name: "resnet-18", width: 0.25 }, collate: { input_size: 32 },
  trainer: { gpus: 0, max_epochs: 2, enable_model_summary: false }, checkpoint_callback: { save_top_k: 0 }, seed: 1,
});
const t0 = performance.now();
const r = await train({ cache, config, outDir: `/tmp/winnow-trainer-ab-${process.pid}`, device: "cpu", prefetch: false });
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ root, imagesPerSecond: (2 * cache.length) / s, seconds: s, epochLosses: r.epochLosses }));
