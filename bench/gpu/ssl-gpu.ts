// GPU check of the SimCLR trainer and the embedding step (lent GPU machine).
//
// On the CPU machine (sharp decodes here; the GPU machine only reads the carried cache):
//   npx tsx bench/gpu/ssl-gpu.ts --make-cache 2048 .gpu-ssl/cache        # prints the cache folder
//   node_modules/.bin/esbuild bench/gpu/ssl-gpu.ts --bundle --platform=node --format=esm --target=node20 \
//     --outfile=.gpu-ssl/ssl-gpu.mjs --alias:sharp=./bench/gpu/sharp-unavailable.mjs
// (.gpu-ssl/ in .git/info/exclude.) On the device, after unpacking node and building the addon as
// scripts/gpu-check.sh does (carry .gpu/node.xz, .gpu/node-include, .gpu-ssl, node_modules/node-addon-api):
//   WINNOW_NATIVE=build/Release/winnow_native.node node .gpu-ssl/ssl-gpu.mjs --cache <cache folder> --out $OUT
// Rehearse here with: npx tsx bench/gpu/ssl-gpu.ts --cache <cache folder> --device cpu --quick
//
// Checks: first training step CPU vs CUDA from the same seed (TF32 off); training on CUDA in float32
// and with trainer.precision 16 (bf16 autocast); a worker thread training on CUDA; embeddings CUDA vs
// CPU from the same checkpoint; throughput of resnet-18 training and embedding on the device.
import { isMainThread } from "node:worker_threads";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as torch from "../../src/torch/index.js";
import { openImageCache } from "../../src/data/cache.js";
import { parseLightlyConfig, type LightlyConfigInput } from "../../src/config/lightly-config.js";
import { train } from "../../src/ssl/trainer.js";
import { trainInWorker } from "../../src/ssl/train-worker.js";
import { embedImages, readEmbeddings } from "../../src/pipeline/embed.js";

