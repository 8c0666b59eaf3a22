import "./quality-env.js";
// What a selection is worth: the accuracy of a model trained on the images it picks. For each data
// set, Winnow's SimCLR (from scratch, one training on the unlabelled pool for --budget-s seconds)
// embeds the pool and the test images once; then, for budgets of 0.5/1/2/5/10 % of the pool and
// each seed, RANDOM, DIVERSITY, TYPICALITY and DIVERSITY×TYPICALITY (runSelection, the worker's
// normalised embeddings) pick the images to "label", and two cheap models are fitted on the picks'
// embeddings: a linear probe (softmax regression on standardised features, full-batch gradient
// descent, 500 steps of 0.5, L2 1e-3)
// and kNN (cosine, k = min(5, picks)). Test accuracy is mean ± std over the seeds, and each recipe
// is compared with RANDOM by a paired t-test over the seeds (two-sided p).
// Seeds: RANDOM draws with the seed; the pool is presented in a seed-shuffled order, so DIVERSITY
// starts from a different sample and ties break differently (Lightly also starts at a random one).
// TYPICALITY alone is nearly the same set for every seed (its order is the data's).
//
// Data: Fashion-MNIST (Debian dataset-fashion-mnist; pool = the first --pool training images,
// test = the first --test test images, 10 classes) and the emoji set (emoji-datasource-*; pool =
// --emoji emoji × 4 vendors, test = a disjoint set of as many emoji (offset 1) × 4 vendors; the
// label is the emoji's Unicode category, 9 classes).
//
//   npx tsx bench/selection-value.ts [--sets fashion,emoji] [--pool 10000] [--test 10000] [--emoji 500]
//        [--recipe library|worker] [--epochs N | --budget-s 600] [--seeds 5] [--size 32] [--threads 2] [--work /tmp/winnow-bench] [--no-write]
//        [--ssl-seed 1] [--seed-base 0]
// --ssl-seed is the training's seed (init, augmentation draws); --seed-base shifts the selection seeds
// (seeds seed-base … seed-base + seeds − 1), so a replicate shares no random draw with an earlier run.
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import * as torch from "../src/torch/index.js";
import { buildImageCache, cacheSizeFor } from "../src/data/index.js";
import { runSelection } from "../src/select/index.js";
import { parseSelectionConfig } from "../src/config/selection-config.js";
import {
  prepareFashion, prepareEmoji, VENDORS, trainWithBudget, embedWith, knnAccuracy, l2normalize, pickRows,
  loadavg, machineLine, today, appendSection, arg, argStr, flag, benchConfig, shellArgs,
} from "./quality-data.js";

const require = createRequire(import.meta.url);
const SETS = argStr("sets", "fashion,emoji").split(",");
const POOL = arg("pool", 10000);
const TEST = arg("test", 10000);
const EMOJI = arg("emoji", 500);
const BUDGET_S = arg("budget-s", 600);
const SEEDS = arg("seeds", 5);
const SSL_SEED = arg("ssl-seed", 1);
const SEED_BASE = arg("seed-base", 0);
const SIZE = arg("size", 32);
const THREADS = arg("threads", 2);
const WORK = argStr("work", "/tmp/winnow-bench");
const WRITE = !flag("no-write");
const FRACTIONS = [0.005, 0.01, 0.02, 0.05, 0.1];
torch.setNumThreads(THREADS);
const log = (m: string): void => console.log(m);
const t0 = performance.now();
const since = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

// --recipe library (default): the recipe and model issue 20 found best at this scale (lightly's library
// SimCLR: head with BatchNorm, no input BatchNorm, no 1×1 conv; SGD 0.06/0.9/5e-4 with a cosine schedule,
// colour jitter 0.4/0.4/0.4/0.1, min_scale 0.2, no blur). --recipe worker: the Lightly worker's defaults
// (the first runs of this bench). --epochs N trains N epochs (the cosine schedule ends where training
// does); without it, --budget-s seconds of training.
const RECIPE = argStr("recipe", "library");
const EPOCHS = arg("epochs", 0);
const RECIPE_KEYS: Record<string, Record<string, unknown>> = {
  library: {
    model: { name: "resnet-18", width: 0.25, projection_head_batch_norm: true, input_batch_norm: false, feature_conv: false },
    optimizer: { lr: 0.06, momentum: 0.9, weight_decay: 5e-4, lr_schedule: "cosine" },
    collate: { input_size: SIZE, cj_bright: 0.4, cj_contrast: 0.4, cj_sat: 0.4, cj_hue: 0.1, min_scale: 0.2, gaussian_blur: 0 },
  },
  worker: {
    model: { name: "resnet-18", width: 0.25 },
    optimizer: { lr: 1, momentum: 0 },
    collate: { input_size: SIZE },
  },
};
if (!RECIPE_KEYS[RECIPE]) throw new Error(`--recipe: expected ${Object.keys(RECIPE_KEYS).join(" or ")}, got "${RECIPE}"`);
const { config, recipe } = benchConfig({
  loader: { batch_size: 128, num_workers: -1 },
  trainer: { gpus: 0, max_epochs: EPOCHS > 0 ? EPOCHS : 1000, enable_model_summary: false },
  checkpoint_callback: { save_top_k: 0 },
  seed: SSL_SEED,
  ...RECIPE_KEYS[RECIPE],
});

