// `winnow run` on object crops (tiny generated images, hand-written boxes, tiny model): crop
// selection with per-crop scores, its outputs (selected_crops.csv/json, the images that hold them,
// crop thumbnails and prediction issues in the report), a malformed prediction file reported while
// the run goes on, a datapool run over crops, training on a task's crops with an image-level
// PREDICTIONS input, and the config/task errors.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import * as torch from "../src/torch/index.js";
import { run, RunError, type RunResult } from "../src/run/index.js";
import { RunConfigError, resolveRunConfig } from "../src/config/run-config.js";
import { tempDir, write, rawPng, type RGB } from "./helpers/data-images.js";
import { privateHome, tinyConfig, lines } from "./helpers/run-setup.js";

torch.setNumThreads(1);
const S = 40;
type Obj = { color: RGB; bbox: [number, number, number, number]; cat: number; score: number };
// Objects per image (solid rectangles on grey); c.png has no prediction file, e.png a malformed one.
const OBJECTS: Record<string, Obj[]> = {
  "a.png": [{ color: [230, 20, 20], bbox: [4, 4, 14, 12], cat: 0, score: 0.9 }, { color: [20, 20, 230], bbox: [22, 20, 14, 16], cat: 1, score: 0.8 }],
  "b.png": [{ color: [20, 200, 20], bbox: [6, 6, 20, 20], cat: 0, score: 0.7 }],
  "c.png": [{ color: [200, 200, 200], bbox: [5, 5, 10, 10], cat: 0, score: 0.9 }],
  "d.png": [{ color: [230, 230, 20], bbox: [10, 10, 16, 16], cat: 1, score: 0.3 }],
  "e.png": [{ color: [20, 20, 20], bbox: [10, 10, 16, 16], cat: 1, score: 0.9 }],
  "f.png": [{ color: [230, 20, 230], bbox: [0, 20, 18, 18], cat: 0, score: 0.95 }, { color: [20, 230, 230], bbox: [20, 0, 18, 18], cat: 1, score: 0.6 }],
  "g.png": [{ color: [250, 250, 250], bbox: [12, 12, 14, 14], cat: 0, score: 0.55 }],
  "sub/h.png": [
    { color: [250, 140, 0], bbox: [2, 2, 10, 10], cat: 0, score: 0.4 },
    { color: [120, 0, 160], bbox: [14, 14, 10, 10], cat: 1, score: 0.65 },
    { color: [110, 60, 10], bbox: [26, 26, 12, 12], cat: 0, score: 0.85 },
  ],
};
const CATS = ["car", "truck"];
// The crops the run can cut: d.png's second box misses the image, b.png's second prediction has an unknown category.
const CROPS = ["a.png#0", "a.png#1", "b.png#0", "d.png#0", "f.png#0", "f.png#1", "g.png#0", "sub/h.png#0", "sub/h.png#1", "sub/h.png#2"];
const objOf = (crop: string): Obj => {
  const [img, k] = crop.split("#");
  return OBJECTS[img!]![Number(k)]!;
};

let input: string;
let lightly: string; // holds .lightly/predictions (Lightly's "Lightly datasource"), apart from the input
let out: string;
let baseline: number;
let sel: RunResult;

function image(objs: Obj[]): Buffer {
  const px = Buffer.alloc(S * S * 3, 128);
  for (const o of objs) {
    const [x, y, w, h] = o.bbox;
    for (let r = y; r < Math.min(S, y + h); r++) for (let c = x; c < Math.min(S, x + w); c++) px.set(o.color, (r * S + c) * 3);
  }
  return px;
}

function writePredictions(dir: string): void {
  write(dir, "tasks.json", JSON.stringify(["det", "other"]));
  write(dir, "det/schema.json", JSON.stringify({ task_type: "object-detection", categories: CATS.map((name, id) => ({ id, name })) }));
  write(dir, "other/schema.json", JSON.stringify({ task_type: "object-detection", categories: [{ id: 0, name: "x" }] }));
  for (const [img, objs] of Object.entries(OBJECTS)) {
    if (img === "c.png") continue;
    const rel = `det/${img.replace(/\.png$/, ".json")}`;
    if (img === "e.png") {
      write(dir, rel, '{"file_name": "e.png", "predictions": [');
      continue;
    }
    const predictions = objs.map((o) => ({ category_id: o.cat, bbox: o.bbox, score: o.score }));
    if (img === "b.png") predictions.push({ category_id: 9, bbox: [1, 1, 4, 4], score: 0.9 });
    if (img === "d.png") predictions.push({ category_id: 0, bbox: [100, 100, 5, 5], score: 0.9 });
    write(dir, rel, JSON.stringify({ file_name: img, predictions }));
  }
}

