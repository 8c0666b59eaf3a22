import "./quality-env.js";
// Quality benchmark: cross-vendor emoji retrieval. The same emoji drawn by Apple, Google, Twitter and
// Facebook (emoji-datasource-* 64 px PNGs): for each image, is its nearest neighbour among the OTHER
// vendors' images the same emoji (top-1; any of the 5 nearest: top-5)? Cosine similarity.
//
// Compared, same folder, same evaluation:
//   SSL        Winnow's SimCLR trainer (train()) for a fixed wall-clock budget, then embedImages()
//   random     embedImages() with no model: the same architecture, randomly initialised (same seed)
//   pixels     the image resized to 16×16 RGB (sharp), L2-normalised
// Set-up: the PNGs have alpha; the data layer drops alpha as PIL's convert("RGB") does, which shows
// the colour each vendor left under transparent pixels (black for most, colour halos for some, i.e.
// a vendor signature). The bench therefore composites every emoji onto white with sharp first (the
// folder it trains on), and also reports the baselines on the unflattened files, to show the effect.
//
//   npx tsx bench/quality-emoji.ts [--emoji 500] [--emoji-offset 0] [--budget-s 180] [--epochs 1000] [--size 32]
//        [--model resnet-18] [--width 0.25] [--batch 128] [--lr 1] [--momentum 0] [--threads 2]
//        [--work /tmp/winnow-bench] [--collate JSON] [--config JSON] [--pixels 8,12,16,24,32]
//        [--eval-epochs 100,300] [--torch-ref] [--no-write]
// --eval-epochs: also evaluate the same training run's checkpoints after these epochs (extra rows).
// --config: any lightly_config keys, merged over the flags' settings (e.g. '{"model":{"num_ftrs":128}}').
// --torch-ref: also train the same recipe for the same number of steps in plain PyTorch
// (bench/quality_ref.py, DataLoader num_workers 2) and evaluate its embeddings the same way.
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { buildImageCache, cacheSizeFor } from "../src/data/index.js";
import {
  VENDORS, prepareEmoji, rawPixelFeatures, crossVendorRetrieval, trainWithBudget, embedWith, torchRefEmbeddings, pairedLine,
  loadavg, machineLine, today, appendSection, arg, argStr, flag, benchConfig, pixelSides, shellArgs, evalEpochs,
} from "./quality-data.js";
import { OMP_SETTING } from "./quality-env.js";

const N_EMOJI = arg("emoji", 500);
/** Shift every emoji pick by this many places (1 or 2: a set disjoint from the default one). */
const OFFSET = arg("emoji-offset", 0);
const setName = `emoji-${N_EMOJI}${OFFSET ? `-offset${OFFSET}` : ""}`;
const BUDGET_S = arg("budget-s", 180);
const EPOCHS = arg("epochs", 1000);
const SIZE = arg("size", 32);
const MODEL = argStr("model", "resnet-18");
const WIDTH = arg("width", 0.25);
const BATCH = arg("batch", 128);
const LR = arg("lr", 1);
const MOMENTUM = arg("momentum", 0);
const THREADS = arg("threads", 2);
const PIXEL_SIDES = pixelSides([8, 12, 16, 24, 32]);
const PIXELS_ALPHA = 16; // the side of the alpha-dropped comparison
const WORK = argStr("work", "/tmp/winnow-bench");
const WRITE = !flag("no-write");
const TORCH_REF = flag("torch-ref");
/** Extra lightly_config.collate keys as JSON, e.g. --collate '{"cj_hue":0,"random_gray_scale":0}'. */
const COLLATE = JSON.parse(argStr("collate", "{}")) as Record<string, unknown>;

torch.setNumThreads(THREADS);
const log = (m: string): void => console.log(m);
const tStart = performance.now();
const loadStart = loadavg();
const since = (): string => `${((performance.now() - tStart) / 1000).toFixed(0)} s`;

