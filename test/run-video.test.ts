// `winnow run` on a folder mixing images and videos (issue 25): clips made here with ffmpeg's lavfi
// testsrc (≤ 40 px, ≤ 20 frames), a tiny model. Frames are samples under Lightly's names; a partly
// undecodable video is dropped or kept by corruption_threshold; the selected frames are exported
// full-size; the report shows them with their time stamps; sequence selection picks whole sequences.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import * as torch from "../src/torch/index.js";
import { run, type RunResult } from "../src/run/index.js";
import { compareCodePoints } from "../src/data/index.js";
import { frameName } from "../src/data/video/names.js";
import { formatFrameTime } from "../src/data/video/times.js";
import { readTaskPredictions } from "../src/predictions/read.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";
import { privateHome, tinyConfig, lines, runWinnow } from "./helpers/run-setup.js";

const ff = (...args: string[]): void => {
  execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", "-threads", "1", ...args]);
};
const H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
const frames = (video: string, n: number): string[] => Array.from({ length: n }, (_, k) => frameName(video, k, n));

let root: string;
let images: string[];
let first: RunResult;
let second: RunResult;
let third: RunResult;
let noVideos: RunResult;
let baseline: number;
const dirs: string[] = [];

before(async () => {
  privateHome("winnow-run-video-home-");
  baseline = torch.liveTensors();
  root = tempDir("winnow-run-video-in-");
  dirs.push(root);
  images = await writePatternFolder(root, 4, 20);
  fs.mkdirSync(path.join(root, "cam"));
  ff("-f", "lavfi", "-i", "testsrc=size=40x24:rate=10", "-frames:v", "12", ...H264, path.join(root, "cam", "a.mp4"));
  ff("-f", "lavfi", "-i", "testsrc2=size=32x32:rate=10", "-frames:v", "10", ...H264, path.join(root, "b.mp4"));
  // All-intra, moov first, data cut in half: ~7 frames listed (packets the demuxer reads), the last
  // one cut short and undecodable (1 of 7 > corruption_threshold 0.05).
  const whole = path.join(tempDir("winnow-run-video-src-"), "cut.mp4");
  dirs.push(path.dirname(whole));
  ff("-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-frames:v", "20", ...H264, "-g", "1", "-movflags", "+faststart", whole);
  const bytes = fs.readFileSync(whole);
  fs.writeFileSync(path.join(root, "cut.mp4"), bytes.subarray(0, Math.floor(bytes.length * 0.5)));

  // Lightly's metadata layout for frames: the frame's sample name with .json (b-07-mp4.json).
  const md = path.join(root, ".lightly", "metadata");
  fs.mkdirSync(md, { recursive: true });
  fs.writeFileSync(path.join(md, "schema.json"), JSON.stringify([{ name: "Score", path: "score", defaultValue: 0, valueDataType: "NUMERIC_INT" }]));
  for (const k of [7, 8, 9]) fs.writeFileSync(path.join(md, `b-0${k}-mp4.json`), JSON.stringify({ file_name: `b-0${k}-mp4.png`, type: "image", metadata: { score: 10 } }));

  const out = tempDir("winnow-run-video-out-");
  dirs.push(out);
  first = await run({
    input: root, output: path.join(out, "first"), stream: null,
    config: tinyConfig({ worker_config: { enable_training: true, output_image_format: "jpg", corruptness_check: { corruption_threshold: 0.05 } }, selection_config: { n_samples: 6 }, lightly_config: { loader: { batch_size: 8, drop_last: true }, trainer: { gpus: 0, max_epochs: 1 } } }),
  });
  second = await run({
    input: root, output: path.join(out, "second"), stream: null,
    config: tinyConfig({ worker_config: { selected_sequence_length: 4, corruptness_check: { corruption_threshold: 1 } }, selection_config: { n_samples: 8 } }),
  });
  third = await run({
    input: root, output: path.join(out, "third"), stream: null,
    config: tinyConfig({ selection_config: { n_samples: 5, strategies: [
      { input: { type: "METADATA", key: "score" }, strategy: { type: "THRESHOLD", threshold: 5, operation: "BIGGER_EQUAL" } },
      { input: { type: "RANDOM" }, strategy: { type: "WEIGHTS" } },
    ] } }),
  });
  noVideos = await run({ input: root, output: path.join(out, "no-videos"), stream: null, config: tinyConfig({ worker_config: { videos: false }, selection_config: { n_samples: 2 } }) });
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const csvNames = (file: string): string[] => fs.readFileSync(file, "utf8").split("\r\n").filter(Boolean).slice(1).map((r) => r.split(",")[0]!);
const info = (r: RunResult): { corrupt_samples: Record<string, string>; corrupt_videos: Record<string, string> } => JSON.parse(fs.readFileSync(r.paths.corruptnessInformation, "utf8"));

test("a training run over images and videos: embeddings.csv lists frames by their Lightly names in file order", () => {
  assert.equal(first.record.state, "COMPLETED");
  const cut = info(first);
  // The cut video: more than 5% of its listed frames undecodable, so it is dropped whole with the reason.
  const cutBad = Object.keys(cut.corrupt_samples).filter((f) => f.startsWith("cut-"));
  assert.ok(cutBad.length >= 1, `undecodable frames of cut.mp4: ${cutBad.length}`);
  assert.match(cut.corrupt_videos["cut.mp4"] ?? "", new RegExp(`^corrupt_frames: ${cutBad.length} of \\d+ frames could not be decoded .*more than corruption_threshold 0\\.05$`));
  assert.ok(lines(first.paths.corruptFilenames).includes("cut.mp4"));
  const expected = [...images, ...frames("cam/a.mp4", 12), ...frames("b.mp4", 10)].sort(compareCodePoints);
  assert.deepEqual(csvNames(first.paths.embeddings), expected);
  // Training saw the same samples (the trainer's worker opens the cache without the dropped video):
  // 26 samples, batches of 8, drop_last → 3 steps (with the cut video's usable frames it would be 4).
  assert.equal(expected.length, 26);
  assert.equal(first.report.training?.stepLosses.length, 3);
  assert.equal(torch.liveTensors(), baseline);
});

test("the selected frames are exported full-size as jpg; the report shows them with their time stamps", async () => {
  const sel = lines(first.paths.selectedFilenames);
  assert.equal(sel.length, 6);
  const selFrames = sel.filter((f) => f.endsWith("-mp4.png"));
  const exported = fs.existsSync(first.paths.frames) ? fs.readdirSync(first.paths.frames, { recursive: true }).filter((f) => String(f).endsWith(".jpg")) : [];
  assert.equal(exported.length, selFrames.length);
  for (const f of selFrames) {
    const file = path.join(first.paths.frames, f.replace(/\.png$/, ".jpg"));
    const m = await sharp(file).metadata();
    assert.equal(m.format, "jpeg", f);
    assert.deepEqual([m.width, m.height], f.startsWith("cam/") ? [40, 24] : [32, 32], f);
  }
  const html = fs.readFileSync(first.paths.reportHtml, "utf8");
  const report = first.report;
  assert.equal(report.selectedFrames.length, selFrames.length);
  for (const f of selFrames) {
    const k = Number(/-(\d+)-mp4\.png$/.exec(f)![1]);
    const video = f.startsWith("cam/") ? "cam/a.mp4" : "b.mp4";
    // 10 fps: frame k is shown at k/10 s.
    assert.ok(html.includes(`data-frame="${f}"><img src="data:image/png;base64,`), `thumbnail of ${f}`);
    assert.ok(html.includes(`${video} @ ${formatFrameTime(k / 10)}`), `time stamp of ${f}: ${video} @ ${formatFrameTime(k / 10)}`);
    const rf = report.selectedFrames.find((x) => x.filename === f)!;
    assert.equal(rf.frame, k);
    assert.ok(Math.abs(rf.seconds! - k / 10) < 1e-6, `${f}: ${rf.seconds}`);
  }
  assert.match(html, /Corrupt videos \(1\)/);
});

test("sequence selection: 8 frames = 2 whole sequences of 4 consecutive frames; threshold 1 keeps the cut video's good frames; png export equals ffmpeg's decode", async () => {
  assert.equal(second.record.state, "COMPLETED");
  assert.deepEqual(info(second).corrupt_videos, {});
  const emb = csvNames(second.paths.embeddings);
  const cutGood = emb.filter((f) => f.startsWith("cut-"));
  assert.ok(cutGood.length >= 4 && cutGood.length < 20, `usable frames of cut.mp4: ${cutGood.length}`);
  assert.ok(Object.keys(info(second).corrupt_samples).some((f) => f.startsWith("cut-")), "its undecodable frames are still listed");
  const sel = lines(second.paths.selectedFilenames);
  assert.equal(sel.length, 8);
  for (let s = 0; s < 2; s++) {
    const seq = sel.slice(4 * s, 4 * s + 4).map((f) => /^(.*)-(\d+)-mp4\.png$/.exec(f)!);
    const start = Number(seq[0]![2]);
    assert.equal(start % 4, 0, `sequence ${s} starts at a multiple of 4: ${sel.join(" ")}`);
    seq.forEach((m, k) => {
      assert.equal(m[1], seq[0]![1], "one video");
      assert.equal(Number(m[2]), start + k, "consecutive frames");
    });
  }
  // Exported as png: pixel-equal to ffmpeg's own decode of that frame.
  const f = sel[0]!;
  const m = /^(.*)-(\d+)-mp4\.png$/.exec(f)!;
  const ref = path.join(tempDir("winnow-run-video-ref-"), "ref.png");
  dirs.push(path.dirname(ref));
  ff("-i", path.join(root, `${m[1]}.mp4`), "-vf", `select='eq(n\\,${Number(m[2])})'`, "-fps_mode", "passthrough", "-frames:v", "1", ref);
  const ours = await sharp(path.join(second.paths.frames, f)).raw().toBuffer();
  assert.deepEqual(ours, await sharp(ref).raw().toBuffer());
});

test("metadata of frames is read from .lightly/metadata under the frame's name", () => {
  assert.equal(third.record.state, "COMPLETED");
  // Only the three frames with a metadata file pass the threshold (the others get the default 0).
  assert.deepEqual(lines(third.paths.selectedFilenames).sort(), ["b-07-mp4.png", "b-08-mp4.png", "b-09-mp4.png"]);
});

test("worker_config.videos false: video files are ignored, as before videos were read", () => {
  assert.equal(noVideos.record.state, "COMPLETED");
  assert.deepEqual(csvNames(noVideos.paths.embeddings), images);
  assert.deepEqual(info(noVideos), { corrupt_samples: {} });
  assert.equal(fs.existsSync(noVideos.paths.frames), false);
});

test("predictions of frames are read from .lightly/predictions/<task>/ under the frame's name with .json", () => {
  const dir = tempDir("winnow-run-video-preds-");
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, "tasks.json"), JSON.stringify(["weather"]));
  fs.mkdirSync(path.join(dir, "weather", "cam"), { recursive: true });
  fs.writeFileSync(path.join(dir, "weather", "schema.json"), JSON.stringify({ task_type: "classification", categories: [{ id: 0, name: "sun" }, { id: 1, name: "rain" }] }));
  const name = frameName("cam/a.mp4", 3, 12); // cam/a-03-mp4.png
  fs.writeFileSync(path.join(dir, "weather", "cam", "a-03-mp4.json"), JSON.stringify({ file_name: name, predictions: [{ category_id: 1, probabilities: [0.2, 0.8] }] }));
  const p = readTaskPredictions(dir, "weather", [name, frameName("cam/a.mp4", 4, 12)]);
  assert.deepEqual(p.issues, []);
  assert.equal(p.images.get(name)?.[0]?.categoryId, 1);
  assert.deepEqual(p.images.get(name)?.[0]?.probabilities, [0.2, 0.8]);
  assert.equal(p.images.size, 1);
  assert.deepEqual(p.missing, ["cam/a-04-mp4.png"]);
});

