// Metadata of video frames (issue 25): Lightly's .lightly/metadata layout for frames (a frame's own
// file under its sample name, else its video's file, else the schema's default) in a METADATA
// selection, and the worker-computed `lightly.*` values of a frame taken from the frame decoded at
// full size: sharpness and SNR equal the formulas computed here in float64 on ffmpeg's own PNG
// decode of that frame; PREDICTIONS and SCORES inputs read frames' prediction files in a run. Tiny
// clips made here with ffmpeg (48×32, 6 frames), a tiny model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { run, type RunResult } from "../src/run/index.js";
import { computeLightlyMetadata } from "../src/run/lightly-metadata.js";
import { RunVideos } from "../src/run/videos.js";
import { listFolderWithVideos } from "../src/data/video/listing.js";
import { frameName } from "../src/data/video/names.js";
import { tempDir, write, rawPng } from "./helpers/data-images.js";
import { ff, ffmpegPngs } from "./helpers/data-video.js";
import { privateHome, tinyConfig, lines } from "./helpers/run-setup.js";

const N = 6;
const a = (k: number): string => frameName("a.mp4", k, N); // a-3-mp4.png
const b = (k: number): string => frameName("sub/b.mp4", k, N);
let root: string;
let result: RunResult;
let scored: RunResult;
const dirs: string[] = [];

/** Sharpness (population variance of the 4-neighbour Laplacian of the ITU-R 601 luma over interior pixels) and SNR (mean / std of the luma). */
function reference(rgb: Uint8Array, w: number, h: number): { sharpness: number; snr: number } {
  const g = (x: number, y: number): number => {
    const p = 3 * (y * w + x);
    return 0.299 * rgb[p]! + 0.587 * rgb[p + 1]! + 0.114 * rgb[p + 2]!;
  };
  const lap: number[] = [];
  for (let y = 1; y < h - 1; y++) for (let x = 1; x < w - 1; x++) lap.push(g(x, y - 1) + g(x, y + 1) + g(x - 1, y) + g(x + 1, y) - 4 * g(x, y));
  const all: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) all.push(g(x, y));
  const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
  const variance = (v: number[]): number => {
    const m = mean(v);
    return v.reduce((s, x) => s + (x - m) ** 2, 0) / v.length;
  };
  return { sharpness: variance(lap), snr: mean(all) / Math.sqrt(variance(all)) };
}

