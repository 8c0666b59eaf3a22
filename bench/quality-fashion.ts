import "./quality-env.js";
// Quality benchmark: Fashion-MNIST kNN. A subset of Fashion-MNIST (Debian's dataset-fashion-mnist
// idx files) written as RGB PNGs (grey → RGB) into <work>/fashion-<nTrain>-<nTest>/{train,test}/;
// SimCLR trains on the train images only (labels unused); train and test images are embedded with
// the trained model; each test image gets the majority label of its k nearest train images (cosine).
//
// Compared, same images, same evaluation:
//   SSL        Winnow's SimCLR trainer (train()) for a fixed wall-clock budget, then embedImages()
//   random     embedImages() with no model: the same architecture, randomly initialised (same seed)
//   pixels     the image as raw grey pixels, resized to each side of --pixels (sharp), L2-normalised
//
//   npx tsx bench/quality-fashion.ts [--train 2000] [--test 1000] [--budget-s 180] [--epochs 1000]
//        [--size 32] [--model resnet-18] [--width 0.25] [--batch 128] [--lr 1] [--momentum 0]
//        [--threads 2] [--work /tmp/winnow-bench] [--config JSON] [--pixels 8,12,16,28] [--ssl-train N]
//        [--eval-epochs 100,300] [--torch-ref] [--no-write]
// --eval-epochs: also evaluate the same training run's checkpoints after these epochs (extra rows).
// --ssl-train N: SSL trains on the first N training images without labels (default: the --train ones),
// kNN still uses the first --train images as its labelled references.
// --config: any lightly_config keys, merged over the flags' settings (e.g. '{"model":{"num_ftrs":128}}').
// --torch-ref: also train the same recipe for the same number of steps in plain PyTorch
// (bench/quality_ref.py, DataLoader num_workers 2) on the train images and evaluate it the same way.
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { buildImageCache, cacheSizeFor } from "../src/data/index.js";
import {
  prepareFashion, rawPixelFeatures, knnHits, pairedLine, trainWithBudget, embedWith, pickRows, torchRefEmbeddings, evalEpochs,
  loadavg, machineLine, today, appendSection, arg, argStr, flag, benchConfig, pixelSides, shellArgs,
} from "./quality-data.js";
import { OMP_SETTING } from "./quality-env.js";

const N_TRAIN = arg("train", 2000);
/** SSL trains on the first N of Fashion-MNIST's training images (the N_TRAIN labelled ones among them). */
const N_SSL = arg("ssl-train", N_TRAIN);
const N_TEST = arg("test", 1000);
const BUDGET_S = arg("budget-s", 180);
const EPOCHS = arg("epochs", 1000);
const SIZE = arg("size", 32);
const MODEL = argStr("model", "resnet-18");
const WIDTH = arg("width", 0.25);
const BATCH = arg("batch", 128);
const LR = arg("lr", 1);
const MOMENTUM = arg("momentum", 0);
const THREADS = arg("threads", 2);
const WORK = argStr("work", "/tmp/winnow-bench");
const WRITE = !flag("no-write");
const TORCH_REF = flag("torch-ref");
const KS = [5, 20];

torch.setNumThreads(THREADS);
const log = (m: string): void => console.log(m);
const tStart = performance.now();
const loadStart = loadavg();
const since = (): string => `${((performance.now() - tStart) / 1000).toFixed(0)} s`;

const set = prepareFashion(path.join(WORK, `fashion-${N_TRAIN}-${N_TEST}`), N_TRAIN, N_TEST);
log(`Fashion-MNIST: ${N_TRAIN} train + ${N_TEST} test PNGs (prepared in ${set.prepareSeconds.toFixed(1)} s; 0 = reused) [${since()}]`);

const { config, recipe } = benchConfig({
  loader: { batch_size: BATCH, num_workers: -1 },
  model: { name: MODEL, width: WIDTH },
  trainer: { gpus: 0, max_epochs: EPOCHS, enable_model_summary: false },
  optimizer: { lr: LR, momentum: MOMENTUM },
  collate: { input_size: SIZE },
  checkpoint_callback: { save_top_k: 0 },
  seed: 1,
});

