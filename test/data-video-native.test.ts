// The video addon (native/video/video.c) against its oracle, the ffmpeg command it replaces
// (frames.ts decodeArgs, and `-pix_fmt rgb24` for full-size frames, run here by the CLI): the same
// frames byte for byte through the pre-shrink, rotation flags, a size change mid-stream and a cut file; deadlines, untrusted inputs and misuse of
// a decoder handle give errors, never a crash; open/decode/close cycles do not grow memory.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { decodeArgs, decodeFrames, scaleFilter } from "../src/data/video/frames.js";
import { decodeFullFrames } from "../src/data/video/full-frames.js";
import { probeVideo } from "../src/data/video/probe.js";
import { frameTimes } from "../src/data/video/times.js";
import { videoAddon } from "../src/data/video/native.js";
import { ImageDecodeError } from "../src/data/decode-error.js";
import { tempDir } from "./helpers/data-images.js";
import { ff, ourFrames } from "./helpers/data-video.js";

const dirs: string[] = [];
const mk = (): string => {
  const d = tempDir("winnow-video-native-");
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
const S = 24; // pre-shrink to 72 wide: frames of 320×180 go through the whole chain
const opts = { size: S, kernel: "lanczos3" as const, threads: 2, timeoutMs: 30_000 };

/** The CLI's frames for the same decode (decodeArgs to a pipe), split per frame; also its exit status. */
function cliFrames(file: string): Buffer[] {
  let out: Buffer;
  try {
    out = execFileSync("ffmpeg", decodeArgs(file, opts), { maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "ignore"] });
  } catch (e) {
    out = (e as { stdout: Buffer }).stdout; // a cut file: ffmpeg may exit non-zero after the frames it could decode
  }
  const stride = S * S * 3;
  return Array.from({ length: Math.floor(out.length / stride) }, (_, k) => out.subarray(k * stride, (k + 1) * stride));
}

function assertSameFrames(ours: Buffer[], cli: Buffer[], what: string): void {
  assert.equal(ours.length, cli.length, `${what}: frame count`);
  for (let k = 0; k < cli.length; k++) assert.ok(ours[k]!.equals(cli[k]!), `${what}: frame ${k} differs from the CLI's`);
}