// ---- data -------------------------------------------------------------------------------------------
const flat = await prepareEmoji(path.join(WORK, `${setName}-white`), N_EMOJI, true, OFFSET);
const alpha = await prepareEmoji(path.join(WORK, `${setName}-alpha`), N_EMOJI, false, OFFSET);
log(`${flat.emoji.length} emoji × ${VENDORS.length} vendors (prepared in ${flat.prepareSeconds.toFixed(1)} + ${alpha.prepareSeconds.toFixed(1)} s; 0 = reused) [${since()}]`);

const { config, recipe } = benchConfig({
  loader: { batch_size: BATCH, num_workers: -1 },
  model: { name: MODEL, width: WIDTH },
  trainer: { gpus: 0, max_epochs: EPOCHS, enable_model_summary: false },
  optimizer: { lr: LR, momentum: MOMENTUM },
  collate: { input_size: SIZE, ...COLLATE },
  checkpoint_callback: { save_top_k: 0 },
  seed: 1,
});

interface Labels {
  emojiOf: number[];
  vendorOf: number[];
}
function labelsOf(filenames: string[], emoji: string[]): Labels {
  const eIdx = new Map(emoji.map((e, i) => [e, i]));
  const emojiOf: number[] = [];
  const vendorOf: number[] = [];
  for (const f of filenames) {
    const [v, e] = f.split("/") as [string, string];
    emojiOf.push(eIdx.get(e)!);
    vendorOf.push(VENDORS.indexOf(v as (typeof VENDORS)[number]));
  }
  return { emojiOf, vendorOf };
}

async function cacheOf(root: string) {
  const dir = path.join(WORK, "cache", path.basename(root));
  fs.rmSync(dir, { recursive: true, force: true });
  const c = await buildImageCache(root, { cacheDir: dir, resolution: cacheSizeFor(SIZE), removeExactDuplicates: false });
  if (c.corruptFilenames.length) throw new Error(`unreadable files: ${JSON.stringify(c.corruptFilenames.slice(0, 3))}`);
  return c;
}

interface Row {
  method: string;
  folder: string;
  dims: number;
  top1: number;
  top5: number;
  seconds: number;
  note: string;
}
const rows: Row[] = [];
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

// ---- flattened folder: SSL, random init, pixels -----------------------------------------------------
const cache = await cacheOf(flat.root);
log(`cache: ${cache.length} images at ${cache.resolution} px in ${(cache.stats.durationMs / 1000).toFixed(1)} s [${since()}]`);
const L = labelsOf(cache.filenames, flat.emoji);

let bestPixels: { side: number; top1: number; hit1: boolean[] } | null = null;
for (const side of PIXEL_SIDES) {
  const pix = await rawPixelFeatures(flat.root, cache.filenames, side);
  const rPix = crossVendorRetrieval(pix, side * side * 3, L.emojiOf, L.vendorOf);
  if (!bestPixels || rPix.top1 > bestPixels.top1) bestPixels = { side, top1: rPix.top1, hit1: rPix.hit1 };
  rows.push({ method: `raw pixels ${side}×${side} RGB`, folder: "white", dims: side * side * 3, top1: rPix.top1, top5: rPix.top5, seconds: 0, note: "" });
  log(`pixels ${side}×${side}: top-1 ${pct(rPix.top1)}, top-5 ${pct(rPix.top5)} [${since()}]`);
}

const rnd = await embedWith(cache, config, path.join(WORK, "out-emoji", "random"));
const rRnd = crossVendorRetrieval(rnd.values, rnd.d, L.emojiOf, L.vendorOf);
rows.push({ method: "random init (embedImages, no model)", folder: "white", dims: rnd.d, ...rRnd, seconds: rnd.seconds, note: `embed ${rnd.seconds.toFixed(1)} s` });
log(`random init: top-1 ${pct(rRnd.top1)}, top-5 ${pct(rRnd.top5)} [${since()}]`);