async function cacheOf(root: string, name: string) {
  const dir = path.join(WORK, "cache", name);
  fs.rmSync(dir, { recursive: true, force: true });
  // Exact duplicates are kept: every test image must get an embedding.
  const c = await buildImageCache(root, { cacheDir: dir, resolution: cacheSizeFor(SIZE), removeExactDuplicates: false });
  if (c.corruptFilenames.length) throw new Error(`unreadable files: ${JSON.stringify(c.corruptFilenames.slice(0, 3))}`);
  return c;
}

// Train cache (SSL trains on it) and the cache of the whole folder (train/ + test/, embedded).
if (TORCH_REF && N_SSL !== N_TRAIN) throw new Error("--torch-ref trains on the --train images: leave --ssl-train out");
if (N_SSL < N_TRAIN) throw new Error(`--ssl-train ${N_SSL} < --train ${N_TRAIN}: SSL sees at least the labelled images`);
const sslRoot = N_SSL === N_TRAIN ? set.root : prepareFashion(path.join(WORK, `fashion-${N_SSL}-0`), N_SSL, 0).root;
const trainCache = await cacheOf(path.join(sslRoot, "train"), `fashion-${N_SSL}-train`);
const allCache = await cacheOf(set.root, `fashion-${N_TRAIN}-${N_TEST}-all`);
log(`caches: ${trainCache.length} train images (${(trainCache.stats.durationMs / 1000).toFixed(1)} s), ${allCache.length} all (${(allCache.stats.durationMs / 1000).toFixed(1)} s) at ${allCache.resolution} px [${since()}]`);

const files = allCache.filenames;
const trainRows = files.flatMap((f, i) => (f.startsWith("train/") ? [i] : []));
const testRows = files.flatMap((f, i) => (f.startsWith("test/") ? [i] : []));
const labelOf = (i: number): number => set.labels[files[i]!]!;
const trainLabels = trainRows.map(labelOf);
const testLabels = testRows.map(labelOf);

interface Row {
  method: string;
  dims: number;
  acc: Record<number, number>;
  hits: Record<number, boolean[]>;
  note: string;
}
const rows: Row[] = [];
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
function evaluate(method: string, feats: Float32Array, d: number, note: string): void {
  const tr = pickRows(feats, d, trainRows);
  const te = pickRows(feats, d, testRows);
  const acc: Record<number, number> = {};
  const hits: Record<number, boolean[]> = {};
  for (const k of KS) {
    hits[k] = knnHits(tr, trainLabels, te, testLabels, d, k);
    acc[k] = hits[k].filter(Boolean).length / hits[k].length;
  }
  rows.push({ method, dims: d, acc, hits, note });
  log(`${method}: ${KS.map((k) => `k=${k} ${pct(acc[k]!)}`).join(", ")} [${since()}]`);
}

for (const side of pixelSides([8, 12, 16, 28])) {
  // grey images: one channel carries everything (cosine is unchanged by repeating it 3×)
  const px = await rawPixelFeatures(set.root, files, side);
  const g = new Float32Array(files.length * side * side);
  for (let i = 0; i < files.length; i++) for (let p = 0; p < side * side; p++) g[i * side * side + p] = px[(i * side * side + p) * 3]!;
  evaluate(`raw pixels ${side}×${side} grey`, g, side * side, "");
}

const rnd = await embedWith(allCache, config, path.join(WORK, "out-fashion", "random"));
evaluate("random init (embedImages, no model)", rnd.values, rnd.d, `embed ${rnd.seconds.toFixed(1)} s`);

log(`training on ${trainCache.length} train images: ${MODEL} width ${WIDTH}, input ${SIZE}, batch ${BATCH}, budget ${BUDGET_S} s`);
const tr = await trainWithBudget(trainCache, config, path.join(WORK, "out-fashion", "ckpt"), BUDGET_S, log, evalEpochs());
for (const snap of tr.snapshots) {
  const e = await embedWith(allCache, config, path.join(WORK, "out-fashion", `ssl-${snap.epochs}`), snap.checkpoint);
  evaluate(`SimCLR after ${snap.epochs} epochs`, e.values, e.d, `train ${snap.wallSeconds.toFixed(0)} s wall (the same run's checkpoint after epoch ${snap.epochs}), embed ${e.seconds.toFixed(1)} s`);
}
const ssl = await embedWith(allCache, config, path.join(WORK, "out-fashion", "ssl"), tr.model);
tr.model.dispose();
const steps = tr.result.globalStep;
const trainNote =
  `train ${tr.wallSeconds.toFixed(0)} s wall (${steps} steps = ${(steps / tr.result.stepsPerEpoch).toFixed(1)} epochs, ${tr.result.imagesPerSecond.toFixed(0)} img/s in steps; ` +
  `loss ${tr.result.stepLosses[0]!.toFixed(3)} → ${tr.result.stepLosses.at(-1)!.toFixed(3)}), embed ${ssl.seconds.toFixed(1)} s`;