const cropSelection = (extra: Record<string, unknown> = {}) => tinyConfig({
  worker_config: { ...extra },
  selection_config: {
    n_samples: 4,
    strategies: [
      { input: { type: "EMBEDDINGS", task: "det" }, strategy: { type: "DIVERSITY" } },
      { input: { type: "SCORES", task: "det", score: "score" }, strategy: { type: "THRESHOLD", threshold: 0.5, operation: "BIGGER_EQUAL" } },
    ],
  },
});

before(async () => {
  privateHome("winnow-crops-home-");
  const root = tempDir("winnow-run-crops-");
  input = path.join(root, "images");
  for (const [img, objs] of Object.entries(OBJECTS)) write(input, img, await rawPng(image(objs), S, S));
  lightly = path.join(root, "lightly");
  writePredictions(path.join(lightly, ".lightly", "predictions"));
  out = tempDir("winnow-run-crops-out-");
  baseline = torch.liveTensors();
  sel = await run({ input, lightlyPath: lightly, config: cropSelection({ use_datapool: true }), output: path.join(out, "sel"), stream: null });
});

test("crop selection: crops embedded like images, selected by per-crop score, outputs crops + their images", async () => {
  const { record, paths, report } = sel;
  assert.equal(record.state, "COMPLETED");
  // Every crop that could be cut is a sample: embeddings.csv rows are <image>#<prediction index>.
  const rows = fs.readFileSync(paths.embeddings, "utf8").split("\r\n").filter(Boolean).slice(1).map((r) => r.split(",")[0]);
  assert.deepEqual(rows, CROPS);
  // 4 picks, none under the score threshold (d.png#0 0.3, sub/h.png#0 0.4), all distinct.
  const csv = lines(paths.selectedCrops);
  assert.equal(csv[0], "crop,filename,prediction_index,bbox_x,bbox_y,bbox_w,bbox_h,category,score");
  const picked = csv.slice(1).map((l) => l.split(","));
  assert.equal(picked.length, 4);
  assert.equal(new Set(picked.map((p) => p[0])).size, 4);
  for (const [crop, file, idx, x, y, w, h, cat, score] of picked) {
    const o = objOf(crop!);
    assert.equal(`${file}#${idx}`, crop);
    assert.deepEqual([x, y, w, h].map(Number), o.bbox, crop);
    assert.equal(cat, CATS[o.cat]);
    assert.equal(Number(score), o.score);
    assert.ok(o.score >= 0.5, `${crop} has score ${o.score} < 0.5`);
  }
  const json = JSON.parse(fs.readFileSync(paths.selectedCrops.replace(/\.csv$/, ".json"), "utf8"));
  assert.equal(json.task, "det");
  assert.equal(json.padding, 0.1);
  assert.deepEqual(json.crops.map((c: { crop: string }) => c.crop), picked.map((p) => p[0]));
  // selected_filenames.txt: the images holding the picks, each once, in order of their first crop.
  const images = [...new Set(picked.map((p) => p[1]!))];
  assert.deepEqual(lines(paths.selectedFilenames), images);
  assert.deepEqual(report.objects!.selectedImages, images);
  assert.equal(record.selectedCount, 4);
  assert.equal(report.counts.embedded, CROPS.length);
  assert.equal(report.objects!.crops, CROPS.length);
  // The selected embeddings are crop rows.
  const selRows = fs.readFileSync(paths.selectedEmbeddings, "utf8").split("\r\n").filter(Boolean).slice(1).map((r) => r.split(",")[0]);
  assert.deepEqual(selRows, picked.map((p) => p[0]));
  // Crop thumbnails: one per pick, each the crop (its centre has the object's colour), not the whole image.
  const html = fs.readFileSync(paths.reportHtml, "utf8");
  const grid = html.slice(html.indexOf('id="selected-crops-grid"'));
  const thumbs = [...grid.matchAll(/data-crop="([^"]+)"><img src="data:image\/png;base64,([^"]+)"/g)];
  assert.deepEqual(thumbs.map((m) => m[1]), picked.map((p) => p[0]));
  for (const [, crop, b64] of thumbs) {
    const { data, info } = await sharp(Buffer.from(b64!, "base64")).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const o = (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * 3;
    const c = [data[o]!, data[o + 1]!, data[o + 2]!];
    const want = objOf(crop!).color;
    assert.ok(c.every((v, k) => Math.abs(v - want[k]!) <= 12), `${crop}: thumbnail centre ${c}, object ${want}`);
  }
  assert.equal(torch.liveTensors(), baseline);
});

test("a malformed prediction file, an unknown category and a box off the image are reported; the run goes on", () => {
  const { paths, report } = sel;
  assert.deepEqual(lines(paths.malformedPredictionFiles), ["det/e.json"]);
  const doc = JSON.parse(fs.readFileSync(paths.predictionIssues, "utf8"));
  assert.equal(doc.predictions_dir, path.join(fs.realpathSync(lightly), ".lightly", "predictions"));
  const det = doc.tasks.det;
  assert.deepEqual(det.issues.map((i: { file: string; code: string }) => `${i.file}:${i.code}`), ["b.json:unknown_category", "e.json:malformed"]);
  assert.match(det.issues[1].message, /det\/e\.json: .*not valid JSON.*file skipped/);
  assert.deepEqual(det.skipped_crops.map((c: { crop: string; code: string }) => `${c.crop}:${c.code}`), ["d.png#1:bad_box"]);
  assert.equal(det.images_without_predictions, 1); // c.png
  assert.equal(det.prediction_files, 6);
  assert.ok(report.notes.some((n) => n.includes("1 malformed prediction file(s) skipped") && n.includes("det/e.json")), report.notes.join("\n"));
  const html = fs.readFileSync(paths.reportHtml, "utf8");
  const issues = html.slice(html.indexOf('id="prediction-issues"'));
  for (const s of ["e.json", "malformed", "unknown_category", "d.png#1", "bad_box"]) assert.ok(issues.includes(s), s);
  assert.ok(fs.readFileSync(paths.log, "utf8").includes('predictions "det": 6 file(s) read, 1 usable image(s) without one, 2 issue(s) (1 malformed file(s) skipped); 10 crop(s), 1 skipped'));
});

test("datapool over crops: a second run adds new crops, never the earlier ones", async () => {
  const second = await run({ input, lightlyPath: lightly, config: cropSelection({ use_datapool: true }), output: path.join(out, "sel2"), stream: null });
  const first = lines(sel.paths.selectedCrops).slice(1).map((l) => l.split(",")[0]!);
  const now = lines(second.paths.selectedCrops).slice(1).map((l) => l.split(",")[0]!);
  assert.equal(second.report.counts.datapoolBefore, 4);
  // 8 crops pass the threshold, 4 were taken: the other 4 now.
  assert.equal(now.length, 4);
  for (const c of now) assert.ok(!first.includes(c) && objOf(c).score >= 0.5, c);
  const withPool = lines(path.join(second.paths.output, "filenames", "selected_filenames_including_datapool.txt"));
  assert.deepEqual(withPool, [...new Set([...first, ...now].map((c) => c.split("#")[0]!))]);
});

test("training.task_name trains on the task's crops; PREDICTIONS inputs give per-image counts for image selection", async () => {
  const r = await run({
    input, lightlyPath: path.join(lightly, ".lightly", "predictions"), output: path.join(out, "train"), stream: null,
    config: tinyConfig({
      worker_config: { enable_training: true, training: { task_name: "det" }, object_level: { padding: 0 } },
      lightly_config: { loader: { batch_size: 3 } },
      selection_config: {
        n_samples: 3,
        strategies: [
          { input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } },
          { input: { type: "PREDICTIONS", task: "det", name: "CATEGORY_COUNT" }, strategy: { type: "THRESHOLD", threshold: 2, operation: "BIGGER_EQUAL" } },
        ],
      },
    }),
  });
  const t = r.report.training!;
  // 10 crops, batch 3, drop_last: 3 steps per epoch (the 8 whole images would give 2).
  assert.equal(t.epochs, 2);
  assert.equal(t.stepLosses.length, 2 * 3);
  for (const l of t.stepLosses) assert.ok(Number.isFinite(l), String(l));
  assert.equal(r.report.objects!.trainTask, "det");
  assert.equal(r.report.objects!.selectTask, null);
  assert.ok(fs.readFileSync(r.paths.log, "utf8").includes('trained on 10 object crops of task "det"'));
  // Selection is over whole images: only those with ≥ 2 objects read (a, d, f, sub/h; b's second
  // prediction has an unknown category, e's file is malformed, c has none).
  const picked = lines(r.paths.selectedFilenames);
  assert.equal(picked.length, 3);
  for (const p of picked) assert.ok(["a.png", "d.png", "f.png", "sub/h.png"].includes(p), p);
  assert.equal(r.report.counts.embedded, 8);
  assert.equal(fs.existsSync(r.paths.selectedCrops), false);
  assert.equal(r.report.config.worker_config.object_level.padding, 0);
  assert.equal(torch.liveTensors(), baseline);
});

