import "./quality-env.js";
// What a selection is worth: the accuracy of a model trained on the images it picks. For each data
// set, Winnow's SimCLR (from scratch, one training on the unlabelled pool per SSL seed, for --epochs or
// --budget-s seconds) embeds the pool and the test images; then, for budgets of 0.5/1/2/5/10 % of the pool and
// each seed, RANDOM, DIVERSITY, TYPICALITY and DIVERSITY×TYPICALITY (runSelection, the worker's
// normalised embeddings) pick the images to "label", and two cheap models are fitted on the picks'
// embeddings: a linear probe (softmax regression on standardised features, full-batch gradient
// descent, 500 steps of 0.5, L2 1e-3)
// and kNN (cosine, k = min(5, picks)). Test accuracy is mean ± std over the seeds, and each recipe
// is compared with RANDOM by a paired t-test over the seeds (two-sided p). A recipe whose picks do not
// depend on the seed (DIVERSITY×TYPICALITY starts at the most typical sample) is one selection per
// training, so that test only says how it compares with RANDOM's spread; whether the recipe beats
// RANDOM is the table over several trainings (--ssl-seeds), tested over the trainings.
// Seeds: RANDOM draws with the seed; the pool is presented in a seed-shuffled order, so DIVERSITY
// starts from a different sample and ties break differently (Lightly also starts at a random one).
// TYPICALITY alone is nearly the same set for every seed (its order is the data's).
//
// Data: Fashion-MNIST (Debian dataset-fashion-mnist; pool = the first --pool training images,
// test = the first --test test images, 10 classes) and the emoji set (emoji-datasource-*; pool =
// --emoji emoji × 4 vendors, test = a disjoint set of as many emoji (offset 1) × 4 vendors; the
// label is the emoji's Unicode category, 10 in emoji.json).
//
//   npx tsx bench/selection-value.ts [--sets fashion,emoji] [--pool 10000] [--test 10000] [--emoji 500]
//        [--recipe library|worker] [--epochs N | --budget-s 600] [--seeds 5] [--size 32] [--threads 2] [--work /tmp/winnow-bench] [--no-write]
//        [--ssl-seed 1] [--seed-base 0] [--emb-dir DIR] [--recipes RANDOM,DIVERSITY,...]
// --ssl-seed is the training's seed (init, augmentation draws); --seed-base shifts the selection seeds
// (seeds seed-base … seed-base + seeds − 1), so a replicate shares no random draw with an earlier run.
// --ssl-seeds trains once per SSL seed; with more than one, a table over the trainings comes first.
// --emb-dir keeps each set's embeddings (one file per set, recipe, epochs, SSL seed and size) and reuses
// them when present, so selection recipes can be compared on the same embeddings without training again.
// --recipes picks the selection recipes (RANDOM always runs: it is the reference); besides the four
// named ones, "D×T:t=S" weighs TYPICALITY with strength S and "D×T:k=K" uses K nearest neighbours.
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import * as torch from "../src/torch/index.js";
import { buildImageCache, cacheSizeFor, type ImageCache } from "../src/data/index.js";
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
const SSL_SEEDS = argStr("ssl-seeds", String(arg("ssl-seed", 1))).split(",").map(Number);
const SEED_BASE = arg("seed-base", 0);
const SIZE = arg("size", 32);
const THREADS = arg("threads", 2);
const WORK = argStr("work", "/tmp/winnow-bench");
const WRITE = !flag("no-write");
const EMB_DIR = argStr("emb-dir", "");
const RECIPE_NAMES = argStr("recipes", "RANDOM,DIVERSITY,TYPICALITY,DIVERSITY×TYPICALITY").split(",");
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
const configFor = (sslSeed: number) => benchConfig({
  loader: { batch_size: 128, num_workers: -1 },
  trainer: { gpus: 0, max_epochs: EPOCHS > 0 ? EPOCHS : 1000, enable_model_summary: false },
  checkpoint_callback: { save_top_k: 0 },
  seed: sslSeed,
  ...RECIPE_KEYS[RECIPE],
});
const { recipe } = configFor(SSL_SEEDS[0]!);

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

