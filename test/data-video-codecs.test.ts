// Videos, part 2 (issue 25): more codecs (H.265, AV1), an odd frame size, containers whose stream
// header gives no frame count or duration (written to a pipe), and frames larger than 3S (the
// bilinear pre-shrink before the kernel). Clips are tiny testsrc videos made here with ffmpeg.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { probeVideo } from "../src/data/video/probe.js";
import { preShrinkWidth, scaleFilter } from "../src/data/video/frames.js";
import { tempDir } from "./helpers/data-images.js";
import { ff, ffmpegPngs, maxAbsDiff, meanAbsDiff, ourFrames } from "./helpers/data-video.js";

const dirs: string[] = [];
const mk = (): string => {
  const d = tempDir("winnow-video-codecs-");
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const S = 16;
const opts = { size: S, kernel: "lanczos3" as const, threads: 1, timeoutMs: 30_000 };
/** The squash written out the one-step way (frames here are ≤ 3S, so the pre-shrink does nothing). */
const ONE_STEP = `format=rgb24,scale=${S}:${S}:flags=lanczos:param0=3`;
const src = mk();

async function sameAsFfmpeg(file: string, n: number): Promise<Buffer[]> {
  const ref = await ffmpegPngs(file, mk(), ONE_STEP);
  const ours = await ourFrames(file, opts);
  assert.equal(ours.error, null);
  assert.equal(ref.length, n);
  assert.equal(ours.frames.length, n);
  for (let k = 0; k < n; k++) assert.ok(maxAbsDiff(ours.frames[k]!, ref[k]!) <= 1, `frame ${k}`);
  assert.ok(maxAbsDiff(ours.frames[0]!, ours.frames[1]!) > 0, "consecutive frames differ (order is checked)");
  return ours.frames;
}

describe("video codecs and headers", () => {
  const cases: [string, string, string[], number, string][] = [
    ["h265.mp4", "48x32", ["-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p"], 5, "hevc"],
    ["av1.webm", "48x32", ["-c:v", "libaom-av1", "-cpu-used", "8", "-pix_fmt", "yuv420p"], 5, "av1"],
    ["av1.mkv", "48x32", ["-c:v", "libaom-av1", "-cpu-used", "8", "-pix_fmt", "yuv420p"], 4, "av1"],
    // Odd sizes need a chroma format without subsampling.
    ["odd.mp4", "33x17", ["-c:v", "libx264", "-pix_fmt", "yuv444p"], 5, "h264"],
  ];
  for (const [name, size, codec, n, codecName] of cases) {
    test(`${name} (${codecName}, ${size}): frame count and pixels equal ffmpeg's PNG decode (max |diff| ≤ 1)`, async () => {
      const file = path.join(src, name);
      ff("-f", "lavfi", "-i", `testsrc=size=${size}:rate=10`, "-frames:v", String(n), ...codec, file);
      const info = await probeVideo(file);
      const [w, h] = size.split("x").map(Number);
      assert.deepEqual([info.frames, info.width, info.height, info.codec], [n, w, h, codecName]);
      await sameAsFfmpeg(file, n);
    });
  }

  test("stream headers without a frame count or duration (written to a pipe): frames counted by demuxing", async () => {
    for (const [name, format] of [["pipe.mkv", "matroska"], ["pipe.avi", "avi"]]) {
      const file = path.join(src, name);
      const bytes = execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-threads", "1", "-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", format, "pipe:1"], { maxBuffer: 16 << 20 });
      fs.writeFileSync(file, bytes);
      const header = JSON.parse(execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_streams", "-show_format", "-of", "json", file], { encoding: "utf8" }));
      const s = header.streams[0];
      // What makes these cases: the headers do not give the count (mkv: neither count nor duration;
      // avi from a pipe: a placeholder count and a wrong duration).
      if (format === "matroska") assert.deepEqual([s.nb_frames, s.duration, header.format.duration], [undefined, undefined, undefined]);
      else assert.notEqual(Number(s.nb_frames), 6);
      const info = await probeVideo(file);
      assert.equal(info.frames, 6, name);
      if (format === "matroska") assert.ok(Number.isNaN(info.durationS), `duration ${info.durationS}`);
      await sameAsFfmpeg(file, 6);
    }
  });

  test("the pre-shrink width: 3S rounded up to even, +4 when a multiple of 16 (FFmpeg's slow AVX2 row scaler)", () => {
    assert.deepEqual([16, 21, 36, 64, 72, 144].map(preShrinkWidth), [52, 68, 108, 196, 216, 436]);
    assert.match(scaleFilter(72, "lanczos3"), /^scale='min\(iw,216\)':'min\(ih,216\)':flags=bilinear,/);
  });

  test("frames larger than 3S: pre-shrunk, still close to sharp's lanczos3 on the full frame and to a one-step squash", async () => {
    const file = path.join(src, "big.mp4");
    ff("-f", "lavfi", "-i", "testsrc2=size=320x192:rate=10", "-frames:v", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", file);
    const full = mk();
    ff("-i", file, "-fps_mode", "passthrough", "-pix_fmt", "rgb24", path.join(full, "f%02d.png"));
    const ours = await ourFrames(file, opts);
    assert.equal(ours.error, null);
    assert.equal(ours.frames.length, 3);
    const oneStep = await ffmpegPngs(file, mk(), ONE_STEP);
    for (let k = 0; k < 3; k++) {
      const viaSharp = await sharp(path.join(full, `f0${k + 1}.png`)).resize(S, S, { fit: "fill", kernel: "lanczos3" }).raw().toBuffer();
      const d = meanAbsDiff(ours.frames[k]!, viaSharp);
      const d1 = meanAbsDiff(ours.frames[k]!, oneStep[k]!);
      assert.ok(d < 4, `frame ${k}: mean |diff| vs sharp ${d}`);
      assert.ok(d1 < 4, `frame ${k}: mean |diff| vs one-step lanczos3 ${d1}`);
      assert.ok(d1 > 0, "the pre-shrink is applied (differs from the one-step squash)");
    }
  });
});
