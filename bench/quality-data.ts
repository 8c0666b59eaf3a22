// Shared set-up and evaluation helpers of the quality / speed / memory benchmarks
// (bench/quality-emoji.ts, bench/quality-fashion.ts, bench/speed-train.ts, bench/memory-embed.ts).
//
// Data sets (prepared once under a work folder, reused when the marker file matches):
//   emoji:   N emoji × 4 vendors (emoji-datasource-{apple,google,twitter,facebook}, 64 px PNG),
//            <root>/<vendor>/<unified>.png, alpha composited onto white with sharp (see flattenOnWhite).
//   fashion: the first nTrain training and nTest test images of Fashion-MNIST (Debian's
//            dataset-fashion-mnist idx files), 28×28 grey written as RGB PNG, labels in labels.json.
//   synthetic: N small RGB PNGs with distinct bytes, for the memory bench.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import sharp from "sharp";
import * as torch from "../src/torch/index.js";
import { parseLightlyConfig, lightlyConfigDefaults, type LightlyConfig } from "../src/config/lightly-config.js";
import { stepPlan } from "../src/ssl/seeds.js";
import { recordRun } from "./bench-doc.js";

const require = createRequire(import.meta.url);

export const VENDORS = ["apple", "google", "twitter", "facebook"] as const;
export type Vendor = (typeof VENDORS)[number];

// ---- PNG writer (no dependencies beyond zlib; used for the many small files) -----------------------

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = crcTable[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
/** An 8-bit RGB PNG of `rgb` (row-major, 3 bytes per pixel). */
export function encodePngRgb(rgb: Uint8Array, width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + width * 3)] = 0; // filter: none
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw, { level: 6 })), chunk("IEND", new Uint8Array(0)),
  ]);
}

function markerOk(root: string, settings: unknown): boolean {
  const m = path.join(root, ".bench-ready.json");
  try {
    return fs.readFileSync(m, "utf8") === JSON.stringify(settings);
  } catch {
    return false;
  }
}
function writeMarker(root: string, settings: unknown): void {
  fs.writeFileSync(path.join(root, ".bench-ready.json"), JSON.stringify(settings));
}

// ---- emoji ------------------------------------------------------------------------------------------

export interface EmojiSet {
  root: string;
  /** Emoji file names (e.g. "1f600.png"), the same for every vendor. */
  emoji: string[];
  /** Seconds the preparation took (0 when reused). */
  prepareSeconds: number;
}

interface EmojiEntry {
  image: string;
  sort_order: number;
  category: string;
  has_img_apple: boolean;
  has_img_google: boolean;
  has_img_twitter: boolean;
  has_img_facebook: boolean;
}

// The emoji packages (~370 MB) are not dependencies: `npm run bench:quality:setup` installs them.
const vendorDir = (v: Vendor): string => {
  try {
    return path.join(path.dirname(require.resolve(`emoji-datasource-${v}/package.json`)), "img", v, "64");
  } catch {
    throw new Error(`emoji-datasource-${v} is not installed: run \`npm run bench:quality:setup\` first`);
  }
};

/**
 * `count` emoji that all four vendors draw (base code points only: no skin-tone variants), evenly spaced
 * in Unicode order. `offset` shifts every pick
 * by that many places (0–2 keep the picks of 500 disjoint from offset 0's: consecutive picks are 3–4
 * apart), which gives a held-out set for checking a recipe chosen on the offset-0 set.
 */
export function pickEmoji(count: number, offset = 0): string[] {
  const list = require("emoji-datasource-apple/emoji.json") as EmojiEntry[];
  const all = list
    .filter((e) => VENDORS.every((v) => e[`has_img_${v}` as const]) && VENDORS.every((v) => fs.existsSync(path.join(vendorDir(v), e.image))))
    .sort((a, b) => a.sort_order - b.sort_order);
  if (count >= all.length) return all.map((e) => e.image);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(all[Math.min(all.length - 1, Math.floor((i * all.length) / count) + offset)]!.image);
  return out;
}

/**
 * Writes <root>/<vendor>/<emoji>.png for `count` emoji. `flatten`: composite the alpha channel onto
 * white (sharp's flatten). Without it the files are copied as they are (RGBA); the data layer then
 * drops alpha as PIL's convert("RGB") does, which shows whatever RGB the vendor left under
 * transparent pixels (black for most, colour halos for some).
 */
