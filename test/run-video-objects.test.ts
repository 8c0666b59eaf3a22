// Object crops of video frames (issue 25): prediction files under the frame's Lightly name with
// .json, crops cut from the full-size decoded frame (pixel-equal to cutting ffmpeg's own PNG decode
// of that frame), missing prediction files of frames reported by name, and an object-level
// `winnow run` over a folder with an image and videos (trained and selected on crops of both; the
// crops of a video dropped by corruption_threshold leave with its frames). Tiny clips made here
// with ffmpeg (≤ 48 px, ≤ 20 frames), a tiny model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import * as torch from "../src/torch/index.js";
import { run, type RunResult } from "../src/run/index.js";
import { prepareCrops } from "../src/pipeline/index.js";
import { listFolderWithVideos } from "../src/data/video/listing.js";
import { frameName } from "../src/data/video/names.js";
import { paddedCropBox } from "../src/data/index.js";
import { tempDir, write, rawPng } from "./helpers/data-images.js";
import { ff, ffmpegPngs, maxAbsDiff } from "./helpers/data-video.js";
import { privateHome, tinyConfig, lines } from "./helpers/run-setup.js";
import { TINY_LIGHTLY } from "./helpers/run-setup.js";

torch.setNumThreads(1);
const H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
const N = 8; // frames of clip.mp4
const fr = (k: number): string => frameName("clip.mp4", k, N); // clip-3-mp4.png
const BOX: [number, number, number, number] = [6, 4, 14, 12];

let root: string;
let preds: string;
let out: string;
let sel: RunResult;
let baseline: number;
const dirs: string[] = [];

let cutFirst: string; // the first frame of cut.mp4, by its Lightly name
let cutLast: string; // its last listed frame, which does not decode

/** One detection per frame 0..5 of clip.mp4 (frame 5's box misses the 48×32 frame; frames 6, 7 have no file). */
function writePredictions(dir: string): void {
  write(dir, "tasks.json", JSON.stringify(["det"]));
  write(dir, "det/schema.json", JSON.stringify({ task_type: "object-detection", categories: [{ id: 0, name: "thing" }, { id: 1, name: "other" }] }));
  write(dir, "det/img.json", JSON.stringify({ file_name: "img.png", predictions: [{ category_id: 0, bbox: [2, 2, 16, 16], score: 0.9 }, { category_id: 1, bbox: [20, 20, 12, 12], score: 0.2 }] }));
  for (let k = 0; k < 6; k++) {
    const bbox = k === 5 ? [60, 40, 5, 5] : [BOX[0] + k, BOX[1], BOX[2], BOX[3]];
    write(dir, `det/clip-${k}-mp4.json`, JSON.stringify({ file_name: fr(k), predictions: [{ category_id: 1, bbox, score: 0.8 }] }));
  }
  // cut.mp4 (dropped by corruption_threshold): a box on its first frame, whose crop must leave with the video.
  write(dir, `det/${cutFirst.replace(/\.png$/, ".json")}`, JSON.stringify({ file_name: cutFirst, predictions: [{ category_id: 0, bbox: [2, 2, 10, 10], score: 0.95 }] }));
  write(dir, `det/${cutLast.replace(/\.png$/, ".json")}`, JSON.stringify({ file_name: cutLast, predictions: [{ category_id: 0, bbox: [2, 2, 10, 10], score: 0.95 }] }));
}

