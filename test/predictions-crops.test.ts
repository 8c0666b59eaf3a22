// Object crops from a Lightly predictions folder (tiny generated images, hand-written boxes): the
// per-file reports (malformed file skipped, unknown category, bad box, box outside the image), the
// crop cache (padded + clipped boxes, pixels from the right place, reuse without decoding, names
// <image>#<index>), selection values per crop and per image, and the crops embedded and trained
// on by the unchanged embedImages / train.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { prepareCrops, embedImages } from "../src/pipeline/index.js";
import { openImageCache, type ImageCache } from "../src/data/index.js";
import { train } from "../src/ssl/index.js";
import { parseLightlyConfig } from "../src/config/lightly-config.js";
import { cropSelectionValues, imageSelectionValues, parseCropName, type TaskPredictions } from "../src/predictions/index.js";
import { tempDir, write, rawPng, quadrants, solid } from "./helpers/data-images.js";

torch.setNumThreads(2);
let root: string;
let input: string;
let cache: ImageCache;
let preds: TaskPredictions;
const cfg = parseLightlyConfig({
  model: { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 },
  collate: { input_size: 16 }, loader: { batch_size: 4, num_workers: 1 }, trainer: { gpus: 0, max_epochs: 2 },
});
const det = (rel: string, v: unknown): string => write(input, `.lightly/predictions/det/${rel}`, typeof v === "string" ? v : JSON.stringify(v));