export async function prepareEmoji(root: string, count: number, flatten = true, offset = 0): Promise<EmojiSet> {
  const emoji = pickEmoji(count, offset);
  const settings = { kind: "emoji", count, flatten, n: emoji.length, version: 1, ...(offset ? { offset } : {}) };
  if (markerOk(root, settings)) return { root, emoji, prepareSeconds: 0 };
  const t0 = performance.now();
  fs.rmSync(root, { recursive: true, force: true });
  for (const v of VENDORS) {
    fs.mkdirSync(path.join(root, v), { recursive: true });
    const src = vendorDir(v);
    await Promise.all(
      emoji.map(async (e) => {
        const from = path.join(src, e);
        const to = path.join(root, v, e);
        if (flatten) await sharp(from).flatten({ background: { r: 255, g: 255, b: 255 } }).png().toFile(to);
        else fs.copyFileSync(from, to);
      }),
    );
  }
  writeMarker(root, settings);
  return { root, emoji, prepareSeconds: (performance.now() - t0) / 1000 };
}

/**
 * Copies every image under `src` (one folder level: <vendor>/<name>.png) to `root` as side×side JPEG
 * (Lanczos upscaling, quality 90): the same content in files that decode like small photos. Returns `root`.
 */
export async function prepareJpegCopies(src: string, root: string, side: number): Promise<string> {
  const dirs = fs.readdirSync(src, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const files = dirs.flatMap((d) => fs.readdirSync(path.join(src, d)).filter((f) => f.endsWith(".png")).sort().map((f) => `${d}/${f}`));
  const settings = { kind: "jpeg-copies", src, side, quality: 90, n: files.length, version: 1 };
  if (markerOk(root, settings)) return root;
  fs.rmSync(root, { recursive: true, force: true });
  for (const d of dirs) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (let i = 0; i < files.length; i += 64) {
    await Promise.all(files.slice(i, i + 64).map((f) =>
      sharp(path.join(src, f)).resize(side, side, { kernel: "lanczos3" }).jpeg({ quality: 90 }).toFile(path.join(root, f.replace(/\.png$/, ".jpg")))));
  }
  writeMarker(root, settings);
  return root;
}

// ---- Fashion-MNIST ------------------------------------------------------------------------------------

export const FASHION_DIR = "/usr/share/datasets/fashion-mnist";
export const FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  const magic = buf.readUInt32BE(0);
  if (magic >> 8 !== 0x08) throw new Error(`${file}: not an unsigned-byte idx file`);
  const nd = magic & 0xff;
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * nd, dims.reduce((a, b) => a * b, 1)) };
}

export interface FashionSet {
  root: string;
  /** Relative file names (train/xxxxx.png, test/xxxxx.png) → label. */
  labels: Record<string, number>;
  prepareSeconds: number;
}