before(async () => {
  privateHome("winnow-video-objects-home-");
  baseline = torch.liveTensors();
  root = tempDir("winnow-video-objects-in-");
  dirs.push(root);
  const px = Buffer.alloc(40 * 40 * 3, 90);
  for (let y = 2; y < 18; y++) for (let x = 2; x < 18; x++) px.set([220, 30, 30], (y * 40 + x) * 3);
  write(root, "img.png", await rawPng(px, 40, 40));
  ff("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=10", "-frames:v", String(N), ...H264, path.join(root, "clip.mp4"));
  // All-intra, cut in half: its last listed frames are undecodable (more than corruption_threshold 0.05).
  const whole = path.join(tempDir("winnow-video-objects-src-"), "cut.mp4");
  dirs.push(path.dirname(whole));
  ff("-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-frames:v", "20", ...H264, "-g", "1", "-movflags", "+faststart", whole);
  const bytes = fs.readFileSync(whole);
  fs.writeFileSync(path.join(root, "cut.mp4"), bytes.subarray(0, Math.floor(bytes.length * 0.5)));
  const probed = (await listFolderWithVideos(root, { threads: 1 })).videos.videos.get("cut.mp4")!;
  const cutFrames = "info" in probed ? probed.info.frames : 1;
  cutFirst = frameName("cut.mp4", 0, cutFrames);
  cutLast = frameName("cut.mp4", cutFrames - 1, cutFrames);
  preds = path.join(root, ".lightly", "predictions");
  writePredictions(preds);
  out = tempDir("winnow-video-objects-out-");
  dirs.push(out);
  sel = await run({
    input: root, output: path.join(out, "sel"), stream: null,
    config: tinyConfig({
      worker_config: { enable_training: true, training: { task_name: "det" }, corruptness_check: { corruption_threshold: 0.05 } },
      selection_config: {
        n_samples: 3,
        strategies: [
          { input: { type: "EMBEDDINGS", task: "det" }, strategy: { type: "DIVERSITY" } },
          { input: { type: "SCORES", task: "det", score: "score" }, strategy: { type: "THRESHOLD", threshold: 0.5, operation: "BIGGER_EQUAL" } },
        ],
      },
      lightly_config: { loader: { batch_size: 4, drop_last: true }, trainer: { gpus: 0, max_epochs: 1 } },
    }),
  });
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test("crops of frames are cut from the full-size decoded frame: pixel-equal to cutting ffmpeg's PNG decode", async () => {
  const listing = await listFolderWithVideos(root, { threads: 1 });
  const cacheDir = tempDir("winnow-video-objects-cache-");
  dirs.push(cacheDir);
  const { cache, predictions } = await prepareCrops(root, { cacheDir, config: { ...TINY_LIGHTLY, loader: { ...TINY_LIGHTLY.loader, num_workers: 2 } } as never, task: "det", predictionsDir: preds, padding: 0.1, listing, resolution: 24 });
  try {
    // Frames with a prediction file, by the frame's Lightly name; the others are missing by name.
    assert.deepEqual([...predictions.images.keys()].filter((f) => f.startsWith("clip-")), [0, 1, 2, 3, 4, 5].map(fr));
    assert.deepEqual(predictions.missing.filter((f) => f.startsWith("clip-")), [fr(6), fr(7)]);
    assert.deepEqual(predictions.issues, []);
    assert.ok(cache.filenames.includes(`${cutFirst}#0`), "cut.mp4's first frame decodes: its crop is cut");
    // A frame the decoder does not deliver: its crop fails with the video's name and the reason.
    const lost = cache.corruptFilenames.find((c) => c.filename === `${cutLast}#0`);
    assert.equal(lost?.code, "truncated");
    assert.match(lost!.reason, /^video "cut\.mp4": frame \d+ of \d+ not decoded/);
    const clipCrops = cache.filenames.filter((f) => f.startsWith("clip-"));
    assert.deepEqual(clipCrops, [0, 1, 2, 3, 4].map((k) => `${fr(k)}#0`));
    // Frame 5's box misses the frame: reported as bad_box, the run goes on.
    const bad = cache.corruptFilenames.find((c) => c.filename === `${fr(5)}#0`);
    assert.equal(bad?.code, "bad_box");
    assert.match(bad!.reason, /48x32 image/);
    const refDir = tempDir("winnow-video-objects-ref-");
    dirs.push(refDir);
    const pngs = await ffmpegPngs(path.join(root, "clip.mp4"), refDir, null);
    assert.equal(pngs.length, N);
    for (let k = 0; k < 5; k++) {
      const row = cache.filenames.indexOf(`${fr(k)}#0`);
      const b = paddedCropBox([BOX[0] + k, BOX[1], BOX[2], BOX[3]], 0.1, 48, 32)!;
      assert.deepEqual([cache.widths[row], cache.heights[row]], [b[2] - b[0], b[3] - b[1]]);
      const ref = await sharp(pngs[k]!, { raw: { width: 48, height: 32, channels: 3 } })
        .extract({ left: b[0], top: b[1], width: b[2] - b[0], height: b[3] - b[1] })
        .resize(24, 24, { fit: "fill", kernel: "lanczos3" }).raw().toBuffer();
      const { data } = cache.readBatch([row]);
      assert.equal(maxAbsDiff(Buffer.from(data), ref), 0, `crop of frame ${k}`);
    }
  } finally {
    cache.close();
  }
  // Built again unchanged: every crop and failure is reused, nothing decoded.
  const again = await prepareCrops(root, { cacheDir, config: { ...TINY_LIGHTLY, loader: { ...TINY_LIGHTLY.loader, num_workers: 2 } } as never, task: "det", predictionsDir: preds, padding: 0.1, listing, resolution: 24 });
  try {
    assert.equal(again.cache.stats.decoded, 0);
    assert.ok(again.cache.filenames.includes(`${fr(4)}#0`));
  } finally {
    again.cache.close();
  }
});

test("an object-level run over an image and videos: trained and selected on crops of both; selected crops of frames reported like image crops", async () => {
  const { record, paths, report } = sel;
  assert.equal(record.state, "COMPLETED", JSON.stringify(record.error));
  // Samples: the image's 2 crops and the 5 crops of clip.mp4's frames; cut.mp4 is dropped with its crop.
  const expected = ["clip-0-mp4.png#0", "clip-1-mp4.png#0", "clip-2-mp4.png#0", "clip-3-mp4.png#0", "clip-4-mp4.png#0", "img.png#0", "img.png#1"];
  const rows = fs.readFileSync(paths.embeddings, "utf8").split("\r\n").filter(Boolean).slice(1).map((r) => r.split(",")[0]);
  assert.deepEqual(rows, expected);
  const info = JSON.parse(fs.readFileSync(paths.corruptnessInformation, "utf8"));
  assert.match(info.corrupt_videos["cut.mp4"], /^corrupt_frames: /);
  // Training ran on the same 7 crops: batches of 4, drop_last → 1 step.
  assert.equal(report.training?.stepLosses.length, 1);
  // 3 picks, each with score ≥ 0.5 (img.png#1 has 0.2): at least 2 are crops of frames.
  const picked = lines(paths.selectedCrops).slice(1).map((l) => l.split(","));
  assert.equal(picked.length, 3);
  const frameCrops = picked.filter((p) => p[0]!.startsWith("clip-"));
  assert.ok(frameCrops.length >= 2, picked.map((p) => p[0]).join(" "));
  for (const [crop, file, idx, x, y, w, h, cat, score] of picked) {
    assert.equal(`${file}#${idx}`, crop);
    assert.notEqual(crop, "img.png#1");
    if (!crop!.startsWith("clip-")) continue;
    const k = Number(/^clip-(\d)-mp4\.png$/.exec(file!)![1]);
    assert.deepEqual([x, y, w, h].map(Number), [BOX[0] + k, BOX[1], BOX[2], BOX[3]]);
    assert.deepEqual([cat, Number(score)], ["other", 0.8]);
  }
  // selected_filenames.txt: the frames and images holding the picks; the frames are exported as images.
  const holders = [...new Set(picked.map((p) => p[1]!))];
  assert.deepEqual(lines(paths.selectedFilenames), holders);
  for (const f of holders.filter((h) => h.startsWith("clip-"))) {
    const m = await sharp(path.join(paths.frames, f)).metadata();
    assert.deepEqual([m.width, m.height], [48, 32], f);
  }
  // Report: a thumbnail for every selected crop, frames' crops included (from the crop cache).
  const html = fs.readFileSync(paths.reportHtml, "utf8");
  const grid = html.slice(html.indexOf('id="selected-crops-grid"'));
  const thumbs = [...grid.matchAll(/data-crop="([^"]+)"><img src="data:image\/png;base64,/g)].map((m) => m[1]);
  assert.deepEqual(thumbs, picked.map((p) => p[0]));
  // A crop of a frame is captioned with the frame's time in its video (10 fps: frame k at k/10 s).
  for (const [, file] of frameCrops) assert.ok(html.includes(`${file} (clip.mp4 @ 00:00.${/^clip-(\d)-/.exec(file!)![1]}00)`), `caption of a crop of ${file}`);
  // Prediction problems: frames without a prediction file counted, frame 5's box reported by crop name.
  const issues = JSON.parse(fs.readFileSync(paths.predictionIssues, "utf8")).tasks.det;
  assert.equal(issues.prediction_files, 1 + 6 + 2);
  assert.ok(!rows.includes(`${cutFirst}#0`));
  assert.ok(issues.images_without_predictions >= 2, String(issues.images_without_predictions));
  // …and named, with the file Lightly's convention expects (frames 6 and 7 of clip.mp4 come first).
  assert.deepEqual(issues.images_without_predictions_first.slice(0, 2), [6, 7].map((k) => ({ image: fr(k), expected_file: `det/clip-${k}-mp4.json` })));
  assert.deepEqual(issues.skipped_crops.filter((c: { crop: string }) => c.crop.startsWith("clip-")).map((c: { crop: string; code: string }) => [c.crop, c.code]), [[`${fr(5)}#0`, "bad_box"]]);
  assert.equal(torch.liveTensors(), baseline);
});