test("2 ranks (winnow run --nproc-per-node 2): every rank drops the corrupt video, so both train on the same 26 samples", { timeout: 240_000 }, async () => {
  const home = tempDir("winnow-run-video-ranks-");
  dirs.push(home);
  const cfg = tinyConfig({
    worker_config: { enable_training: true, corruptness_check: { corruption_threshold: 0.05 } }, selection_config: { n_samples: 4 },
    lightly_config: { loader: { batch_size: 4, drop_last: true }, trainer: { gpus: 0, max_epochs: 1 } },
  });
  fs.writeFileSync(path.join(home, "run.json"), JSON.stringify(cfg));
  const out = path.join(home, "out");
  // With a rank still holding the cut video's usable frames, the ranks' shards (and steps) differ and
  // their collectives no longer pair: the run fails or hangs until the 60 s timeout.
  const r = await runWinnow(["run", root, "-c", path.join(home, "run.json"), "--nproc-per-node", "2", "--dist-timeout", "60", "-o", out, "-q"],
    { env: { ...process.env, WINNOW_HOME: home, TMPDIR: home } });
  assert.equal(r.code, 0, r.stderr);
  const expected = [...images, ...frames("cam/a.mp4", 12), ...frames("b.mp4", 10)].sort(compareCodePoints);
  assert.deepEqual(csvNames(path.join(out, "data", "embeddings.csv")), expected);
  const report = JSON.parse(fs.readFileSync(path.join(out, "report.json"), "utf8"));
  // 26 samples over 2 ranks = shards of 13, batch 4 per rank, drop_last → 3 steps (with the cut video's frames on one rank: 4 there).
  assert.equal(report.training.stepLosses.length, 3);
});
