// End-to-end GPU training throughput: Winnow (decode cache → augmentation on the GPU → SimCLR step
// → a checkpoint per epoch) vs PyTorch (PNG folder → torchvision transforms in a DataLoader with
// 16 worker processes → the same model and step → torch.save per epoch), same images, batch, epochs.
// Prepare here:  npx tsx bench/gpu/e2e.ts --prepare 4096 .gpu-e2e     (PNG folder + Winnow cache)
// On the GPU machine (after the addon is built, see scripts/gpu-check.sh):
//   node .gpu/bundle/e2e.mjs --data .gpu-e2e --out $OUT [--python python3]
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as torch from "../../src/torch/index.js";
import { openImageCache } from "../../src/data/cache.js";
import { parseLightlyConfig } from "../../src/config/lightly-config.js";
import { train } from "../../src/ssl/trainer.js";

const argv = process.argv.slice(2);
const arg = (k: string, d: string): string => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? argv[i + 1]! : d;
};

async function prepare(n: number, dir: string): Promise<void> {
  const { buildImageCache } = await import("../../src/data/cache.js");
  const { writePatternFolder } = await import("../../test/helpers/ssl-images.js");
  rmSync(dir, { recursive: true, force: true });
  await writePatternFolder(join(dir, "images"), n, 32);
  const c = await buildImageCache(join(dir, "images"), { cacheDir: join(dir, "cache"), resolution: 36 });
  writeFileSync(join(dir, "cache-dir.txt"), c.dir);
  console.log(`${c.length} images, cache ${c.dir}`);
  c.close();
}

async function main(): Promise<void> {
  const p = argv.indexOf("--prepare");
  if (p >= 0) return prepare(Number(argv[p + 1]), argv[p + 2]!);
  const data = arg("data", ".gpu-e2e");
  const out = arg("out", "/tmp/winnow-e2e");
  const python = arg("python", "python3");
  const device = arg("device", "cuda");
  const epochs = Number(arg("epochs", "5"));
  const batch = Number(arg("batch", "512"));
  const workers = Number(arg("workers", "16"));
  mkdirSync(out, { recursive: true });
  const cache = openImageCache(readFileSync(join(data, "cache-dir.txt"), "utf8").trim().replace(/^.*\/cache\//, join(data, "cache") + "/"));
  // Both sides drop the last partial batch: fewer images than one batch would train on nothing.
  if (cache.length < batch) throw new Error(`${cache.length} images is less than one batch of ${batch}: pass --batch (E2E_ARGS) or prepare more (E2E_IMAGES)`);
  torch.cuda.setCudnnBenchmark(device.startsWith("cuda"));
  const rows: unknown[] = [];
  for (const precision of [32, 16] as const) {
    const config = parseLightlyConfig({
      model: { name: "resnet-18", width: 1, num_ftrs: 32, out_dim: 128 }, loader: { batch_size: batch },
      optimizer: { lr: 0.1 }, collate: { input_size: 32 }, trainer: { max_epochs: epochs, precision }, seed: 1,
    });
    const per: { seconds: number; imagesPerSecond: number }[] = [];
    const r = await train({ cache, config, outDir: join(out, `winnow-p${precision}`), device, onEpochEnd: (e) => per.push({ seconds: e.seconds, imagesPerSecond: e.imagesPerSecond }) });
    const steady = per.slice(1);
    const wIps = steady.reduce((a, e) => a + e.imagesPerSecond * e.seconds, 0) / steady.reduce((a, e) => a + e.seconds, 0);
    const py = spawnSync(python, ["bench/gpu/e2e_ref.py", JSON.stringify({ folder: join(data, "images"), batch, epochs, size: 32, workers, precision, device })], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (py.status !== 0) throw new Error(`e2e_ref.py failed: ${py.stderr.slice(-3000)}`);
    const ref = JSON.parse(py.stdout.trim().split("\n").pop()!);
    const row = { precision, images: cache.length, batch, epochs, winnow: { epochs: per, imagesPerSecondAfterFirstEpoch: wIps, precisionUsed: r.precision },
      pytorch: ref, ratio_winnow_over_pytorch_throughput: wIps / ref.images_per_s_after_first_epoch };
    console.log(JSON.stringify(row));
    rows.push(row);
    writeFileSync(join(out, "e2e-report.json"), JSON.stringify(rows, null, 2));
  }
  cache.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