before(async () => {
  privateHome("winnow-video-metadata-home-");
  root = tempDir("winnow-video-metadata-in-");
  dirs.push(root);
  write(root, "img.png", await rawPng(Buffer.alloc(20 * 20 * 3, 77), 20, 20));
  ff("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=10", "-frames:v", String(N), "-c:v", "libx264", "-pix_fmt", "yuv420p", path.join(root, "a.mp4"));
  fs.mkdirSync(path.join(root, "sub"));
  ff("-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", String(N), "-c:v", "libx264", "-pix_fmt", "yuv420p", path.join(root, "sub", "b.mp4"));
  // a.mp4's file (type "video") gives every frame score 10; frame 3's own file says 0. sub/b.mp4 has
  // no file but frame 1's (score 7); its other frames take the default 0.
  const md = path.join(root, ".lightly", "metadata");
  write(md, "schema.json", JSON.stringify([{ name: "Score", path: "clip.score", defaultValue: 0, valueDataType: "NUMERIC_INT" }]));
  write(md, "a.json", JSON.stringify({ file_name: "a.mp4", type: "video", metadata: { clip: { score: 10 } } }));
  write(md, "a-3-mp4.json", JSON.stringify({ file_name: a(3), type: "frame", metadata: { clip: { score: 0 } } }));
  write(md, "sub/b-1-mp4.json", JSON.stringify({ file_name: b(1), type: "frame", metadata: { clip: { score: 7 } } }));
  // A classification task: "rain" on a(1) (0.9), sub/b(4) (0.7) and img.png (0.55); "sun" on a(2) (0.95).
  const pr = path.join(root, ".lightly", "predictions");
  write(pr, "tasks.json", JSON.stringify(["weather"]));
  write(pr, "weather/schema.json", JSON.stringify({ task_type: "classification", categories: [{ id: 0, name: "sun" }, { id: 1, name: "rain" }] }));
  const cls = (name: string, rel: string, id: number, score: number): void => {
    write(pr, `weather/${rel}`, JSON.stringify({ file_name: name, predictions: [{ category_id: id, score }] }));
  };
  cls(a(1), "a-1-mp4.json", 1, 0.9);
  cls(b(4), "sub/b-4-mp4.json", 1, 0.7);
  cls("img.png", "img.json", 1, 0.55);
  cls(a(2), "a-2-mp4.json", 0, 0.95);
  const out = tempDir("winnow-video-metadata-out-");
  dirs.push(out);
  result = await run({
    input: root, output: path.join(out, "run"), stream: null,
    config: tinyConfig({ selection_config: { n_samples: 20, strategies: [
      { input: { type: "METADATA", key: "clip.score" }, strategy: { type: "THRESHOLD", threshold: 5, operation: "BIGGER_EQUAL" } },
      // every frame has a sharpness (a frame left at null would fail this threshold and not be picked)
      { input: { type: "METADATA", key: "lightly.sharpness" }, strategy: { type: "THRESHOLD", threshold: 0, operation: "BIGGER_EQUAL" } },
      { input: { type: "RANDOM" }, strategy: { type: "WEIGHTS" } },
    ] } }),
  });
  scored = await run({
    input: root, output: path.join(out, "scored"), stream: null,
    config: tinyConfig({ selection_config: { n_samples: 20, strategies: [
      { input: { type: "PREDICTIONS", task: "weather", name: "CATEGORY_COUNT", category: "rain" }, strategy: { type: "THRESHOLD", threshold: 1, operation: "BIGGER_EQUAL" } },
      { input: { type: "SCORES", task: "weather", score: "score" }, strategy: { type: "THRESHOLD", threshold: 0.6, operation: "BIGGER_EQUAL" } },
      { input: { type: "RANDOM" }, strategy: { type: "WEIGHTS" } },
    ] } }),
  });
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test("METADATA selection over frames: a frame's own file, else its video's file, else the default", () => {
  assert.equal(result.record.state, "COMPLETED", JSON.stringify(result.record.error));
  assert.deepEqual(lines(result.paths.selectedFilenames).sort(), [a(0), a(1), a(2), a(4), a(5), b(1)]);
  // Only sub/b.mp4's frames without a file of their own (nor a video file) are reported missing; img.png too.
  const issues = JSON.parse(fs.readFileSync(result.paths.metadataIssues, "utf8")) as Array<{ file: string; code: string }>;
  assert.deepEqual(issues.filter((i) => i.code === "missing").map((i) => i.file).sort(), ["img.json", ...[0, 2, 3, 4, 5].map((k) => `sub/b-${k}-mp4.json`)]);
});

test("lightly.* of frames: sharpness and SNR of the full-size decoded frame equal the formulas on ffmpeg's PNG decode; sizeInBytes = video size / frames", async () => {
  const listing = await listFolderWithVideos(root, { threads: 1 });
  const videos = new RunVideos(listing.videos);
  const names = [a(0), a(4), "img.png", b(2), b(5)];
  const keys = ["lightly.sharpness", "lightly.snr", "lightly.width", "lightly.height", "lightly.sizeInBytes"] as const;
  const v = await computeLightlyMetadata(root, names, keys, videos);
  const refs = new Map<string, Buffer[]>();
  for (const video of ["a.mp4", "sub/b.mp4"]) {
    const dir = tempDir("winnow-video-metadata-ref-");
    dirs.push(dir);
    refs.set(video, await ffmpegPngs(path.join(root, video), dir, null));
  }
  names.forEach((name, j) => {
    if (name === "img.png") {
      assert.deepEqual([v["lightly.width"]![j], v["lightly.height"]![j], v["lightly.sharpness"]![j], v["lightly.snr"]![j]], [20, 20, 0, null]);
      return;
    }
    const f = videos.frameOf(name)!;
    const ref = reference(refs.get(f.video)![f.frame]!, 48, 32);
    // Same pixels, same float64 formula (summed in another order): equal to 1e-9 relative.
    const sh = v["lightly.sharpness"]![j]!;
    assert.ok(ref.sharpness > 10 && Math.abs(sh - ref.sharpness) <= 1e-9 * ref.sharpness, `${name}: sharpness ${sh} vs ${ref.sharpness}`);
    const snr = v["lightly.snr"]![j]!;
    assert.ok(Math.abs(snr - ref.snr) <= 1e-9 * ref.snr, `${name}: snr ${snr} vs ${ref.snr}`);
    assert.deepEqual([v["lightly.width"]![j], v["lightly.height"]![j]], [48, 32]);
    assert.equal(v["lightly.sizeInBytes"]![j], Math.round(fs.statSync(path.join(root, f.video)).size / N));
  });
  // The frames differ (testsrc2 moves): not one value for the whole video.
  assert.notEqual(v["lightly.sharpness"]![0], v["lightly.sharpness"]![1]);
  // In the run: the map's metadata has the frames' sharpness (computed by the selection) and sizes.
  const map = JSON.parse(fs.readFileSync(result.paths.mapMetadata, "utf8")) as { filenames: string[]; fields: Array<{ key: string; values: (number | null)[] }> };
  const col = (key: string): (number | null)[] => map.fields.find((x) => x.key === key)!.values;
  const row = map.filenames.indexOf(a(4));
  assert.ok(Math.abs(col("lightly.sharpness")[row]! - v["lightly.sharpness"]![1]!) <= 1e-9 * v["lightly.sharpness"]![1]!);
  assert.equal(col("lightly.sizeInBytes")[row], v["lightly.sizeInBytes"]![1]);
});

test("PREDICTIONS and SCORES inputs over frames: each frame's prediction file under its name", () => {
  assert.equal(scored.record.state, "COMPLETED", JSON.stringify(scored.record.error));
  // "rain" and score ≥ 0.6: the two frames (img.png has 0.55, a(2) is "sun").
  assert.deepEqual(lines(scored.paths.selectedFilenames).sort(), [a(1), b(4)]);
});
