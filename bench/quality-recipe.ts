import "./quality-env.js";
// Issue 20's quality bench: Winnow against lightly's *library* recipe at the same recipe and steps,
// over several seeds, with one-change-at-a-time ablations of Winnow's model and data path.
//
// Recipe (the issue's): resnet-18 width 0.25, batch 128, input 32, colour jitter 0.4/0.4/0.4/0.1,
// min_scale 0.2, no blur, SGD lr 0.06 momentum 0.9 weight decay 5e-4, cosine schedule per step.
//
// Rows:
//   Winnow variants   `winnow run`'s trainer + embedImages on the decode cache, lightly_config keys per row
//   ref-lightly       lightly's library recipe in plain PyTorch (bench/quality_ref.py): its benchmark model
//                     (ResNetGenerator children[:-1] + pool, SimCLRProjectionHead with BatchNorm),
//                     SimCLRTransform's torchvision pipeline on the original files, DataLoader
//   ref-worker        the same PyTorch pipeline with the worker's model (input BN, 1×1 conv, plain head)
// Each row trains the same number of steps (Winnow's epochs → steps; the references stop there).
//
// Sets:
//   emoji   N emoji × 4 vendors, 64 px PNG on white. Metrics: cross-vendor retrieval top-1 (the nearest
//           image of another vendor is the same emoji) and category kNN (k=10 over images of other
//           emoji, Unicode category, 10 classes).
//   photos  62 Debian wallpapers (photographs and digital art) cut into 4×4 tiles of 320 px width
//           (aspect ratio of the source: 16:9, 16:10 …). Metrics: source retrieval top-1 (nearest other
//           tile is from the same picture) and source kNN (k=5, leave-one-out).
//
//   npx tsx bench/quality-recipe.ts [--set emoji|photos] [--emoji 500] [--epochs 15] [--seeds 1,2,3]
//        [--variants worker,head-bn,no-input-bn,no-conv,library,library:wall] [--refs ref-lightly,ref-worker]
//        [--cache N (default cacheSizeFor(32) = 36)] [--threads 2] [--work /tmp/winnow-bench] [--no-write]
// A variant may carry a cache side: "library@64" trains and embeds from a 64 px cache; ":wall" (e.g.
// "library:wall") trains for the wall time that seed's ref-lightly row took instead of its steps.
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import sharp from "sharp";
import * as torch from "../src/torch/index.js";
import { buildImageCache, cacheSizeFor } from "../src/data/index.js";
import {
  VENDORS, prepareEmoji, preparePhotos, crossVendorRetrieval, cosineTopK, trainWithBudget, embedWith, torchRefEmbeddings,
  loadavg, machineLine, today, appendSection, arg, argStr, flag, benchConfig, shellArgs, deepMerge,
} from "./quality-data.js";
import { OMP_SETTING } from "./quality-env.js";

const require = createRequire(import.meta.url);
const SET = argStr("set", "emoji");
const N_EMOJI = arg("emoji", 500);
const EPOCHS = arg("epochs", 15);
const SEEDS = argStr("seeds", "1,2,3").split(",").map(Number);
const VARIANTS = argStr("variants", "worker,head-bn,no-input-bn,no-conv,library").split(",").filter(Boolean);
const REFS = argStr("refs", "ref-lightly,ref-worker").split(",").filter(Boolean);
const THREADS = arg("threads", 2);
const WORK = argStr("work", "/tmp/winnow-bench");
const WRITE = !flag("no-write");
const SIZE = 32;
const MIN_SCALE = 0.2;

torch.setNumThreads(THREADS);
const log = (m: string): void => console.log(m);
const tStart = performance.now();
const loadStart = loadavg();
const since = (): string => `${((performance.now() - tStart) / 1000).toFixed(0)} s`;