/** A hard link (the folder listing refuses symlinks), or a copy across file systems. */
function linkOrCopy(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

// ---- statistics ---------------------------------------------------------------------------------------

/** Regularised incomplete beta I_x(a, b) (continued fraction, Lentz), for the t distribution. */
function ibeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnB = lgamma(a + b) - lgamma(a) - lgamma(b);
  const front = Math.exp(lnB + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - ibeta(1 - x, b, a);
  let f = 1, c = 1, d = 0;
  for (let i = 0; i <= 200; i++) {
    const m = i >> 1;
    const num = i === 0 ? 1 : i % 2 === 0 ? (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)) : -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + num * d;
    d = Math.abs(d) < 1e-300 ? 1e-300 : d;
    d = 1 / d;
    c = 1 + num / c;
    c = Math.abs(c) < 1e-300 ? 1e-300 : c;
    f *= c * d;
    if (Math.abs(1 - c * d) < 1e-12) break;
  }
  return (front * (f - 1)) / a;
}
function lgamma(z: number): number {
  const g = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = z;
  const t = z + 5.5 - (z + 0.5) * Math.log(z + 5.5);
  let s = 1.000000000190015;
  for (const c of g) s += c / ++y;
  return -t + Math.log((2.5066282746310005 * s) / z);
}
/** Paired t-test: mean difference a − b and two-sided p. */
function pairedT(a: number[], b: number[]): { diff: number; p: number } {
  const d = a.map((x, i) => x - b[i]!);
  const n = d.length;
  const m = d.reduce((s, v) => s + v, 0) / n;
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - m) ** 2, 0) / (n - 1));
  if (sd === 0) return { diff: m, p: m === 0 ? 1 : 0 };
  const t = m / (sd / Math.sqrt(n));
  const df = n - 1;
  return { diff: m, p: ibeta(df / (df + t * t), df / 2, 0.5) };
}
const meanStd = (v: number[]): string => {
  const m = v.reduce((s, x) => s + x, 0) / v.length;
  const sd = Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, v.length - 1));
  return `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
};

// ---- the two models fitted on the picks ----------------------------------------------------------------

/** Softmax regression by full-batch gradient descent on standardised features (convex: no seed needed); test accuracy. */
function linearProbe(x: Float32Array, y: number[], test: Float32Array, testY: number[], d: number, classes: number): number {
  return torch.noGrad(() => torch.scope(() => {
    const X = torch.tensor(x, { shape: [y.length, d] });
    const Y = torch.zeros([y.length, classes]).scatter_(1, torch.tensor(y, { dtype: "int64" }).unsqueeze(1), torch.ones([y.length, 1]));
    const W = torch.zeros([d, classes]);
    const b = torch.zeros([classes]);
    const lr = 0.5;
    for (let s = 0; s < 500; s++) {
      torch.scope(() => {
        const g = torch.addmm(b.unsqueeze(0), X, W).softmax(1).sub(Y).div(y.length);
        W.sub_(X.t().mm(g).add(W.mul(1e-3)).mul(lr));
        b.sub_(g.sum(0).mul(lr));
      });
    }
    const pred = torch.addmm(b.unsqueeze(0), torch.tensor(test, { shape: [testY.length, d] }), W).argmax(1).toArray() as number[];
    return pred.filter((p, i) => p === testY[i]).length / testY.length;
  }));
}

// ---- one data set ---------------------------------------------------------------------------------------

interface DataSet {
  name: string;
  root: string;
  pool: string[];
  test: string[];
  label: (f: string) => number;
  classes: number;
}

const RECIPES: Record<string, (seed: number) => unknown[]> = {
  RANDOM: (seed) => [{ input: { type: "RANDOM", random_seed: seed }, strategy: { type: "WEIGHTS" } }],
  DIVERSITY: () => [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }],
  TYPICALITY: () => [{ input: { type: "EMBEDDINGS" }, strategy: { type: "TYPICALITY" } }],
  "DIVERSITY×TYPICALITY": () => [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }, { input: { type: "EMBEDDINGS" }, strategy: { type: "TYPICALITY" } }],
};

async function evaluateSet(ds: DataSet): Promise<string> {
  const cacheOf = async (root: string, name: string) => {
    const dir = path.join(WORK, "cache", name);
    fs.rmSync(dir, { recursive: true, force: true });
    return buildImageCache(root, { cacheDir: dir, resolution: cacheSizeFor(SIZE), removeExactDuplicates: false });
  };
  // SSL on the pool only (no labels), then pool + test embedded with that model.
  const poolDir = path.join(WORK, `selval-${ds.name}-pool`);
  fs.rmSync(poolDir, { recursive: true, force: true });
  for (const f of ds.pool) {
    fs.mkdirSync(path.dirname(path.join(poolDir, f)), { recursive: true });
    linkOrCopy(path.join(ds.root, f), path.join(poolDir, f));
  }
  const poolCache = await cacheOf(poolDir, `selval-${ds.name}-pool`);
  const allCache = await cacheOf(ds.root, `selval-${ds.name}-all`);
  const loadBefore = loadavg();
  const tr = await trainWithBudget(poolCache, config, path.join(WORK, `selval-${ds.name}-train`), EPOCHS > 0 ? Infinity : BUDGET_S, log);
  const emb = await embedWith(allCache, config, path.join(WORK, `selval-${ds.name}-emb`), tr.model);
  tr.model.dispose?.();
  log(`${ds.name}: SSL ${tr.result.epochsCompleted} epoch(s) in ${tr.wallSeconds.toFixed(0)} s (load ${loadBefore} → ${loadavg()}), loss ${tr.result.epochLosses.at(-1)?.toFixed(3)} [${since()}]`);
  const d = emb.d;
  const feats = l2normalize(emb.values, d);
  const row = new Map(emb.filenames.map((f, i) => [f, i]));
  const poolRows = ds.pool.map((f) => row.get(f)!);
  const testRows = ds.test.map((f) => row.get(f)!);
  const poolX = pickRows(feats, d, poolRows);
  const testX = pickRows(feats, d, testRows);
  // The probe sees features standardised with the (unlabelled) pool's mean and std per dimension.
  const mu = new Float64Array(d);
  const sd = new Float64Array(d);
  for (let r = 0; r < poolRows.length; r++) for (let k = 0; k < d; k++) mu[k] += poolX[r * d + k]! / poolRows.length;
  for (let r = 0; r < poolRows.length; r++) for (let k = 0; k < d; k++) sd[k] += (poolX[r * d + k]! - mu[k]!) ** 2 / poolRows.length;
  const z = (v: Float32Array) => v.map((x, i) => (x - mu[i % d]!) / Math.sqrt(sd[i % d]! + 1e-12));
  const poolZ = z(poolX);
  const testZ = z(testX);
  const poolY = ds.pool.map(ds.label);
  const testY = ds.test.map(ds.label);

  const lines: string[] = [];
  const res: Record<string, Record<string, { lin: number[]; knn: number[] }>> = {};
  for (const frac of FRACTIONS) {
    const n = Math.max(1, Math.round(frac * ds.pool.length));
    const key = `${(frac * 100).toString()} % (${n})`;
    res[key] = {};
    for (let seed = SEED_BASE; seed < SEED_BASE + SEEDS; seed++) {
      // Seed-shuffled presentation order of the pool.
      let s = (seed + 1) * 2654435761;
      const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const perm = Array.from({ length: ds.pool.length }, (_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      const items = { filenames: perm.map((i) => ds.pool[i]!), embeddings: pickRows(poolX, d, perm), dim: d };
      for (const [name, strategies] of Object.entries(RECIPES)) {
        const sel = runSelection(parseSelectionConfig({ n_samples: n, strategies: strategies(seed) }), items, { normalizeEmbeddings: true });
        const picks = sel.selected.map((k) => perm[k]!);
        const x = pickRows(poolX, d, picks);
        const y = picks.map((i) => poolY[i]!);
        const lin = linearProbe(pickRows(poolZ, d, picks), y, testZ, testY, d, ds.classes);
        const knn = knnAccuracy(x, y, testX, testY, d, Math.min(5, picks.length));
        (res[key][name] ??= { lin: [], knn: [] }).lin.push(lin);
        res[key][name].knn.push(knn);
      }
    }
    const r = res[key];
    for (const name of Object.keys(RECIPES)) {
      const t = name === "RANDOM" ? null : { lin: pairedT(r[name]!.lin, r.RANDOM!.lin), knn: pairedT(r[name]!.knn, r.RANDOM!.knn) };
      const cmp = (x: { diff: number; p: number } | undefined) => (x ? `${x.diff >= 0 ? "+" : ""}${(100 * x.diff).toFixed(1)} (p ${x.p < 0.001 ? "<0.001" : x.p.toFixed(3)})` : "—");
      lines.push(`| ${key} | ${name} | ${meanStd(r[name]!.lin)} | ${cmp(t?.lin)} | ${meanStd(r[name]!.knn)} | ${cmp(t?.knn)} |`);
    }
    log(`${ds.name} ${key} done [${since()}]`);
  }
  return [
    `#### ${ds.name}: pool ${ds.pool.length}, test ${ds.test.length}, ${ds.classes} classes; SSL ${tr.result.epochsCompleted} epoch(s) / ${tr.wallSeconds.toFixed(0)} s, final loss ${tr.result.epochLosses.at(-1)?.toFixed(3)}, embedding ${d}-d`,
    "",
    "| budget (picks) | recipe | linear probe % | vs RANDOM (p) | kNN % | vs RANDOM (p) |",
    "| --- | --- | --- | --- | --- | --- |",
    ...lines,
  ].join("\n");
}