/** Writes the first nTrain / nTest images as RGB PNGs into <root>/train and <root>/test. */
export function prepareFashion(root: string, nTrain: number, nTest: number): FashionSet {
  const settings = { kind: "fashion", nTrain, nTest, version: 1 };
  if (!fs.existsSync(FASHION_DIR)) throw new Error(`${FASHION_DIR} missing: apt-get install -y dataset-fashion-mnist`);
  const labelsFile = path.join(root, "labels.json");
  if (markerOk(root, settings)) return { root, labels: JSON.parse(fs.readFileSync(labelsFile, "utf8")) as Record<string, number>, prepareSeconds: 0 };
  const t0 = performance.now();
  fs.rmSync(root, { recursive: true, force: true });
  const labels: Record<string, number> = {};
  for (const [split, prefix, n] of [["train", "train", nTrain], ["test", "t10k", nTest]] as const) {
    const imgs = readIdx(path.join(FASHION_DIR, `${prefix}-images-idx3-ubyte.gz`));
    const labs = readIdx(path.join(FASHION_DIR, `${prefix}-labels-idx1-ubyte.gz`));
    const [count, h, w] = imgs.dims as [number, number, number];
    if (n > count) throw new Error(`${split}: ${n} requested, ${count} available`);
    fs.mkdirSync(path.join(root, split), { recursive: true });
    const rgb = new Uint8Array(h * w * 3);
    for (let i = 0; i < n; i++) {
      const g = imgs.data.subarray(i * h * w, (i + 1) * h * w);
      for (let p = 0; p < h * w; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = g[p]!;
      const name = `${split}/${String(i).padStart(5, "0")}.png`;
      fs.writeFileSync(path.join(root, name), encodePngRgb(rgb, w, h));
      labels[name] = labs.data[i]!;
    }
  }
  fs.writeFileSync(labelsFile, JSON.stringify(labels));
  writeMarker(root, settings);
  return { root, labels, prepareSeconds: (performance.now() - t0) / 1000 };
}

// ---- synthetic small PNGs -------------------------------------------------------------------------------

/**
 * N distinct RGB PNGs of side `size` (smooth random colour fields plus the index in the first pixels,
 * so no two files share bytes), 1,000 per sub-folder. Returns seconds spent (0 when reused).
 */
export function prepareSynthetic(root: string, n: number, size: number): number {
  const settings = { kind: "synthetic", n, size, version: 1 };
  if (markerOk(root, settings)) return 0;
  const t0 = performance.now();
  fs.rmSync(root, { recursive: true, force: true });
  let s = 12345;
  const rnd = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, String(Math.floor(i / 1000)).padStart(4, "0"));
    if (i % 1000 === 0) fs.mkdirSync(dir, { recursive: true });
    const c = [rnd(), rnd(), rnd(), rnd(), rnd(), rnd()];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = 3 * (y * size + x);
        rgb[p] = (255 * (c[0]! * x + c[1]! * y)) / (2 * size);
        rgb[p + 1] = 128 + 100 * Math.sin((x * c[2]! + y * c[3]!) / 3);
        rgb[p + 2] = (255 * c[4]! + 40 * rnd()) & 255;
      }
    }
    rgb[0] = i & 255;
    rgb[1] = (i >> 8) & 255;
    rgb[2] = (i >> 16) & 255;
    fs.writeFileSync(path.join(dir, `${String(i).padStart(7, "0")}.png`), encodePngRgb(rgb, size, size));
  }
  writeMarker(root, settings);
  return (performance.now() - t0) / 1000;
}

// ---- features and evaluation --------------------------------------------------------------------------

/** Raw pixels: each file resized to side×side RGB (sharp, squash), as float vectors [N, side*side*3], L2-normalised. */
export async function rawPixelFeatures(root: string, files: string[], side: number): Promise<Float32Array> {
  const d = side * side * 3;
  const out = new Float32Array(files.length * d);
  const batch = 64;
  for (let i = 0; i < files.length; i += batch) {
    await Promise.all(
      files.slice(i, i + batch).map(async (f, k) => {
        const px = await sharp(path.join(root, f)).removeAlpha().toColourspace("srgb").resize(side, side, { fit: "fill" }).raw().toBuffer();
        if (px.length !== d) throw new Error(`${f}: ${px.length} bytes, expected ${d}`);
        for (let j = 0; j < d; j++) out[(i + k) * d + j] = px[j]! / 255;
      }),
    );
  }
  return l2normalize(out, d);
}

export function l2normalize(v: Float32Array, d: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let r = 0; r * d < v.length; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[r * d + j]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < d; j++) out[r * d + j] = v[r * d + j]! * inv;
  }
  return out;
}

/** Rows of `v` [N, d] in a new order `rows`. */
export function pickRows(v: Float32Array, d: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(v.subarray(r * d, (r + 1) * d), i * d));
  return out;
}

/**
 * Cosine top-k neighbours of each query row among the key rows (both [*, d]; normalised here),
 * with `exclude(q, k)` masking candidates. Returns [nq, k] key indices, best first.
 */
export function cosineTopK(
  queries: Float32Array, keys: Float32Array, d: number, k: number, exclude?: (q: number, key: number) => boolean,
): Int32Array {
  const nq = queries.length / d;
  const nk = keys.length / d;
  return torch.noGrad(() =>
    torch.scope(() => {
      const q = torch.F.normalize(torch.tensor(queries, { shape: [nq, d] }), 2, 1);
      const kk = torch.F.normalize(torch.tensor(keys, { shape: [nk, d] }), 2, 1);
      let sim = q.mm(kk.t());
      if (exclude) {
        const mask = new Uint8Array(nq * nk);
        for (let a = 0; a < nq; a++) for (let b = 0; b < nk; b++) if (exclude(a, b)) mask[a * nk + b] = 1;
        sim = sim.maskedFill(torch.tensor(mask, { shape: [nq, nk] }).ne(0), -Infinity);
      }
      const [, idx] = sim.topk(k, 1);
      return Int32Array.from(idx.data() as BigInt64Array, (x) => Number(x));
    }),
  );
}