const RECIPE = {
  loader: { batch_size: 128, num_workers: -1 },
  model: { name: "resnet-18", width: 0.25, num_ftrs: 128 },
  trainer: { gpus: 0, max_epochs: EPOCHS, enable_model_summary: false },
  optimizer: { lr: 0.06, momentum: 0.9, weight_decay: 5e-4, lr_schedule: "cosine" },
  collate: { input_size: SIZE, cj_bright: 0.4, cj_contrast: 0.4, cj_sat: 0.4, cj_hue: 0.1, min_scale: MIN_SCALE, gaussian_blur: 0 },
  checkpoint_callback: { save_top_k: 0 },
};
const LIBRARY_MODEL = { projection_head_batch_norm: true, input_batch_norm: false, feature_conv: false };
const MODEL_OF: Record<string, Record<string, unknown>> = {
  worker: {},
  "head-bn": { projection_head_batch_norm: true },
  "no-input-bn": { input_batch_norm: false },
  "no-conv": { feature_conv: false },
  library: LIBRARY_MODEL,
  "ref-lightly": LIBRARY_MODEL,
  "ref-worker": {},
};
const LABEL: Record<string, string> = {
  worker: "Winnow, worker model (input BN, 1×1 conv to 128, plain head)",
  "head-bn": "Winnow, worker model + head with BatchNorm",
  "no-input-bn": "Winnow, worker model − input BatchNorm",
  "no-conv": "Winnow, worker model − 1×1 conv (128 = 512·0.25 features)",
  library: "Winnow, lightly's library model (all three keys)",
  "ref-lightly": "**lightly's library recipe** (PyTorch + torchvision on the original files)",
  "ref-worker": "PyTorch + torchvision on the original files, worker model",
};

// ---- data and labels ------------------------------------------------------------------------------------
interface DataSet {
  root: string;
  files: string[];
  describe: string;
  metrics: [string, string];
  evaluate: (feats: Float32Array, d: number) => [number, number];
}

function categoryOf(emoji: string[]): Map<string, string> {
  const list = require("emoji-datasource-apple/emoji.json") as Array<{ image: string; category: string }>;
  const byImage = new Map(list.map((e) => [e.image, e.category]));
  return new Map(emoji.map((e) => [e, byImage.get(e)!]));
}

/** Majority vote of the k nearest (cosine) among the candidates `exclude` leaves, ties to the nearest. */
function knnVote(feats: Float32Array, d: number, labels: number[], k: number, exclude: (a: number, b: number) => boolean): number {
  const nn = cosineTopK(feats, feats, d, k, exclude);
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    const votes = new Map<number, number>();
    let best = -1, bestVotes = 0;
    for (let j = 0; j < k; j++) {
      const c = labels[nn[i * k + j]!]!;
      const v = (votes.get(c) ?? 0) + 1;
      votes.set(c, v);
      if (v > bestVotes) [best, bestVotes] = [c, v];
    }
    if (best === labels[i]) hits++;
  }
  return hits / labels.length;
}

async function emojiSet(): Promise<DataSet> {
  const set = await prepareEmoji(path.join(WORK, `emoji-${N_EMOJI}-white`), N_EMOJI, true);
  const files = VENDORS.flatMap((v) => set.emoji.map((e) => `${v}/${e}`)).sort();
  const eIdx = new Map(set.emoji.map((e, i) => [e, i]));
  const cats = categoryOf(set.emoji);
  const catNames = [...new Set(cats.values())].sort();
  const emojiOf = files.map((f) => eIdx.get(f.split("/")[1]!)!);
  const vendorOf = files.map((f) => VENDORS.indexOf(f.split("/")[0] as (typeof VENDORS)[number]));
  const catOf = files.map((f) => catNames.indexOf(cats.get(f.split("/")[1]!)!));
  return {
    root: set.root, files,
    describe: `emoji-datasource-{apple,google,twitter,facebook} 16.0.0, ${set.emoji.length} emoji × 4 vendors = ${files.length} PNGs of 64×64 composited on white; ${catNames.length} Unicode categories`,
    metrics: ["cross-vendor retrieval top-1", "category kNN (k=10)"],
    evaluate: (feats, d) => [
      crossVendorRetrieval(feats, d, emojiOf, vendorOf).top1,
      knnVote(feats, d, catOf, 10, (a, b) => emojiOf[a] === emojiOf[b]),
    ],
  };
}