// ---- the data sets --------------------------------------------------------------------------------------

const sections: string[] = [];
const loadStart = loadavg();
for (const set of SETS) {
  if (set === "fashion") {
    const f = prepareFashion(path.join(WORK, `fashion-${POOL}-${TEST}`), POOL, TEST);
    const names = Object.keys(f.labels);
    sections.push(await evaluateSet({
      name: "Fashion-MNIST", root: f.root, pool: names.filter((n) => n.startsWith("train/")), test: names.filter((n) => n.startsWith("test/")),
      label: (n) => f.labels[n]!, classes: 10,
    }));
  } else if (set === "emoji") {
    const list = require("emoji-datasource-apple/emoji.json") as { image: string; category: string }[];
    const cats = [...new Set(list.map((e) => e.category))].sort();
    const catOf = new Map(list.map((e) => [e.image, cats.indexOf(e.category)]));
    const pool = await prepareEmoji(path.join(WORK, `emoji-${EMOJI}`), EMOJI);
    const test = await prepareEmoji(path.join(WORK, `emoji-${EMOJI}-off1`), EMOJI, true, 1);
    // One folder holding both (pool/… and test/…) so one embedding run covers them.
    const root = path.join(WORK, `selval-emoji-${EMOJI}`);
    fs.rmSync(root, { recursive: true, force: true });
    const files = (src: string, tag: string, emoji: string[]) => VENDORS.flatMap((v) => emoji.map((e) => {
      const rel = `${tag}/${v}/${e}`;
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      linkOrCopy(path.join(src, v, e), path.join(root, rel));
      return rel;
    }));
    const testSet = new Set(pool.emoji);
    const testEmoji = test.emoji.filter((e) => !testSet.has(e));
    sections.push(await evaluateSet({
      name: "emoji", root, pool: files(pool.root, "pool", pool.emoji), test: files(test.root, "test", testEmoji),
      label: (n) => catOf.get(path.basename(n))!, classes: cats.length,
    }));
  }
}
const md = [
  `### Selection value: ${SETS.join(" + ")} (${today()})`,
  "",
  `- Command: \`npx tsx bench/selection-value.ts ${shellArgs()}\`; ${SEEDS} seeds; budgets ${FRACTIONS.map((f) => `${f * 100} %`).join(", ")} of the pool.`,
  `- Machine: ${machineLine()}; ${THREADS} threads; load average ${loadStart} at the start, ${loadavg()} at the end (shared machine).`,
  `- SSL recipe (from scratch, trained once per data set on the unlabelled pool): ${recipe.join(", ")}; ${EPOCHS > 0 ? `${EPOCHS} epochs` : `budget ${BUDGET_S} s`} (--recipe ${RECIPE}).`,
  "",
  ...sections.flatMap((s) => [s, ""]),
].join("\n");
console.log(md);
if (WRITE) appendSection(md);