before(async () => {
  root = tempDir("winnow-crops-");
  input = path.join(root, "images");
  // a.png 64×48: red (TL), green (TR), blue (BL), white (BR) quadrants of 32×24.
  write(input, "a.png", await rawPng(quadrants(64, 48), 64, 48));
  write(input, "sub/b.png", await solid("png", 40, 40, [10, 200, 10]));
  write(input, "c.png", await solid("png", 20, 20, [0, 0, 0]));
  write(input, "d.png", await solid("png", 40, 40, [200, 10, 10]));
  write(input, "e.jpg", await solid("jpeg", 30, 50, [90, 90, 250]));
  write(input, ".lightly/predictions/tasks.json", JSON.stringify(["det"]));
  det("schema.json", { task_type: "object-detection", categories: [{ id: 1, name: "red" }, { id: 2, name: "blue" }] });
  det("a.json", {
    file_name: "a.png",
    predictions: [
      { category_id: 1, bbox: [0, 0, 32, 24], score: 0.9, probabilities: [0.8, 0.2] },
      { category_id: 2, bbox: [0, 24, 32, 24], score: 0.6 },
      { category_id: 7, bbox: [1, 1, 5, 5], score: 0.5 },
      { category_id: 2, bbox: [100, 100, 10, 10], score: 0.5 },
      { category_id: 1, bbox: [-5, -5, 0, 3], score: 0.5 },
    ],
  });
  det("sub/b.json", "{ oops");
  det("d.json", { file_name: "d.png", predictions: [{ category_id: 2, bbox: [30, 30, 15, 15], score: 0.3 }] });
  det("e.json", { file_name: "e.jpg", predictions: [{ category_id: 1, bbox: [0, 0, 30, 25], score: 0.7 }, { category_id: 2, bbox: [5, 25, 20, 20], score: 0.8 }] });
  ({ cache, predictions: preds } = await prepareCrops(input, { cacheDir: path.join(root, "cache"), config: cfg, task: "det", resolution: 24 }));
});
after(() => {
  cache.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test("prediction files: malformed file skipped, unknown category and bad box reported per prediction, missing files listed", () => {
  const byCode = preds.issues.map((i) => `${i.file}:${i.code}:${i.prediction ?? "-"}`).sort();
  assert.deepEqual(byCode, ["a.json:bad_box:4", "a.json:unknown_category:2", "sub/b.json:malformed:-"]);
  assert.match(preds.issues.find((i) => i.code === "malformed")!.message, /det\/sub\/b\.json: .*not valid JSON.*file skipped/);
  assert.match(preds.issues.find((i) => i.code === "unknown_category")!.message, /category_id 7 is not in schema\.json \(ids: 1, 2\)/);
  assert.deepEqual(preds.missing, ["c.png"]);
  assert.equal(preds.images.has("sub/b.png"), false);
  assert.deepEqual(preds.images.get("a.png")!.map((p) => p.index), [0, 1, 3]);
});

test("crop cache: <image>#<index> items, box outside the image reported as bad_box, padded+clipped sizes, right pixels", () => {
  assert.deepEqual(cache.filenames, ["a.png#0", "a.png#1", "d.png#0", "e.jpg#0", "e.jpg#1"]);
  assert.deepEqual(cache.corruptFilenames.map((c) => [c.filename, c.code]), [["a.png#3", "bad_box"]]);
  assert.match(cache.corruptFilenames[0]!.reason, /box \[100, 100, 10, 10\] .* does not overlap the 64x48 image/);
  // [0,0,32,24] + 10% per side: [-3.2,-2.4, 35.2, 26.4] → clipped/whole pixels [0,0,36,27]
  assert.deepEqual([cache.widths[0], cache.heights[0]], [36, 27]);
  // d.png [30,30,15,15] → [28.5, 28.5, 46.5, 46.5] → [28, 28, 40, 40]
  assert.deepEqual([cache.widths[2], cache.heights[2]], [12, 12]);
  const S = cache.resolution;
  const { data } = cache.readBatch([0, 1]);
  const center = (k: number): number[] => {
    const o = k * S * S * 3 + ((S >> 1) * S + (S >> 1)) * 3;
    return [data[o]!, data[o + 1]!, data[o + 2]!];
  };
  const [r0, g0, b0] = center(0);
  assert.ok(r0! > 200 && g0! < 60 && b0! < 60, `crop a.png#0 centre is red, got ${center(0)}`);
  const [r1, g1, b1] = center(1);
  assert.ok(b1! > 200 && r1! < 60 && g1! < 60, `crop a.png#1 centre is blue, got ${center(1)}`);
  assert.equal(new Set(Array.from({ length: cache.length }, (_, i) => cache.sha256(i))).size, cache.length, "crops of one file are not duplicates");
});

test("crop cache is reused without decoding; changed boxes give another cache", async () => {
  const again = await prepareCrops(input, { cacheDir: path.join(root, "cache"), config: cfg, task: "det", resolution: 24 });
  assert.equal(again.cache.stats.decoded, 0);
  assert.equal(again.cache.dir, cache.dir);
  assert.deepEqual(again.cache.filenames, cache.filenames);
  again.cache.close();
  const other = await prepareCrops(input, { cacheDir: path.join(root, "cache"), config: cfg, task: "det", resolution: 24, padding: 0 });
  assert.notEqual(other.cache.dir, cache.dir);
  assert.deepEqual([other.cache.widths[0], other.cache.heights[0]], [32, 24]);
  other.cache.close();
  assert.deepEqual(parseCropName("sub/x#y.png#12"), { image: "sub/x#y.png", index: 12 });
  assert.equal(parseCropName("plain.png"), null);
});

test("selection values: per crop (category, score, uncertainty) and per image (all objects)", () => {
  const v = cropSelectionValues(preds, cache.filenames);
  assert.deepEqual(v.predictions.det!.categories, ["red", "blue"]);
  assert.deepEqual(v.predictions.det!.items.map((i) => i.categoryIds), [[0], [1], [1], [0], [1]]);
  assert.deepEqual(Array.from(v.scores.det!.score!), [0.9, 0.6, 0.3, 0.7, 0.8]);
  const lc = v.scores.det!.uncertainty_least_confidence!;
  assert.ok(Math.abs(lc[0]! - 0.2) < 1e-12 && Number.isNaN(lc[1]!));
  assert.ok(Math.abs(v.scores.det!.uncertainty_margin![0]! - 0.4) < 1e-12);
  const h = -(0.8 * Math.log(0.8) + 0.2 * Math.log(0.2)) / Math.log(2);
  assert.ok(Math.abs(v.scores.det!.uncertainty_entropy![0]! - h) < 1e-12);
  assert.deepEqual(v.crops[1], { filename: "a.png#1", image: "a.png", index: 1, bbox: [0, 24, 32, 24], category: "blue", score: 0.6 });
  const imgs = ["a.png", "c.png", "d.png", "e.jpg", "sub/b.png"];
  const iv = imageSelectionValues(preds, imgs);
  assert.deepEqual(iv.predictions.det!.items.map((i) => i.categoryIds), [[0, 1, 1], [], [1], [0, 1], []]);
  assert.deepEqual(Array.from(iv.scores.det!.score!).map((x) => (Number.isNaN(x) ? null : x)), [0.9, null, 0.3, 0.8, null]);
});

test("crops are embedded and trained on by the unchanged pipeline (also through openImageCache)", async () => {
  const base = torch.liveTensors();
  const out = path.join(root, "run");
  const reopened = openImageCache(cache.dir);
  const r = await train({ cache: reopened, config: cfg, outDir: out, prefetch: false });
  reopened.close();
  assert.equal(r.epochsCompleted, 2);
  assert.ok(r.globalStep >= 2, `steps ${r.globalStep}`);
  assert.ok(r.epochLosses.every(Number.isFinite), `losses ${r.epochLosses}`);
  assert.ok(r.lastCheckpoint && fs.existsSync(r.lastCheckpoint));
  const e = embedImages({ cache, config: cfg, outDir: out, checkpoint: r.lastCheckpoint! });
  assert.equal(e.n, 5);
  assert.equal(e.d, 16);
  const csv = fs.readFileSync(e.csvPath!, "utf8").split("\r\n");
  assert.deepEqual(csv.slice(1, 6).map((l) => l.split(",")[0]), cache.filenames);
  assert.equal(torch.liveTensors(), base);
});