log(`training: ${MODEL} width ${WIDTH}, input ${SIZE}, batch ${BATCH}, budget ${BUDGET_S} s`);
const tr = await trainWithBudget(cache, config, path.join(WORK, "out-emoji", "ckpt"), BUDGET_S, log, evalEpochs());
for (const snap of tr.snapshots) {
  const e = await embedWith(cache, config, path.join(WORK, "out-emoji", `ssl-${snap.epochs}`), snap.checkpoint);
  const r = crossVendorRetrieval(e.values, e.d, L.emojiOf, L.vendorOf);
  const note = `train ${snap.wallSeconds.toFixed(0)} s wall (the same run's checkpoint after epoch ${snap.epochs}), embed ${e.seconds.toFixed(1)} s`;
  rows.push({ method: `SimCLR after ${snap.epochs} epochs`, folder: "white", dims: e.d, top1: r.top1, top5: r.top5, seconds: snap.wallSeconds, note });
  log(`SSL after ${snap.epochs} epochs: top-1 ${pct(r.top1)}, top-5 ${pct(r.top5)} [${since()}]`);
}
const ssl = await embedWith(cache, config, path.join(WORK, "out-emoji", "ssl"), tr.model);
tr.model.dispose();
const rSsl = crossVendorRetrieval(ssl.values, ssl.d, L.emojiOf, L.vendorOf);
const steps = tr.result.globalStep;
const epochsDone = steps / tr.result.stepsPerEpoch;
const trainNote =
  `train ${tr.wallSeconds.toFixed(0)} s wall (${steps} steps = ${epochsDone.toFixed(1)} epochs, ${tr.result.imagesPerSecond.toFixed(0)} img/s in steps; ` +
  `loss ${tr.result.stepLosses[0]!.toFixed(3)} → ${tr.result.stepLosses.at(-1)!.toFixed(3)}), embed ${ssl.seconds.toFixed(1)} s`;
rows.push({ method: "SimCLR (Winnow train → embedImages)", folder: "white", dims: ssl.d, ...rSsl, seconds: tr.wallSeconds + ssl.seconds, note: trainNote });
log(`SSL: top-1 ${pct(rSsl.top1)}, top-5 ${pct(rSsl.top5)}; ${trainNote} [${since()}]`);
if (TORCH_REF) {
  // The same recipe and number of steps in plain PyTorch: tells a recipe/budget limit from a Winnow defect.
  const ref = torchRefEmbeddings({
    root: flat.root, trainFiles: cache.filenames, embedFiles: cache.filenames, steps, threads: THREADS, numWorkers: 2,
    out: path.join(WORK, "out-emoji", "torch-ref.f32"), config,
  });
  const rRef = crossVendorRetrieval(ref.values, ref.d, L.emojiOf, L.vendorOf);
  const refNote = `train ${ref.trainSeconds.toFixed(0)} s wall (${ref.steps} steps; loss ${ref.lossFirst.toFixed(3)} → ${ref.lossLast.toFixed(3)}), embed ${ref.embedSeconds.toFixed(1)} s`;
  rows.push({ method: "SimCLR, plain PyTorch reference (same recipe and steps; bench/quality_ref.py)", folder: "white", dims: ref.d, ...rRef, seconds: ref.trainSeconds, note: refNote });
  log(`PyTorch reference: top-1 ${pct(rRef.top1)}, top-5 ${pct(rRef.top5)}; ${refNote} [${since()}]`);
}
cache.close();