evaluate("SimCLR (Winnow train → embedImages)", ssl.values, ssl.d, trainNote);
if (TORCH_REF) {
  // The same recipe and number of steps in plain PyTorch: tells a recipe/budget limit from a Winnow defect.
  const ref = torchRefEmbeddings({
    root: set.root, trainFiles: trainRows.map((i) => files[i]!), embedFiles: files, steps, threads: THREADS, numWorkers: 2,
    out: path.join(WORK, "out-fashion", "torch-ref.f32"), config,
  });
  evaluate(
    "SimCLR, plain PyTorch reference (same recipe and steps; bench/quality_ref.py)", ref.values, ref.d,
    `train ${ref.trainSeconds.toFixed(0)} s wall (${ref.steps} steps; loss ${ref.lossFirst.toFixed(3)} → ${ref.lossLast.toFixed(3)}), embed ${ref.embedSeconds.toFixed(1)} s`,
  );
}
trainCache.close();
allCache.close();

// The same test images classified by SSL and by the best raw-pixel side (per k): who wins the disagreements?
const sslRow = rows.find((r) => r.method.startsWith("SimCLR (Winnow"))!;
const pixelRows = rows.filter((r) => r.method.startsWith("raw pixels"));
const paired = KS.map((k) => {
  const best = pixelRows.reduce((a, b) => (b.acc[k]! > a.acc[k]! ? b : a));
  return `k=${k}: SSL vs ${best.method} (the best side), paired over the same ${testLabels.length} test images: ${pairedLine(sslRow.hits[k]!, best.hits[k]!, "SSL", "pixels")}`;
});

const totalS = (performance.now() - tStart) / 1000;
const loadEnd = loadavg();
const table = [
  `| embedding | dims | ${KS.map((k) => `**kNN k=${k}**`).join(" | ")} | time |`,
  `|---|---:|${KS.map(() => "---:").join("|")}|---|`,
  ...rows.map((r) => `| ${r.method} | ${r.dims} | ${KS.map((k) => `**${pct(r.acc[k]!)}**`).join(" | ")} | ${r.note || "—"} |`),
].join("\n");
console.log(`\n${table}\n${paired.join("\n")}\ntotal ${totalS.toFixed(0)} s, load ${loadStart} → ${loadEnd}`);

if (WRITE) {
  const cmd = `npx tsx bench/quality-fashion.ts${process.argv.length > 2 ? " " + shellArgs() : ""}`;
  appendSection(`
### Quality: Fashion-MNIST kNN (${today()})

- Command: \`${cmd}\` (effective: ${N_TRAIN} train + ${N_TEST} test images, SSL on ${N_SSL} train images, budget ${BUDGET_S} s; lightly_config differing from Lightly's defaults: ${recipe.join(", ")}; seed 1).
- Machine: ${machineLine()}; ${THREADS} intra-op threads; OpenMP wait: ${OMP_SETTING}. Load average ${loadStart} at start, ${loadEnd} at end (the machine is shared with other jobs).
- Data: Debian's dataset-fashion-mnist (idx files); the first ${N_TRAIN} training and the first ${N_TEST} test images, 28×28 grey written as RGB PNG (cache ${cacheSizeFor(SIZE)} px, upsampled). SSL sees the first ${N_SSL} training images only, without labels (the ${N_TRAIN} labelled ones among them); kNN: each test image gets the majority label of its k nearest train images (cosine). Chance ≈ 10%.
- Total wall time of the run: ${totalS.toFixed(0)} s (set-up, cache builds, training, embeddings, evaluation).

${table}

${paired.map((l) => `${l}.`).join("\n")}
`);
}