/** Cross-vendor retrieval: for each image, its nearest neighbours among the other vendors' images. */
export function crossVendorRetrieval(
  feats: Float32Array, d: number, emojiOf: number[], vendorOf: number[],
): { top1: number; top5: number; hit1: boolean[] } {
  const n = emojiOf.length;
  const nn = cosineTopK(feats, feats, d, 5, (a, b) => vendorOf[a] === vendorOf[b]);
  let t1 = 0;
  let t5 = 0;
  const hit1: boolean[] = [];
  for (let i = 0; i < n; i++) {
    hit1.push(emojiOf[nn[i * 5]!] === emojiOf[i]);
    if (hit1[i]) t1++;
    for (let j = 0; j < 5; j++) {
      if (emojiOf[nn[i * 5 + j]!] === emojiOf[i]) {
        t5++;
        break;
      }
    }
  }
  return { top1: t1 / n, top5: t5 / n, hit1 };
}

/**
 * Paired comparison of two methods on the same queries (exact McNemar test): b = queries only A gets
 * right, c = queries only B gets right; p = two-sided binomial probability of a split at least this
 * uneven if either method were equally likely to win a discordant query. (Queries of the same emoji
 * are not independent, so p is optimistic; it still says more than two overlapping error bars.)
 */
export function pairedComparison(a: boolean[], b: boolean[]): { onlyA: number; onlyB: number; p: number } {
  if (a.length !== b.length) throw new Error(`pairedComparison: ${a.length} vs ${b.length} queries`);
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) onlyA++;
    else if (b[i] && !a[i]) onlyB++;
  }
  const n = onlyA + onlyB;
  const k = Math.min(onlyA, onlyB);
  // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (n can be in the thousands).
  const logHalfN = n * Math.log(0.5);
  let logC = 0; // log C(n, 0)
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log(n - i + 1) - Math.log(i);
    tail += Math.exp(logC + logHalfN);
  }
  return { onlyA, onlyB, p: n === 0 ? 1 : Math.min(1, 2 * tail) };
}

/** One line for the reports: the paired counts and the p-value. */
export function pairedLine(a: boolean[], b: boolean[], aName: string, bName: string): string {
  const { onlyA, onlyB, p } = pairedComparison(a, b);
  return `only ${aName} right ${onlyA}, only ${bName} right ${onlyB}; exact McNemar two-sided p = ${p < 1e-4 ? p.toExponential(1) : p.toFixed(4)}`;
}

/** kNN classification (cosine, majority vote of k, ties to the nearer neighbour's class). */
export function knnAccuracy(train: Float32Array, trainLabels: number[], test: Float32Array, testLabels: number[], d: number, k: number): number {
  const hits = knnHits(train, trainLabels, test, testLabels, d, k);
  return hits.filter(Boolean).length / hits.length;
}

/** knnAccuracy per test image: is its kNN vote its own class? */
export function knnHits(train: Float32Array, trainLabels: number[], test: Float32Array, testLabels: number[], d: number, k: number): boolean[] {
  const nn = cosineTopK(test, train, d, k);
  const hits: boolean[] = [];
  for (let i = 0; i < testLabels.length; i++) {
    const votes = new Map<number, number>();
    let best = -1;
    let bestVotes = 0;
    for (let j = 0; j < k; j++) {
      const c = trainLabels[nn[i * k + j]!]!;
      const v = (votes.get(c) ?? 0) + 1;
      votes.set(c, v);
      if (v > bestVotes) {
        best = c;
        bestVotes = v;
      }
    }
    hits.push(best === testLabels[i]);
  }
  return hits;
}

// ---- reporting ------------------------------------------------------------------------------------------

export const loadavg = (): string => os.loadavg().map((x) => x.toFixed(2)).join("/");