test("tasks that disagree are config errors; a task missing from tasks.json fails the run by name", async () => {
  const bad = (sc: Record<string, unknown>): RunConfigError => {
    try {
      resolveRunConfig(tinyConfig({ selection_config: sc }));
    } catch (e) {
      assert.ok(e instanceof RunConfigError, String(e));
      return e;
    }
    assert.fail("expected a RunConfigError");
  };
  const e1 = bad({ strategies: [{ input: { type: "EMBEDDINGS", task: "det" }, strategy: { type: "DIVERSITY" } }, { input: { type: "SCORES", task: "other", score: "score" }, strategy: { type: "WEIGHTS" } }] });
  assert.deepEqual(e1.issues.map((i) => i.path), ["selection_config.strategies[1].input.task"]);
  assert.match(e1.issues[0]!.message, /"other".*crops of task "det".*use task "det"/);
  const e2 = bad({ strategies: [{ input: { type: "EMBEDDINGS", task: "det" }, strategy: { type: "DIVERSITY" } }, { input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }] });
  assert.deepEqual(e2.issues.map((i) => i.path), ["selection_config.strategies[1].input"]);
  assert.throws(() => resolveRunConfig(tinyConfig({ worker_config: { training: { task_name: "no spaces" } } })), /worker_config\.training\.task_name/);
  assert.throws(() => resolveRunConfig(tinyConfig({ worker_config: { object_level: { padding: -1 } } })), /worker_config\.object_level\.padding/);

  // Predictions at the default place (<input>/.lightly/predictions) without the task asked for.
  const root = tempDir("winnow-run-crops-miss-");
  write(root, "a.png", await rawPng(image(OBJECTS["a.png"]!), S, S));
  write(root, "b.png", await rawPng(image(OBJECTS["b.png"]!), S, S));
  writePredictions(path.join(root, ".lightly", "predictions"));
  const sc = { n_samples: 1, strategies: [{ input: { type: "EMBEDDINGS", task: "cars" }, strategy: { type: "DIVERSITY" } }] };
  await assert.rejects(run({ input: root, config: tinyConfig({ selection_config: sc }), output: path.join(out, "miss"), stream: null }), (e: unknown) => {
    assert.ok(e instanceof RunError);
    assert.equal(e.record.state, "FAILED");
    assert.match(e.message, /selection_config \(crop selection\): task "cars" is not in .*\.lightly\/predictions\/tasks\.json \(tasks there: "det", "other"\)/);
    return true;
  });
  // No predictions at all.
  const bare = tempDir("winnow-run-crops-bare-");
  write(bare, "a.png", await rawPng(image(OBJECTS["a.png"]!), S, S));
  await assert.rejects(run({ input: bare, config: tinyConfig({ selection_config: sc }), output: path.join(out, "bare"), stream: null }), /needs predictions, but .*tasks\.json does not exist.*--lightly-path/);
});