describe("video addon", () => {
  const src = mk();
  const clip = (name: string, frames: number, size = "320x180", codec = H264, extra: string[] = []): string => {
    const file = path.join(src, name);
    ff("-f", "lavfi", "-i", `testsrc2=size=${size}:rate=25`, "-frames:v", String(frames), ...codec, ...extra, file);
    return file;
  };

  /** One VP9 WebM of segments of other sizes, joined by stream copy (VP9 changes size at a keyframe). */
  const vp9Segments = (name: string, ...parts: [number, string][]): string => {
    const files = parts.map(([frames, size], k) => clip(`${name}-${k}.webm`, frames, size, ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p"]));
    const list = path.join(src, `${name}.txt`);
    fs.writeFileSync(list, files.map((f) => `file '${f}'\n`).join(""));
    const out = path.join(src, `${name}.webm`);
    ff("-f", "concat", "-safe", "0", "-i", list, "-c", "copy", out);
    return out;
  };

  test("frames equal the ffmpeg command's byte for byte: plain, 90°, 180° and 270° rotation flags, odd size, VP9 in WebM", async () => {
    const plain = clip("plain.mp4", 20);
    const cases: [string, string][] = [["plain", plain], ["odd size", clip("odd.mkv", 9, "161x97")], ["vp9", clip("vp9.webm", 8, "200x120", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p"])]];
    for (const deg of [90, 180, 270]) {
      const f = path.join(src, `rot${deg}.mp4`);
      ff("-i", plain, "-c", "copy", "-metadata:s:v:0", `rotate=${deg}`, f);
      cases.push([`rotate=${deg}`, f]);
    }
    for (const [what, file] of cases) {
      const ours = await ourFrames(file, opts);
      assert.equal(ours.error, null, what);
      assertSameFrames(ours.frames, cliFrames(file), what);
    }
    const info = await probeVideo(path.join(src, "rot90.mp4"));
    assert.deepEqual([Math.abs(info.rotation), info.width, info.height, info.frames], [90, 180, 320, 20]);
  });

  test("full-size frames (crops, lightly.* metadata) equal `ffmpeg -pix_fmt rgb24`'s byte for byte; want/last pick and stop", async () => {
    const plain = clip("full.mp4", 12, "176x144");
    const rotated = path.join(src, "full-rot.mp4");
    ff("-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=270", rotated);
    for (const [file, w, h] of [[plain, 176, 144], [rotated, 144, 176]] as const) {
      const cli = execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-i", file, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], { maxBuffer: 64 << 20 });
      const stride = w * h * 3;
      const got: Buffer[] = [];
      const r = await decodeFullFrames(file, { width: w, height: h, threads: 2, timeoutMs: 30_000 }, async (k, px) => {
        await new Promise((res) => setTimeout(res, 1)); // an async consumer: the decode waits for it
        assert.equal(k, got.length);
        got.push(Buffer.from(px));
      });
      assert.deepEqual([r.decoded, r.error, got.length, cli.length], [12, null, 12, 12 * stride], file);
      for (let k = 0; k < 12; k++) assert.ok(got[k]!.equals(cli.subarray(k * stride, (k + 1) * stride)), `${path.basename(file)} frame ${k}`);
    }
    const picked: number[] = [];
    const r = await decodeFullFrames(plain, { width: 176, height: 144, threads: 1, timeoutMs: 30_000, want: (k) => k % 3 === 1, last: 7 }, (k) => void picked.push(k));
    assert.deepEqual([picked, r.decoded, r.error], [[1, 4, 7], 8, null]);
  });

  test("frame times: the packets' time stamps in display order from the first frame, as ffprobe lists them", async () => {
    const vfr = path.join(src, "times-vfr.mkv");
    ff("-f", "lavfi", "-i", "testsrc=size=48x32:rate=10", "-frames:v", "8", "-vf", "setpts='if(lt(N,4),N,4+(N-4)*3)/10/TB'", "-fps_mode", "vfr", ...H264, vfr);
    const bframes = clip("times-b.mp4", 15, "64x48", [...H264, "-bf", "2"]); // stored out of display order
    for (const file of [vfr, bframes]) {
      const csv = execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", file], { encoding: "utf8" });
      const pts = csv.split("\n").filter((l) => l.trim()).map(Number).sort((a, b) => a - b);
      const ours = await frameTimes(file);
      assert.equal(ours.length, pts.length, file);
      for (let k = 0; k < pts.length; k++) assert.ok(Math.abs(ours[k]! - (pts[k]! - pts[0]!)) < 1e-6, `${path.basename(file)} frame ${k}: ${ours[k]} vs ${pts[k]! - pts[0]!}`);
    }
    const t = await frameTimes(vfr);
    assert.ok(t[7]! - t[6]! > 2 * (t[1]! - t[0]!), `variable gaps: ${t.join(", ")}`);
  });

  test("a size change mid-stream (VP9 segments of two sizes): the graph is rebuilt, as the CLI does", async () => {
    const joined = vp9Segments("joined", [6, "320x180"], [5, "160x120"]);
    const ours = await ourFrames(joined, opts);
    const cli = cliFrames(joined);
    assert.equal(cli.length, 11);
    assertSameFrames(ours.frames, cli, "joined");
  });

  test("maxPixels: frames larger than the limit are not decoded, even where the header promised a small size", async () => {
    const grow = vp9Segments("grow", [5, "160x120"], [6, "320x180"]);
    const info = await probeVideo(grow);
    assert.deepEqual([info.width, info.height, info.frames], [160, 120, 11], "the header gives the first size");
    // The decoder checks its padded buffer size (measured: 160×120 VP9 fails at 19,200, passes at 30,000).
    const limited = await decodeFrames(grow, { ...opts, maxPixels: 30_000 }, () => {});
    assert.equal(limited.decoded, 5);
    assert.match(limited.error ?? "", /^the decoder reported: /);
    const unlimited = await decodeFrames(grow, opts, () => {});
    assert.deepEqual([unlimited.decoded, unlimited.error], [11, null]);
    // Full-size frames are limited by the probed size itself (2× + a megapixel): 1280×960 after 160×120 is refused.
    const huge = vp9Segments("huge", [3, "160x120"], [2, "1280x960"]);
    const full = await decodeFullFrames(huge, { width: 160, height: 120, threads: 1, timeoutMs: 30_000 }, () => {});
    assert.equal(full.decoded, 3);
    assert.match(full.error ?? "", /^the decoder reported: error while decoding/, "refused by the decoder, not decoded and then found too large");
  });

  test("a file cut in the middle: the frames before the cut, equal to the CLI's, and the problem reported", async () => {
    const whole = clip("whole.mkv", 40);
    const bytes = fs.readFileSync(whole);
    const cut = path.join(src, "cut.mkv");
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const ours = await ourFrames(cut, opts);
    const cli = cliFrames(cut);
    assert.ok(cli.length > 5 && cli.length < 40, `the CLI decoded ${cli.length}`);
    assertSameFrames(ours.frames, cli, "cut");
  });

  test("deadline: a decode past timeoutMs stops with the reason; a probe past it is a corrupt-file record", async () => {
    const long = clip("long.mp4", 150);
    let n = 0;
    const r = await decodeFrames(long, { ...opts, timeoutMs: 40 }, () => n++);
    assert.equal(r.decoded, n);
    assert.ok(n < 150, `${n} frames within 40 ms`);
    assert.match(r.error ?? "", /^decoding did not finish within 40 ms$/);
    await assert.rejects(probeVideo(long, 0.001), (e: unknown) => e instanceof ImageDecodeError && e.code === "corrupt" && /probing did not finish within 0\.001 ms/.test(e.message));
  });

  test("untrusted input: a playlist named .mp4 is refused by name, its target never opened; junk is corrupt", async () => {
    const target = clip("secret.mp4", 3);
    const trap = path.join(src, "trap.mp4");
    fs.writeFileSync(trap, `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${target}\n#EXT-X-ENDLIST\n`);
    await assert.rejects(probeVideo(trap), (e: unknown) => e instanceof ImageDecodeError && e.code === "unsupported" && /ffmpeg's hls demuxer/.test(e.message));
    const r = await decodeFrames(trap, opts, () => assert.fail("no frame of the playlist's target"));
    assert.equal(r.decoded, 0);
    assert.match(r.error ?? "", /^cannot decode: opening: \[hls\] Format not on whitelist/);
    const junk = path.join(src, "junk.mp4");
    fs.writeFileSync(junk, Buffer.alloc(5000, 7));
    await assert.rejects(probeVideo(junk), (e: unknown) => e instanceof ImageDecodeError && e.code === "corrupt" && /^probe failed: opening: /.test(e.message));
  });

  test("a decoder handle: wrong arguments, a read while one runs and a read after close are errors", async () => {
    const v = videoAddon();
    const file = clip("h.mp4", 5);
    const d = await v.open(file, scaleFilter(S, "lanczos3"), S, S, 1, 10_000);
    const buf = Buffer.alloc(2 * S * S * 3);
    assert.throws(() => v.read(d, Buffer.alloc(10), 1), /read\(decoder, buffer/);
    const first = v.read(d, buf, 2);
    assert.throws(() => v.read(d, buf, 1), /busy/);
    assert.throws(() => v.close(d), /busy/);
    assert.equal((await first).frames, 2);
    v.close(d);
    assert.throws(() => v.read(d, buf, 1), /closed/);
    v.close(d); // twice: nothing to free
    assert.throws(() => v.open(file, "scale=8:8", 0, 8, 1, 1000), /open\(path/);
    await assert.rejects(v.open(file, "nosuchfilter", S, S, 1, 10_000).then((h) => v.read(h, buf, 1)).then((r) => {
      throw new Error(r.error ?? "no error");
    }), /filter graph/);
  });

  test("an exception from onFrame stops the decode and is rethrown (the batch decoding meanwhile ends first)", async () => {
    const file = clip("throw.mp4", 60);
    let seen = 0;
    await assert.rejects(decodeFrames(file, { ...opts, size: 8 }, (k) => {
      seen++;
      if (k === 20) throw new Error("stop at 20");
    }), /stop at 20/);
    assert.equal(seen, 21);
  });

  test("open/decode/close cycles leave memory flat", async () => {
    const file = clip("cycle.mp4", 10);
    const cycle = async (): Promise<void> => {
      const r = await decodeFrames(file, opts, () => {});
      assert.equal(r.decoded, 10);
    };
    for (let i = 0; i < 20; i++) await cycle();
    global.gc?.();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 150; i++) await cycle();
    global.gc?.();
    const grown = (process.memoryUsage().rss - before) / (1 << 20);
    // A leaked decoder (libavcodec's frame pools, x264-sized buffers) is ~1 MiB each: 150 would be > 100 MiB.
    assert.ok(grown < 30, `RSS grew ${grown.toFixed(1)} MiB over 150 decodes`);
  });
});