const NAMED: Record<string, (seed: number) => unknown[]> = {
  RANDOM: (seed) => [{ input: { type: "RANDOM", random_seed: seed }, strategy: { type: "WEIGHTS" } }],
  DIVERSITY: () => [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }],
  TYPICALITY: () => [{ input: { type: "EMBEDDINGS" }, strategy: { type: "TYPICALITY" } }],
  "DIVERSITY×TYPICALITY": () => [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }, { input: { type: "EMBEDDINGS" }, strategy: { type: "TYPICALITY" } }],
};
/** A recipe by name: one of NAMED, or a D×T variant ("D×T:t=2" typicality strength, "D×T:k=5" neighbours). */
function recipeOf(name: string): (seed: number) => unknown[] {
  if (NAMED[name]) return NAMED[name];
  const m = /^D×T:(t|k)=([0-9.]+)$/.exec(name);
  if (!m) throw new Error(`--recipes: unknown recipe "${name}" (expected ${Object.keys(NAMED).join(", ")}, D×T:t=S or D×T:k=K)`);
  const typ = m[1] === "t" ? { type: "TYPICALITY", strength: Number(m[2]) } : { type: "TYPICALITY", num_nearest_neighbors: Number(m[2]) };
  return () => [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }, { input: { type: "EMBEDDINGS" }, strategy: typ }];
}
const RECIPES: Record<string, (seed: number) => unknown[]> = Object.fromEntries(
  ["RANDOM", ...RECIPE_NAMES.filter((n) => n !== "RANDOM")].map((n) => [n, recipeOf(n)]),
);

/** Embeddings of pool + test: read from --emb-dir when saved there, else trained and embedded (and saved). */
async function embeddingsOf(ds: DataSet, sslSeed: number, train: () => Promise<{ values: Float32Array; d: number; filenames: string[]; line: string }>) {
  const file = EMB_DIR ? path.join(EMB_DIR, `${ds.name}-${RECIPE}-${EPOCHS > 0 ? `e${EPOCHS}` : `b${BUDGET_S}`}-ssl${sslSeed}-${SIZE}`) : "";
  if (file && fs.existsSync(`${file}.json`)) {
    const meta = JSON.parse(fs.readFileSync(`${file}.json`, "utf8")) as { d: number; filenames: string[]; line: string };
    const buf = fs.readFileSync(`${file}.f32`);
    return { ...meta, values: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), line: `${meta.line} (embeddings reused from ${file})` };
  }
  const e = await train();
  if (file) {
    fs.mkdirSync(EMB_DIR, { recursive: true });
    fs.writeFileSync(`${file}.f32`, Buffer.from(e.values.buffer, e.values.byteOffset, e.values.byteLength));
    fs.writeFileSync(`${file}.json`, JSON.stringify({ d: e.d, filenames: e.filenames, line: e.line }));
  }
  return e;
}

type Scores = Record<string, Record<string, { lin: number[]; knn: number[] }>>;
const cmp = (x: { diff: number; p: number } | null | undefined) => (x ? `${x.diff >= 0 ? "+" : ""}${(100 * x.diff).toFixed(1)} (p ${x.p < 0.001 ? "<0.001" : x.p.toFixed(3)})` : "—");