async function photoSet(): Promise<DataSet> {
  const set = await preparePhotos(path.join(WORK, "photos"), 4, 320);
  const files = set.sources.flatMap((s) => fs.readdirSync(path.join(set.root, s)).filter((f) => f.endsWith(".jpg")).map((f) => `${s}/${f}`)).sort();
  const srcOf = files.map((f) => set.sources.indexOf(f.split("/")[0]!));
  const sizes = new Map<string, number>();
  for (const s of set.sources) {
    const { width, height } = await sharp(path.join(set.root, s, "0_0.jpg")).metadata();
    const key = `${width}×${height}`;
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  return {
    root: set.root, files,
    describe: `${set.sources.length} Debian wallpapers (gnome-backgrounds, mate-backgrounds, plasma-workspace-wallpapers: photographs and digital art) cut into 4×4 tiles, ${files.length} JPEGs; tile sizes ${[...sizes].map(([k, n]) => `${k} (${n} pictures)`).join(", ")}`,
    metrics: ["source retrieval top-1", "source kNN (k=5)"],
    evaluate: (feats, d) => {
      const nn = cosineTopK(feats, feats, d, 1, (a, b) => a === b);
      let t1 = 0;
      for (let i = 0; i < srcOf.length; i++) if (srcOf[nn[i]!] === srcOf[i]) t1++;
      return [t1 / srcOf.length, knnVote(feats, d, srcOf, 5, (a, b) => a === b)];
    },
  };
}

const data = SET === "photos" ? await photoSet() : await emojiSet();
log(`${SET}: ${data.files.length} images [${since()}]`);

const caches = new Map<number, Awaited<ReturnType<typeof buildImageCache>>>();
async function cacheAt(side: number) {
  let c = caches.get(side);
  if (!c) {
    const dir = path.join(WORK, "cache-recipe", `${SET}-${side}`);
    fs.rmSync(dir, { recursive: true, force: true });
    c = await buildImageCache(data.root, { cacheDir: dir, resolution: side, removeExactDuplicates: false });
    if (c.length !== data.files.length) throw new Error(`cache has ${c.length} images, expected ${data.files.length}`);
    if (c.filenames.some((f, i) => f !== data.files[i])) throw new Error("cache order differs from the file list");
    caches.set(side, c);
  }
  return c;
}
const defaultSide = arg("cache", cacheSizeFor(SIZE));

// ---- runs -----------------------------------------------------------------------------------------------
interface Result { row: string; seed: number; m: [number, number]; seconds: number; steps: number; loss: [number, number] }
const results: Result[] = [];
const fmtPct = (x: number): string => `${(100 * x).toFixed(1)}`;
let stepsOf = 0;

/** "name[@cacheSide][:wall]": ":wall" trains for the wall time this seed's ref-lightly row took (run after it). */
function parseRow(row: string): { name: string; side: number | null; wall: boolean } {
  const m = /^([a-z-]+)(?:@(\d+))?(:wall)?$/.exec(row);
  if (!m) throw new Error(`bad row ${row}: name[@cacheSide][:wall]`);
  return { name: m[1]!, side: m[2] ? Number(m[2]) : null, wall: !!m[3] };
}
const ROWS = [...VARIANTS.filter((v) => !v.endsWith(":wall")), ...REFS, ...VARIANTS.filter((v) => v.endsWith(":wall"))];

for (const seed of SEEDS) {
  for (const row of ROWS) {
    const { name, side: sideArg, wall } = parseRow(row);
    const model = MODEL_OF[name];
    if (!model) throw new Error(`unknown variant ${name}; known: ${Object.keys(MODEL_OF).join(", ")}`);
    const budget = wall ? results.find((r) => r.seed === seed && r.row === "ref-lightly")?.seconds : 1e9;
    if (budget === undefined) throw new Error(`${row}: needs ref-lightly in --refs (its wall time is the budget)`);
    // ":wall": as many epochs as this seed's step rate of the same model fits into the budget (the
    // cosine schedule then ends on time); the budget also stops training if the machine slows down.
    let epochs = EPOCHS;
    if (wall) {
      const same = results.find((r) => r.seed === seed && parseRow(r.row).name === name && !parseRow(r.row).wall);
      if (!same) throw new Error(`${row}: needs the row ${name} first (its step rate sizes the epochs)`);
      epochs = Math.max(EPOCHS, Math.floor((EPOCHS * budget) / same.seconds));
    }
    const { config } = benchConfig(deepMerge(RECIPE, { model, seed, trainer: { max_epochs: epochs } }));
    const out = path.join(WORK, "out-recipe", `${SET}-${row}-${seed}`);
    if (name.startsWith("ref-")) {
      if (!stepsOf) throw new Error("the references need a Winnow variant first (for the number of steps)");
      const ref = torchRefEmbeddings({
        root: data.root, trainFiles: data.files, embedFiles: data.files, steps: stepsOf, threads: THREADS, numWorkers: 2,
        out: `${out}.f32`, config,
      });
      const m = data.evaluate(ref.values, ref.d);
      results.push({ row, seed, m, seconds: ref.trainSeconds, steps: ref.steps, loss: [ref.lossFirst, ref.lossLast] });
    } else {
      const cache = await cacheAt(sideArg ?? defaultSide);
      const tr = await trainWithBudget(cache, config, out, budget);
      const e = await embedWith(cache, config, `${out}-embed`, tr.model);
      tr.model.dispose();
      if (!wall) stepsOf = tr.result.globalStep;
      const m = data.evaluate(e.values, e.d);
      const losses = tr.result.stepLosses;
      results.push({ row, seed, m, seconds: tr.wallSeconds, steps: tr.result.globalStep, loss: [losses[0]!, losses.at(-1)!] });
    }
    const r = results.at(-1)!;
    log(`seed ${seed} ${row}: ${data.metrics[0]} ${fmtPct(r.m[0])}%, ${data.metrics[1]} ${fmtPct(r.m[1])}%, ${r.steps} steps in ${r.seconds.toFixed(0)} s, loss ${r.loss[0].toFixed(3)} → ${r.loss[1].toFixed(3)} [${since()}]`);
  }
}
for (const c of caches.values()) c.close();

// ---- report ---------------------------------------------------------------------------------------------
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]): number => (v.length < 2 ? 0 : Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1)));
const cell = (v: number[]): string => `${fmtPct(mean(v))} ± ${fmtPct(std(v))} (${v.map(fmtPct).join(", ")})`;
const rows = ROWS.map((row) => {
  const rs = results.filter((r) => r.row === row);
  const { name, side, wall } = parseRow(row);
  const label = `${LABEL[name]}${name.startsWith("ref-") ? "" : `, cache ${side ?? defaultSide} px`}${wall ? ", **same wall time as the lightly recipe**" : ""}`;
  return `| ${label} | ${cell(rs.map((r) => r.m[0]))} | ${cell(rs.map((r) => r.m[1]))} | ${mean(rs.map((r) => r.steps)).toFixed(0)} | ${mean(rs.map((r) => r.seconds)).toFixed(0)} s |`;
});
const table = [
  `| row | ${data.metrics[0]} % (mean ± std (per seed)) | ${data.metrics[1]} % | steps | train time (mean) |`,
  "|---|---|---|---:|---:|",
  ...rows,
].join("\n");
const totalS = (performance.now() - tStart) / 1000;
console.log(`\n${table}\ntotal ${totalS.toFixed(0)} s, load ${loadStart} → ${loadavg()}`);

if (WRITE) {
  const cmd = `npx tsx bench/quality-recipe.ts${process.argv.length > 2 ? " " + shellArgs() : ""}`;
  appendSection(`
### Quality at lightly's library recipe: ${SET} (${today()})

- Command: \`${cmd}\`; ${EPOCHS} epochs = ${stepsOf} steps per row, seeds ${SEEDS.join(", ")}.
- Recipe: resnet-18 width 0.25, batch 128, input ${SIZE}, colour jitter 0.4/0.4/0.4/0.1 (p 0.8), grey 0.2, flip 0.5, min_scale ${MIN_SCALE}, no blur, SGD lr 0.06 momentum 0.9 weight decay 5e-4, cosine per step, NT-Xent temperature 0.5; Winnow rows num_ftrs 128 where the 1×1 conv exists.
- Data: ${data.describe}.
- Machine: ${machineLine()}; ${THREADS} intra-op threads; PyTorch DataLoader num_workers 2; OpenMP wait: ${OMP_SETTING}. Load average ${loadStart} at start, ${loadavg()} at end (shared with other jobs: times are not comparable across rows).
- Total wall time: ${totalS.toFixed(0)} s.

${table}
`);
}