export function machineLine(): string {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, " ").trim() ?? "?";
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, libtorch ${torch.buildInfo().torchVersion}`;
}

export function pythonTorchVersion(): string {
  try {
    return execFileSync("/usr/bin/python3", ["-c", "import torch, torchvision; print(torch.__version__, torchvision.__version__)"], { encoding: "utf8" }).trim();
  } catch {
    return "unavailable";
  }
}

export const today = (): string => new Date().toISOString().slice(0, 10);

/** Records a run's section in docs/benchmarks-history.md (newest first; see bench/bench-doc.ts). */
export function appendSection(markdown: string): void {
  console.log(`recorded in ${recordRun(markdown)}`);
}

export function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
export function argStr(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
export const flag = (name: string): boolean => process.argv.includes(`--${name}`);

/** This process's arguments as a shell would need them typed (JSON and the like single-quoted), for the reports. */
export const shellArgs = (): string =>
  process.argv.slice(2).map((a) => (/^[\w\-.,/=:@]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");

/** Deep merge of plain objects (arrays and scalars replace): bench settings with --config overrides. */
export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object" && !Array.isArray(prev)
      ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** --config JSON: lightly_config keys merged over a bench's own settings, e.g. '{"model":{"num_ftrs":128}}'. */
const configOverrides = (): Record<string, unknown> => JSON.parse(argStr("config", "{}")) as Record<string, unknown>;

/** --pixels 8,12,16: the raw-pixel baseline sides. */
export const pixelSides = (def: number[]): number[] => argStr("pixels", def.join(",")).split(",").map(Number);

/** The lightly_config keys of `config` that differ from Lightly's defaults (for the reports). */
function nonDefaultKeys(config: Record<string, unknown>, defaults: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    const d = defaults[k];
    if (v && typeof v === "object" && !Array.isArray(v) && d && typeof d === "object") {
      out.push(...nonDefaultKeys(v as Record<string, unknown>, d as Record<string, unknown>, `${prefix}${k}.`));
    } else if (JSON.stringify(v) !== JSON.stringify(d)) {
      out.push(`${prefix}${k}: ${JSON.stringify(v)}`);
    }
  }
  return out;
}

/**
 * A bench's lightly_config: its own settings with --config merged over them, and the recipe as the
 * keys that differ from Lightly's defaults (bench plumbing such as seed and max_epochs left out).
 */
export function benchConfig(base: Record<string, unknown>): { config: LightlyConfig; recipe: string[] } {
  const config = parseLightlyConfig(deepMerge(base, configOverrides()));
  const recipe = nonDefaultKeys(config as unknown as Record<string, unknown>, lightlyConfigDefaults() as unknown as Record<string, unknown>)
    .filter((k) => !/^(loader\.num_workers|trainer\.(gpus|max_epochs|enable_model_summary)|checkpoint_callback\.save_top_k|seed):/.test(k));
  return { config, recipe };
}

/** Median (mean of the middle two for an even count). */
export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---- training and embedding with the product's APIs -----------------------------------------------------

export interface BudgetTrainResult {
  model: import("../src/models/index.js").SimCLR;
  result: import("../src/ssl/trainer.js").TrainResult;
  wallSeconds: number;
  stoppedByBudget: boolean;
  /** Copies of the end-of-epoch checkpoint at the requested epochs (1-based), with the wall time then. */
  snapshots: Array<{ epochs: number; checkpoint: string; wallSeconds: number }>;
}

/** `--eval-epochs 100,300`: epochs after which the benches also evaluate the model (one training run). */
export function evalEpochs(): number[] {
  const items = argStr("eval-epochs", "").split(",").filter(Boolean);
  const bad = items.find((e) => !/^[1-9]\d*$/.test(e));
  if (bad !== undefined) throw new Error(`--eval-epochs: expected positive integers separated by commas, got "${bad}"`);
  return items.map(Number);
}

/**
 * train() until max_epochs or until `budgetSeconds` of wall time (checked after every step).
 * `snapshotEpochs`: keep a copy of the checkpoint written after each of these epochs (1-based).
 */
export async function trainWithBudget(
  cache: import("../src/data/index.js").ImageCache, config: import("../src/config/lightly-config.js").LightlyConfig,
  outDir: string, budgetSeconds: number, log: (m: string) => void = () => {}, snapshotEpochs: number[] = [],
): Promise<BudgetTrainResult> {
  const { train } = await import("../src/ssl/trainer.js");
  fs.rmSync(outDir, { recursive: true, force: true });
  const t0 = performance.now();
  let stoppedByBudget = false;
  const snapshots: BudgetTrainResult["snapshots"] = [];
  const result = await train({
    cache, config, outDir, device: "cpu", keepModel: true,
    onEpochEnd: (e) => {
      const wall = (performance.now() - t0) / 1000;
      log(`  epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)}, ${e.imagesPerSecond.toFixed(0)} img/s, ${wall.toFixed(0)} s`);
      if (snapshotEpochs.includes(e.epoch + 1) && e.epoch + 1 < e.epochs) {
        const copy = path.join(outDir, `snapshot-epoch-${e.epoch + 1}.ckpt`);
        fs.copyFileSync(e.checkpoint, copy);
        snapshots.push({ epochs: e.epoch + 1, checkpoint: copy, wallSeconds: wall });
      }
    },
    shouldStop: () => {
      if (performance.now() - t0 >= budgetSeconds * 1000) stoppedByBudget = true;
      return stoppedByBudget;
    },
  });
  return { model: result.model!, result, wallSeconds: (performance.now() - t0) / 1000, stoppedByBudget, snapshots };
}

export interface EmbedOut {
  values: Float32Array;
  d: number;
  filenames: string[];
  seconds: number;
  weights: string;
}

/** embedImages() into `outDir` and read the binary back: with `model`, a checkpoint file, or random init. */
export async function embedWith(
  cache: import("../src/data/index.js").ImageCache, config: import("../src/config/lightly-config.js").LightlyConfig,
  outDir: string, model?: import("../src/models/index.js").SimCLR | string,
): Promise<EmbedOut> {
  const { embedImages, readEmbeddings } = await import("../src/pipeline/embed.js");
  fs.rmSync(outDir, { recursive: true, force: true });
  const weights = typeof model === "string" ? { checkpoint: model } : { model };
  const r = embedImages({ cache, config, outDir, ...weights, device: "cpu", csv: false });
  const { meta, values } = readEmbeddings(r.metaPath!);
  return { values, d: meta.d, filenames: meta.filenames, seconds: r.durationMs / 1000, weights: r.weights };
}

export interface TorchRefResult {
  values: Float32Array;
  d: number;
  trainSeconds: number;
  embedSeconds: number;
  steps: number;
  lossFirst: number;
  lossLast: number;
}

/**
 * bench/quality_ref.py: the same SimCLR recipe in plain PyTorch (lightly's collate in torchvision,
 * DataLoader with `numWorkers`) for `steps` steps, then embeddings of `embedFiles` (relative to root).
 */
export function torchRefEmbeddings(o: {
  root: string; trainFiles: string[]; embedFiles: string[]; steps: number; threads: number; numWorkers: number; out: string;
  config: import("../src/config/lightly-config.js").LightlyConfig;
}): TorchRefResult {
  const c = o.config;
  const input = JSON.stringify({
    root: o.root, train_files: o.trainFiles, embed_files: o.embedFiles, steps: o.steps, threads: o.threads, num_workers: o.numWorkers, out: o.out,
    batch: Math.min(c.loader.batch_size, o.trainFiles.length), input_size: c.collate.input_size, collate: c.collate, model: c.model.name,
    width: c.model.width, num_ftrs: c.model.num_ftrs, out_dim: c.model.out_dim, lr: c.optimizer.lr, wd: c.optimizer.weight_decay,
    momentum: c.optimizer.momentum, temperature: c.criterion.temperature, seed: c.seed,
    projection_head_batch_norm: c.model.projection_head_batch_norm, input_batch_norm: c.model.input_batch_norm, feature_conv: c.model.feature_conv,
    lr_schedule: c.optimizer.lr_schedule,
    schedule_steps: stepPlan(o.trainFiles.length, Math.min(c.loader.batch_size, o.trainFiles.length), c.loader.drop_last, c.trainer.max_epochs).totalSteps,
  });
  const here = path.dirname(new URL(import.meta.url).pathname);
  const stdout = execFileSync("/usr/bin/python3", [path.join(here, "quality_ref.py")], {
    input, encoding: "utf8", maxBuffer: 1 << 26, env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONWARNINGS: "ignore" },
  });
  const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { d: number; train_s: number; embed_s: number; steps: number; loss_first: number; loss_last: number };
  const buf = fs.readFileSync(o.out);
  const values = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return {
    values, d: r.d, trainSeconds: r.train_s, embedSeconds: r.embed_s, steps: r.steps, lossFirst: r.loss_first, lossLast: r.loss_last,
  };
}

// ---- photos: real photographs, photo-sized and not square ------------------------------------------------
/** Debian's wallpaper packages (gnome-backgrounds, mate-backgrounds, plasma-workspace-wallpapers). */
export const PHOTO_FOLDERS = ["/usr/share/wallpapers", "/usr/share/backgrounds"];

export interface PhotoSet {
  root: string;
  /** The pictures' folder names under root (tiles are "<source>/<r>_<c>.jpg"). */
  sources: string[];
  prepareSeconds: number;
}

/** One picture per wallpaper (its largest landscape file; no dark/portrait duplicates), sorted by path. */
export function photoSources(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(jpe?g|png|webp)$/i.test(e.name) && fs.statSync(p).size > 100_000 && !/screenshot|images_dark/.test(p)) files.push(p);
    }
  };
  for (const f of PHOTO_FOLDERS) walk(f);
  // Plasma wallpapers ship one picture at several sizes: keep the largest of each folder.
  const bySource = new Map<string, string>();
  for (const f of files.sort()) {
    const m = /\/wallpapers\/([^/]+)\/contents\/images\/(\d+)x(\d+)\./.exec(f);
    // Other packages: one picture per name (Elephants_3840x2160.jpg = Elephants.jpg; gnome's -d/-l = dark/light).
    const key = m ? m[1]! : path.basename(f).replace(/(_\d+x\d+|-[dl])?\.\w+$/, "");
    const area = m ? Number(m[2]) * Number(m[3]) : 0;
    const prev = bySource.get(key);
    const prevM = prev ? /(\d+)x(\d+)\.\w+$/.exec(prev) : null;
    if (m && Number(m[2]) < Number(m[3])) continue; // portrait variants of landscape pictures
    if (!prev || (prevM && area > Number(prevM[1]) * Number(prevM[2]))) bySource.set(key, f);
  }
  return [...bySource.values()].sort();
}

/**
 * Cuts every wallpaper into a grid×grid of tiles (distinct regions of one picture), each resized to
 * `tileWidth` px wide keeping its aspect ratio (16:9, 16:10, 4:3 … as the source), written as JPEG
 * (quality 90) to <root>/<source>/<r>_<c>.jpg. Task: which picture does a tile come from.
 */
export async function preparePhotos(root: string, grid = 4, tileWidth = 320): Promise<PhotoSet> {
  const srcs = photoSources();
  if (srcs.length < 10) throw new Error(`only ${srcs.length} wallpapers found under ${PHOTO_FOLDERS.join(", ")}: apt-get install gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers`);
  const names = srcs.map((s, i) => `${String(i).padStart(3, "0")}-${/\/wallpapers\/([^/]+)\//.exec(s)?.[1] ?? path.basename(s).replace(/\.\w+$/, "")}`);
  const settings = { kind: "photos", grid, tileWidth, n: srcs.length, version: 1 };
  if (markerOk(root, settings)) return { root, sources: names, prepareSeconds: 0 };
  const t0 = performance.now();
  fs.rmSync(root, { recursive: true, force: true });
  for (const [i, src] of srcs.entries()) {
    const dir = path.join(root, names[i]!);
    fs.mkdirSync(dir, { recursive: true });
    const img = sharp(src, { limitInputPixels: false }).removeAlpha();
    const { width, height } = await img.metadata();
    const tw = Math.floor(width! / grid);
    const th = Math.floor(height! / grid);
    for (let r = 0; r < grid; r++) {
      for (let c = 0; c < grid; c++) {
        await sharp(src, { limitInputPixels: false }).removeAlpha().extract({ left: c * tw, top: r * th, width: tw, height: th })
          .resize(tileWidth, Math.round((tileWidth * th) / tw)).jpeg({ quality: 90 }).toFile(path.join(dir, `${r}_${c}.jpg`));
      }
    }
  }
  writeMarker(root, settings);
  return { root, sources: names, prepareSeconds: (performance.now() - t0) / 1000 };
}