/** One training's embeddings (trained on the pool, or read from --emb-dir), L2-normalised, split into pool and test. */
async function embedPoolAndTest(ds: DataSet, sslSeed: number, caches: () => Promise<{ pool: ImageCache; all: ImageCache }>) {
  const emb = await embeddingsOf(ds, sslSeed, async () => {
    const c = await caches();
    const config = configFor(sslSeed).config;
    const loadBefore = loadavg();
    const tr = await trainWithBudget(c.pool, config, path.join(WORK, `selval-${ds.name}-train`), EPOCHS > 0 ? Infinity : BUDGET_S, log);
    const e = await embedWith(c.all, config, path.join(WORK, `selval-${ds.name}-emb`), tr.model);
    tr.model.dispose?.();
    log(`${ds.name} (SSL seed ${sslSeed}): SSL ${tr.result.epochsCompleted} epoch(s) in ${tr.wallSeconds.toFixed(0)} s (load ${loadBefore} → ${loadavg()}), loss ${tr.result.epochLosses.at(-1)?.toFixed(3)} [${since()}]`);
    return { ...e, line: `SSL ${tr.result.epochsCompleted} epoch(s) / ${tr.wallSeconds.toFixed(0)} s, final loss ${tr.result.epochLosses.at(-1)?.toFixed(3)}` };
  });
  const d = emb.d;
  const feats = l2normalize(emb.values, d);
  const row = new Map(emb.filenames.map((f, i) => [f, i]));
  return { d, line: emb.line, poolX: pickRows(feats, d, ds.pool.map((f) => row.get(f)!)), testX: pickRows(feats, d, ds.test.map((f) => row.get(f)!)) };
}