async function makeCache(n: number, cacheDir: string): Promise<void> {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { buildImageCache } = await import("../../src/data/cache.js");
  const { writePatternFolder } = await import("../../test/helpers/ssl-images.js");
  const img = mkdtempSync(join(tmpdir(), "winnow-ssl-gpu-"));
  await writePatternFolder(img, n, 48);
  const c = await buildImageCache(img, { cacheDir, resolution: 36 });
  console.log(c.dir);
  c.close();
  rmSync(img, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const mk = argv.indexOf("--make-cache");
  if (mk >= 0) return makeCache(Number(argv[mk + 1]), argv[mk + 2]!);
  const arg = (k: string, d: string): string => {
    const i = argv.indexOf(`--${k}`);
    return i >= 0 ? argv[i + 1]! : d;
  };
  const device = arg("device", "cuda");
  const out = arg("out", "/tmp/winnow-ssl-gpu");
  const quick = argv.includes("--quick");
  const work = join(out, "work");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const cache = openImageCache(arg("cache", ""));
  const report: Record<string, unknown> = { device, images: cache.length, resolution: cache.resolution, build: torch.buildInfo(), cuda: torch.cuda.isAvailable() };
  const save = (): void => writeFileSync(join(out, "ssl-gpu-report.json"), JSON.stringify(report, null, 2));
  const log = (...a: unknown[]): void => console.log(...a);
  torch.cuda.setAllowTF32(false);
  const tiny: LightlyConfigInput = {
    model: { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 }, loader: { batch_size: 16 },
    optimizer: { lr: 0.1, momentum: 0.9 }, collate: { input_size: 32 }, checkpoint_callback: { save_top_k: 0 }, seed: 5,
  };
  const cfg = (o: LightlyConfigInput) => parseLightlyConfig({ ...tiny, ...o, trainer: { max_epochs: 1, ...o.trainer } });

  // 1. One step, CPU vs device, same seed: the same augmentation parameters (drawn on the CPU
  //    generator) and the same initial weights, so the losses agree to float32 noise.
  const cpu1 = await train({ cache, config: cfg({ trainer: { gpus: 0 } }), outDir: join(work, "cpu1"), device: "cpu", shouldStop: () => true });
  const dev1 = await train({ cache, config: cfg({}), outDir: join(work, "dev1"), device, shouldStop: () => true });
  report.firstStep = { cpu: cpu1.stepLosses[0], device: dev1.stepLosses[0], diff: Math.abs(cpu1.stepLosses[0]! - dev1.stepLosses[0]!) };
  log("first step loss cpu vs device", report.firstStep);
  save();

  // 2. Training on the device, float32 and bf16 autocast.
  for (const precision of [32, 16] as const) {
    const r = await train({ cache, config: cfg({ trainer: { max_epochs: quick ? 2 : 4, precision } }), outDir: join(work, `p${precision}`), device });
    report[`train${precision}`] = { device: r.device, precision: r.precision, epochLosses: r.epochLosses, imagesPerSecond: r.imagesPerSecond, notes: r.notes };
    log(`train precision ${precision}: ${r.precision} ${r.epochLosses.map((v) => v.toFixed(3)).join(" ")} ${r.imagesPerSecond.toFixed(0)} img/s`);
    save();
  }

  // 3. Embeddings of one checkpoint on CPU and on the device.
  const ck = (report.train32 as { device: string }) && join(work, "p32", "last.ckpt");
  const e1 = embedImages({ cache, config: cfg({ trainer: { gpus: 0 } }), outDir: join(work, "emb-cpu"), checkpoint: ck, device: "cpu", csv: false });
  const e2 = embedImages({ cache, config: cfg({}), outDir: join(work, "emb-dev"), checkpoint: ck, device, csv: false });
  const a = readEmbeddings(e1.metaPath!).values;
  const b = readEmbeddings(e2.metaPath!).values;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  report.embed = { n: e1.n, d: e1.d, maxAbsDiff: worst, maxAbs: scale, cpuImgPerS: e1.imagesPerSecond, deviceImgPerS: e2.imagesPerSecond };
  log("embeddings cpu vs device", report.embed);
  save();

  // 4. A worker thread training on the device (the engine loaded in that thread), aborted after 3 steps.
  let seen = 0;
  const h = trainInWorker({
    cacheDir: cache.dir, config: cfg({ trainer: { max_epochs: 3 } }), outDir: join(work, "worker"), device,
    onProgress: () => {
      if (++seen === 3) h.abort();
    },
  });
  const w = await h.result;
  report.worker = { aborted: w.aborted, globalStep: w.globalStep, device: w.device, progressMessages: seen, checkpoint: w.lastCheckpoint };
  log("worker", report.worker);
  save();

  // 5. Throughput: resnet-18 width 1 (Lightly's default model), 32 px views, batch 256.
  if (!quick) {
    for (const precision of [32, 16] as const) {
      const big = parseLightlyConfig({
        loader: { batch_size: 256 }, trainer: { max_epochs: 1, precision }, collate: { input_size: 32 }, optimizer: { lr: 0.1 },
        checkpoint_callback: { save_top_k: 0, save_last: false }, seed: 1,
      });
      const r = await train({ cache, config: big, outDir: join(work, `r18-${precision}`), device });
      // Steady state: drop the first step (cuDNN autotuning, allocator warm-up).
      report[`resnet18_${precision}`] = { steps: r.globalStep, imagesPerSecondAll: r.imagesPerSecond, losses: r.stepLosses };
      log(`resnet-18 w1 batch 256 precision ${precision}: ${r.globalStep} steps, ${r.imagesPerSecond.toFixed(0)} img/s (incl. first step)`);
      const e = embedImages({ cache, config: big, outDir: join(work, `r18-emb-${precision}`), device, csv: true });
      report[`resnet18_embed_${precision}`] = { imagesPerSecond: e.imagesPerSecond, weights: e.weights };
      log(`resnet-18 embedding (random init, csv+binary): ${e.imagesPerSecond.toFixed(0)} img/s`);
      save();
    }
  }
  cache.close();
  report.liveTensors = torch.liveTensors();
  save();
  log("done");
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