// ---- unflattened folder (alpha dropped by the data layer): baselines only --------------------------
const cacheA = await cacheOf(alpha.root);
const LA = labelsOf(cacheA.filenames, alpha.emoji);
const pixA = await rawPixelFeatures(alpha.root, cacheA.filenames, PIXELS_ALPHA);
const rPixA = crossVendorRetrieval(pixA, PIXELS_ALPHA * PIXELS_ALPHA * 3, LA.emojiOf, LA.vendorOf);
rows.push({ method: `raw pixels ${PIXELS_ALPHA}×${PIXELS_ALPHA} RGB`, folder: "alpha dropped", dims: PIXELS_ALPHA * PIXELS_ALPHA * 3, ...rPixA, seconds: 0, note: "" });
const rndA = await embedWith(cacheA, config, path.join(WORK, "out-emoji", "random-alpha"));
const rRndA = crossVendorRetrieval(rndA.values, rndA.d, LA.emojiOf, LA.vendorOf);
rows.push({ method: "random init (embedImages, no model)", folder: "alpha dropped", dims: rndA.d, ...rRndA, seconds: rndA.seconds, note: "" });
log(`alpha dropped: pixels top-1 ${pct(rPixA.top1)}, random top-1 ${pct(rRndA.top1)} [${since()}]`);
cacheA.close();

// Per-vendor top-1 of the SSL embeddings (query vendor → its nearest image of another vendor).
const perVendor = VENDORS.map((v, vi) => {
  const idx = L.vendorOf.flatMap((x, i) => (x === vi ? [i] : []));
  return `${v} ${pct(idx.filter((i) => rSsl.hit1[i]).length / idx.length)}`;
});

// The same 2,000 queries answered by SSL and by the best raw-pixel side: who wins the disagreements?
let paired = "";
if (bestPixels) {
  paired = `SSL vs the best raw pixels (${bestPixels.side}×${bestPixels.side}), paired over the same queries: ${pairedLine(rSsl.hit1, bestPixels.hit1, "SSL", "pixels")}`;
}

const totalS = (performance.now() - tStart) / 1000;
const loadEnd = loadavg();
const table = [
  "| embedding | folder | dims | **top-1** | top-5 | time |",
  "|---|---|---:|---:|---:|---|",
  ...rows.map((r) => `| ${r.method} | ${r.folder} | ${r.dims} | **${pct(r.top1)}** | ${pct(r.top5)} | ${r.note || (r.seconds ? `${r.seconds.toFixed(1)} s` : "—")} |`),
].join("\n");
console.log(`\n${table}\nSSL top-1 by query vendor: ${perVendor.join(", ")}\n${paired}\ntotal ${totalS.toFixed(0)} s, load ${loadStart} → ${loadEnd}`);

if (WRITE) {
  const cmd = `npx tsx bench/quality-emoji.ts${process.argv.length > 2 ? " " + shellArgs() : ""}`;
  appendSection(`
### Quality: cross-vendor emoji retrieval (${today()})

- Command: \`${cmd}\` (effective: ${flat.emoji.length} emoji × 4 vendors = ${L.emojiOf.length} images, budget ${BUDGET_S} s; lightly_config differing from Lightly's defaults: ${recipe.join(", ")}; seed 1).
- Machine: ${machineLine()}; ${THREADS} intra-op threads; OpenMP wait: ${OMP_SETTING}. Load average ${loadStart} at start, ${loadEnd} at end (the machine is shared with other jobs).
- Data: emoji-datasource-{apple,google,twitter,facebook} 16.0.0, 64 px PNGs; ${flat.emoji.length} emoji that all four vendors draw (base code points, no skin-tone variants), evenly spaced in Unicode order${OFFSET ? ` (each pick shifted by ${OFFSET}: a set disjoint from the default one)` : ""}; folder \`<vendor>/<code>.png\`. "white": alpha composited onto white with sharp in the bench's set-up (the folder SSL trains on); "alpha dropped": the original RGBA files, whose alpha the data layer drops as PIL's convert("RGB") does.
- Task: for every image, its nearest neighbours (cosine) among the other three vendors' images (${3 * flat.emoji.length} candidates); top-1 = the nearest is the same emoji, top-5 = one of the 5 nearest is. Chance: top-1 ${pct(1 / flat.emoji.length)}.
- Total wall time of the run: ${totalS.toFixed(0)} s (cache builds, training, embeddings, evaluation).

${table}

SSL top-1 by query vendor: ${perVendor.join(", ")}.${paired ? `\n${paired}.` : ""}
`);
}