/** Every recipe at every budget and selection seed on one training's embeddings. */
function scoreSelections(ds: DataSet, d: number, poolX: Float32Array, testX: Float32Array): Scores {
  // The probe sees features standardised with the (unlabelled) pool's mean and std per dimension.
  const rows = ds.pool.length;
  const mu = new Float64Array(d);
  const sd = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let k = 0; k < d; k++) mu[k] += poolX[r * d + k]! / rows;
  for (let r = 0; r < rows; r++) for (let k = 0; k < d; k++) sd[k] += (poolX[r * d + k]! - mu[k]!) ** 2 / rows;
  const z = (v: Float32Array) => v.map((x, i) => (x - mu[i % d]!) / Math.sqrt(sd[i % d]! + 1e-12));
  const poolZ = z(poolX);
  const testZ = z(testX);
  const poolY = ds.pool.map(ds.label);
  const testY = ds.test.map(ds.label);
  const res: Scores = {};
  for (const frac of FRACTIONS) {
    const n = Math.max(1, Math.round(frac * rows));
    const key = `${(frac * 100).toString()} % (${n})`;
    res[key] = {};
    for (let seed = SEED_BASE; seed < SEED_BASE + SEEDS; seed++) {
      // Seed-shuffled presentation order of the pool.
      let s = (seed + 1) * 2654435761;
      const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const perm = Array.from({ length: rows }, (_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      const items = { filenames: perm.map((i) => ds.pool[i]!), embeddings: pickRows(poolX, d, perm), dim: d };
      for (const [name, strategies] of Object.entries(RECIPES)) {
        const sel = runSelection(parseSelectionConfig({ n_samples: n, strategies: strategies(seed) }), items, { normalizeEmbeddings: true });
        const picks = sel.selected.map((k) => perm[k]!);
        const y = picks.map((i) => poolY[i]!);
        const lin = linearProbe(pickRows(poolZ, d, picks), y, testZ, testY, d, ds.classes);
        const knn = knnAccuracy(pickRows(poolX, d, picks), y, testX, testY, d, Math.min(5, picks.length));
        (res[key][name] ??= { lin: [], knn: [] }).lin.push(lin);
        res[key][name].knn.push(knn);
      }
    }
    log(`${ds.name} ${key} done [${since()}]`);
  }
  return res;
}

const TABLE_HEAD = ["| budget (picks) | recipe | linear probe % | vs RANDOM (p) | kNN % | vs RANDOM (p) |", "| --- | --- | --- | --- | --- | --- |"];

/** One training's table: mean ± std over the selection seeds, paired t-test against RANDOM over them. */
function trainingTable(res: Scores): string[] {
  return Object.entries(res).flatMap(([key, r]) => Object.keys(RECIPES).map((name) => {
    const t = name === "RANDOM" ? null : { lin: pairedT(r[name]!.lin, r.RANDOM!.lin), knn: pairedT(r[name]!.knn, r.RANDOM!.knn) };
    return `| ${key} | ${name} | ${meanStd(r[name]!.lin)} | ${cmp(t?.lin)} | ${meanStd(r[name]!.knn)} | ${cmp(t?.knn)} |`;
  }));
}

/**
 * The table over trainings: each training contributes its mean over the selection seeds, so a recipe
 * whose picks do not depend on the seed (D×T) is compared by as many independent selections as there
 * are trainings; paired t-test against RANDOM over the trainings, and how many trainings it won.
 */
function acrossTable(all: Scores[]): string[] {
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  return Object.keys(all[0]!).flatMap((key) => Object.keys(RECIPES).map((name) => {
    const per = (m: "lin" | "knn", n: string) => all.map((r) => mean(r[key]![n]![m]));
    const cell = (m: "lin" | "knn") => {
      if (name === "RANDOM") return `${meanStd(per(m, name))} | —`;
      const a = per(m, name);
      const b = per(m, "RANDOM");
      const won = a.filter((x, i) => x > b[i]!).length;
      return `${meanStd(a)} | ${cmp(pairedT(a, b))}, won ${won}/${a.length}`;
    };
    return `| ${key} | ${name} | ${cell("lin")} | ${cell("knn")} |`;
  }));
}

async function evaluateSet(ds: DataSet): Promise<string> {
  // SSL on the pool only (no labels), then pool + test embedded with that model; caches built once, when a training needs them.
  const poolDir = path.join(WORK, `selval-${ds.name}-pool`);
  fs.rmSync(poolDir, { recursive: true, force: true });
  for (const f of ds.pool) {
    fs.mkdirSync(path.dirname(path.join(poolDir, f)), { recursive: true });
    linkOrCopy(path.join(ds.root, f), path.join(poolDir, f));
  }
  const cacheOf = async (root: string, name: string) => {
    const dir = path.join(WORK, "cache", name);
    fs.rmSync(dir, { recursive: true, force: true });
    return buildImageCache(root, { cacheDir: dir, resolution: cacheSizeFor(SIZE), removeExactDuplicates: false });
  };
  let caches: Promise<{ pool: ImageCache; all: ImageCache }> | null = null;
  const getCaches = () => (caches ??= (async () => ({ pool: await cacheOf(poolDir, `selval-${ds.name}-pool`), all: await cacheOf(ds.root, `selval-${ds.name}-all`) }))());
  const out: string[] = [];
  const all: Scores[] = [];
  for (const sslSeed of SSL_SEEDS) {
    const e = await embedPoolAndTest(ds, sslSeed, getCaches);
    const res = scoreSelections(ds, e.d, e.poolX, e.testX);
    all.push(res);
    out.push(`#### ${ds.name}, SSL seed ${sslSeed}: pool ${ds.pool.length}, test ${ds.test.length}, ${ds.classes} classes; ${e.line}, embedding ${e.d}-d`, "", ...TABLE_HEAD, ...trainingTable(res), "");
  }
  if (all.length > 1) {
    out.unshift(
      `#### ${ds.name}, over ${all.length} trainings (SSL seeds ${SSL_SEEDS.join(", ")}): mean ± std of the trainings' means over ${SEEDS} selection seeds; paired t-test against RANDOM over the trainings`,
      "", ...TABLE_HEAD, ...acrossTable(all), "",
    );
  }
  return out.join("\n");
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
  `- Command: \`npx tsx bench/selection-value.ts ${shellArgs()}\`; ${SEEDS} selection seeds (${SEED_BASE}–${SEED_BASE + SEEDS - 1}); SSL seeds ${SSL_SEEDS.join(", ")}; budgets ${FRACTIONS.map((f) => `${f * 100} %`).join(", ")} of the pool.`,
  `- Machine: ${machineLine()}; ${THREADS} threads; load average ${loadStart} at the start, ${loadavg()} at the end (shared machine).`,
  `- SSL recipe (from scratch, trained once per data set on the unlabelled pool): ${recipe.join(", ")}; ${EPOCHS > 0 ? `${EPOCHS} epochs` : `budget ${BUDGET_S} s`} (--recipe ${RECIPE}).`,
  "",
  ...sections.flatMap((s) => [s, ""]),
].join("\n");
console.log(md);
if (WRITE) appendSection(md);
