// Videos as frames in the decode-once cache (issue 25 part 1): clips made here with ffmpeg's lavfi
// testsrc (tiny: 48x32, ≤ 20 frames), decoded through the cache and compared with ffmpeg's own PNG decode.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { buildImageCache } from "../src/data/cache.js";
import { frameName } from "../src/data/video/names.js";
import { probeVideo } from "../src/data/video/probe.js";
import { decodeFrames } from "../src/data/video/frames.js";
import { listFolderWithVideos } from "../src/data/video/listing.js";
import { solid, tempDir, write } from "./helpers/data-images.js";
import { ff, ffmpegPngs as ffmpegPngsIn, ourFrames as ourFramesWith, maxAbsDiff } from "./helpers/data-video.js";

const dirs: string[] = [];
const mk = (): string => {
  const d = tempDir("winnow-video-");
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A testsrc clip of `frames` frames at 48x32, 10 fps. */
function clip(file: string, frames: number, codec: string[]): string {
  ff("-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", String(frames), ...codec, file);
  return file;
}
const H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
const VP9 = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p"];
const MPEG4 = ["-c:v", "mpeg4", "-q:v", "3"];
const S = 16;
const opts = { size: S, kernel: "lanczos3" as const, threads: 1, timeoutMs: 30_000 };

/** ffmpeg's own decode to PNG files at S×S (same squash, written out by the test), read back as RGB. */
const ffmpegPngs = (file: string): Promise<Buffer[]> => ffmpegPngsIn(file, mk(), `format=rgb24,scale=${S}:${S}:flags=lanczos:param0=3`);
const ourFrames = (file: string): Promise<{ frames: Buffer[]; error: string | null }> => ourFramesWith(file, opts);

describe("video frames", () => {
  const src = mk();
  const clips: [string, string[], number, string][] = [
    ["h264.mp4", H264, 12, "h264"],
    ["vp9.webm", VP9, 10, "vp9"],
    ["mpeg4.avi", MPEG4, 7, "mpeg4"],
    ["h264.mov", H264, 5, "h264"],
  ];

  for (const [name, codec, n, codecName] of clips) {
    test(`${name}: frame count and pixels equal ffmpeg's PNG decode (max |diff| ≤ 1)`, async () => {
      const file = clip(path.join(src, name), n, codec);
      const info = await probeVideo(file);
      assert.deepEqual([info.frames, info.width, info.height, info.rotation, info.codec], [n, 48, 32, 0, codecName]);
      assert.ok(Math.abs(info.durationS - n / 10) < 0.11, `duration ${info.durationS}`);
      const ref = await ffmpegPngs(file);
      const ours = await ourFrames(file);
      assert.equal(ours.error, null);
      assert.equal(ref.length, n);
      assert.equal(ours.frames.length, n);
      for (let k = 0; k < n; k++) assert.ok(maxAbsDiff(ours.frames[k]!, ref[k]!) <= 1, `frame ${k}`);
      // testsrc moves: consecutive frames differ, so an off-by-one frame order would fail above.
      assert.ok(maxAbsDiff(ours.frames[0]!, ours.frames[1]!) > 0);
    });
  }

  test("the squash to S×S is close to the image path (sharp lanczos3 on the full-size frame)", async () => {
    const file = clip(path.join(src, "squash.mp4"), 3, H264);
    const out = mk();
    ff("-i", file, "-fps_mode", "passthrough", "-pix_fmt", "rgb24", path.join(out, "f%02d.png"));
    const viaSharp = await sharp(path.join(out, "f01.png")).resize(S, S, { fit: "fill", kernel: "lanczos3" }).raw().toBuffer();
    const ours = (await ourFrames(file)).frames[0]!;
    let sum = 0;
    for (let i = 0; i < ours.length; i++) sum += Math.abs(ours[i]! - viaSharp[i]!);
    // Measured 2.06 levels mean (swscale and libvips place lanczos taps slightly differently); scaling
    // in yuv420p instead (chroma at S/2) measured 14.4.
    assert.ok(sum / ours.length < 4, `mean |diff| ${sum / ours.length}`);
  });

  test("variable frame rate (mkv): every frame once, none duplicated to a constant rate", async () => {
    const file = path.join(src, "vfr.mkv");
    // Frames 0–3 every 0.1 s, then every 0.3 s (a CFR output would duplicate frames: 15 instead of 8).
    ff("-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", "8", "-vf", "setpts='if(lt(N,4),N,4+(N-4)*3)/10/TB'", "-fps_mode", "vfr", ...H264, file);
    const info = await probeVideo(file);
    assert.equal(info.frames, 8);
    const ref = await ffmpegPngs(file);
    const ours = (await ourFrames(file)).frames;
    assert.equal(ref.length, 8);
    assert.equal(ours.length, 8);
    for (let k = 0; k < 8; k++) assert.ok(maxAbsDiff(ours[k]!, ref[k]!) <= 1, `frame ${k}`);
  });

  test("every cache kernel has a working swscale equivalent", async () => {
    const file = clip(path.join(src, "kernels.mp4"), 2, H264);
    const seen = new Set<string>();
    for (const kernel of ["nearest", "linear", "cubic", "mitchell", "lanczos2", "lanczos3"] as const) {
      let first = "";
      const r = await decodeFrames(file, { ...opts, kernel }, (k, px) => {
        if (k === 0) first = Buffer.from(px).toString("base64");
      });
      assert.deepEqual([r.decoded, r.error], [2, null], kernel);
      seen.add(first);
    }
    assert.ok(seen.size >= 4, `kernels give different pixels (${seen.size} distinct)`);
  });

  test("rotation flag: probed, applied (display size swapped), pixels equal ffmpeg's PNG decode", async () => {
    const plain = clip(path.join(src, "plain.mp4"), 4, H264);
    const rotated = path.join(src, "rotated.mp4");
    ff("-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated);
    const info = await probeVideo(rotated);
    assert.equal(Math.abs(info.rotation), 90);
    assert.deepEqual([info.width, info.height], [32, 48]);
    const ref = await ffmpegPngs(rotated);
    const ours = (await ourFrames(rotated)).frames;
    assert.equal(ours.length, 4);
    for (let k = 0; k < 4; k++) assert.ok(maxAbsDiff(ours[k]!, ref[k]!) <= 1, `frame ${k}`);
    const unrotated = (await ourFrames(plain)).frames[0]!;
    assert.ok(maxAbsDiff(ours[0]!, unrotated) > 20, "rotation applied");
  });

  test("Lightly frame names: <video stem>-<index padded to the digits of the count>-<ext>.png", () => {
    assert.equal(frameName("clip.mp4", 3, 12), "clip-03-mp4.png");
    assert.equal(frameName("a/b/clip.mp4", 0, 9), "a/b/clip-0-mp4.png");
    assert.equal(frameName("x.y.MOV", 7, 100), "x.y-007-MOV.png");
    assert.equal(frameName("v.webm", 99, 100), "v-099-webm.png");
    assert.throws(() => frameName("v.webm", 100, 100), RangeError);
  });
});

describe("video cache build", () => {
  test("a folder mixing a video, images, a zero-byte and two truncated videos", async () => {
    const root = mk();
    const v = clip(path.join(root, "walk.mp4"), 12, H264);
    write(root, "a.png", await solid("png", 20, 10, [200, 10, 10]));
    write(root, "z.jpg", await solid("jpeg", 8, 8, [10, 200, 10]));
    write(root, "empty.mp4", new Uint8Array(0));
    const long = clip(path.join(mk(), "long.mp4"), 20, H264);
    const whole = fs.readFileSync(long);
    // moov at the end (ffmpeg's default): cut, the container cannot be opened at all.
    write(root, "cut-header.mp4", whole.subarray(0, Math.floor(whole.length * 0.7)));
    // moov first (faststart): cut, the frames whose data is gone are listed but cannot be decoded.
    const fastFile = path.join(mk(), "fast.mp4");
    ff("-i", long, "-c", "copy", "-movflags", "+faststart", fastFile);
    const fast = fs.readFileSync(fastFile);
    write(root, "cut-data.mp4", fast.subarray(0, Math.floor(fast.length * 0.8)));

    const listing = await listFolderWithVideos(root, { threads: 1 });
    const cutFrames = listing.filenames.filter((f) => f.startsWith("cut-data-"));
    assert.ok(cutFrames.length >= 2, `cut-data frames listed: ${cutFrames.length}`);

    const cacheDir = mk();
    const cache = await buildImageCache(root, { cacheDir, resolution: S, videos: { threads: 1 }, concurrency: 2 });
    try {
      const walk = Array.from({ length: 12 }, (_, k) => frameName("walk.mp4", k, 12));
      for (const f of ["a.png", "z.jpg", ...walk]) assert.ok(cache.filenames.includes(f), f);
      const corrupt = new Map(cache.corruptFilenames.map((c) => [c.filename, c]));
      assert.equal(corrupt.get("empty.mp4")?.code, "empty");
      assert.match(corrupt.get("cut-header.mp4")?.reason ?? "", /probe failed: opening: .*(moov|Invalid data)/);
      const cutFailed = cutFrames.filter((f) => corrupt.has(f));
      assert.ok(cutFailed.length >= 1, "some frames of the cut video fail");
      assert.ok(cutFailed.length < cutFrames.length, "the frames before the cut are kept");
      assert.match(corrupt.get(cutFailed[0]!)!.reason, /^video "cut-data\.mp4": frame \d+ of \d+ not decoded/);
      // Pixels in the cache equal a direct decode of the video; original size recorded per frame.
      const direct = (await ourFrames(v)).frames;
      const idx = walk.map((f) => cache.filenames.indexOf(f));
      const batch = cache.readBatch(idx);
      for (let k = 0; k < 12; k++) {
        assert.deepEqual(batch.data.subarray(k * S * S * 3, (k + 1) * S * S * 3), direct[k]!, `frame ${k}`);
        assert.deepEqual([batch.origSizes[2 * k], batch.origSizes[2 * k + 1]], [48, 32]);
      }
      assert.equal(cache.stats.failed, 2 + cutFailed.length);
    } finally {
      cache.close();
    }
    // Unchanged videos are not decoded again.
    const again = await buildImageCache(root, { cacheDir, resolution: S, videos: { threads: 1 } });
    try {
      assert.equal(again.stats.decoded, 0);
      assert.equal(again.length, 2 + 12 + cutFrames.length - (again.stats.failed - 2));
    } finally {
      again.close();
    }
  });

  test("limits: the pixel limit applies to frames, the file-size limit does not (first build and reuse alike)", async () => {
    const root = mk();
    clip(path.join(root, "v.mp4"), 3, H264);
    const cacheDir = mk();
    const small = await buildImageCache(root, { cacheDir, resolution: S, videos: { threads: 1 }, maxPixels: 48 * 32 - 1, maxFileBytes: 10 });
    try {
      assert.equal(small.length, 0);
      assert.deepEqual(small.corruptFilenames.map((c) => c.code), ["too_many_pixels", "too_many_pixels", "too_many_pixels"]);
    } finally {
      small.close();
    }
    for (let run = 0; run < 2; run++) {
      const c = await buildImageCache(root, { cacheDir, resolution: S, videos: { threads: 1 }, maxFileBytes: 10 });
      try {
        assert.deepEqual(c.filenames, ["v-0-mp4.png", "v-1-mp4.png", "v-2-mp4.png"], `run ${run}`);
        assert.equal(c.stats.decoded, run === 0 ? 3 : 0);
      } finally {
        c.close();
      }
    }
  });

  test("without the videos option, video files are not taken", async () => {
    const root = mk();
    clip(path.join(root, "v.mp4"), 3, H264);
    write(root, "a.png", await solid("png", 4, 4, [1, 2, 3]));
    const cache = await buildImageCache(root, { cacheDir: mk(), resolution: S });
    try {
      assert.deepEqual(cache.filenames, ["a.png"]);
    } finally {
      cache.close();
    }
  });
});
