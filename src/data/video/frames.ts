// Decoding a video's frames straight into S×S RGB, in process (FFmpeg's libraries through the video
// addon, native/video/video.c; no temporary files), squashed to S×S like the image path (aspect
// ratio ignored), every decoded frame kept (as the CLI's `-fps_mode passthrough`: no frame duplicated
// or dropped for a constant rate), and rotation flags applied (the CLI's autorotate). decodeArgs is
// the equivalent ffmpeg command: the oracle of the tests and the bench's CLI comparison.
import type { DecodeOptions } from "../decode.js";
import { INPUT_GUARD } from "./cli.js";
import { fileError, noteVideoCall, videoAddon, type NativeRead } from "./native.js";

export interface FrameDecodeOptions extends Pick<RgbDecodeOptions, "threads" | "timeoutMs" | "maxPixels"> {
  /** S: frames come out S×S. */
  size: number;
  kernel: DecodeOptions["kernel"];
}

export interface FrameDecodeResult {
  /** Frames delivered to onFrame. */
  decoded: number;
  /** Why decoding stopped early or reported errors (the decoder's last complaint, the deadline); null when clean. */
  error: string | null;
}

/** swscale flags for the cache's resampling kernels (the nearest equivalent of sharp's). */
const SWS_FLAGS: Record<DecodeOptions["kernel"], string> = {
  nearest: "neighbor",
  linear: "bilinear",
  cubic: "bicubic",
  mitchell: "bicubic:param0=1/3:param1=1/3",
  lanczos2: "lanczos:param0=2",
  lanczos3: "lanczos:param0=3",
};

/**
 * The pre-shrink's target width, about 3S: 3S rounded up to even (an odd 4:2:0 width came out wrong,
 * 10.7 levels off at 49 wide), plus 4 when that is a multiple of 16 (its chroma width, half, is then
 * not one either). FFmpeg 5.1 scales rows with its AVX2 code (gathers) when the output width is a
 * multiple of 16, and on our AMD EPYC that took twice the CPU of the SSSE3 code (1080p to 192 wide:
 * 1.04 ms a frame, to 196: 0.57; bench/video-squash.ts). S = 36 and 72 give 108 and 216 as before.
 */
export function preShrinkWidth(size: number): number {
  const p = 3 * size + ((3 * size) % 2);
  return p % 16 === 0 ? p + 4 : p;
}

/** The planar YUV formats the pre-shrink may keep (ffmpeg picks the input's own, so 4:4:4 keeps its chroma). */
const PRE_FORMATS = "yuv420p|yuvj420p|yuv422p|yuvj422p|yuv444p|yuvj444p|gray";

/**
 * The filter chain from a decoded frame to S×S rgb24, squashed like the image path (sharp's kernel on
 * the full frame, aspect ratio ignored).
 */
export function scaleFilter(size: number, kernel: DecodeOptions["kernel"]): string {
  // RGB before the kernel: scaling yuv420p straight to S would leave the chroma at S/2 (colours
  // smeared at small S). The kernel writes planar gbrp, packed to rgb24 by a plain copy: the same
  // bytes as writing rgb24, but swscale's packed-RGB writer is slower (S=72: 0.13 ms a frame more).
  const final = `format=rgb24,scale=${size}:${size}:flags=${SWS_FLAGS[kernel]},format=gbrp,format=rgb24`;
  if (kernel === "nearest") return final; // one tap: nothing to save, and no blur added
  // A frame wider or taller than ~3S is first shrunk to at most ~3S×3S with bilinear, still in YUV
  // (4:2:0 chroma then ≥ 1.5S): the kernel's taps grow with the ratio, and lanczos3 from 1080p
  // straight to 36 took 4× the CPU of decoding alone. Shrinking into YUV instead of rgb24 (as until
  // 12-07) skips swscale's slow packed-RGB writer at 3S (0.63 vs 1.03 ms a frame at S=72). Measured
  // by bench/video-squash.ts on 1080p H.264 (docs/benchmarks.md "Squash ablation"): swscale's work
  // 0.80 ms a frame at S=72 and 0.51 at S=36, against 1.35 / 0.68 before; closeness to the image path
  // (mean |diff| vs sharp's lanczos3 on the full frame, testsrc2 / mandelbrot) 0.84 / 0.79 levels at
  // S=72 (was 0.92 / 0.79) and 1.36 / 1.05 at S=36 (was 1.30 / 0.95). Rejected there: area (−0.08 ms,
  // 2.11 levels at S=36), 2S (1.67 levels at S=72), 4S (0.55 levels at S=72 for ~+20 % CPU), the
  // kernel straight from YUV (1.2–6.9 levels), fast_bilinear (7–15 levels: no anti-aliasing).
  const pre = preShrinkWidth(size);
  return `scale='min(iw,${pre})':'min(ih,${pre})':flags=bilinear,format=${PRE_FORMATS},${final}`;
}

/** ffmpeg's arguments for decodeFrames: raw S×S rgb24 frames to `out` (the bench sends them to /dev/null). */
export function decodeArgs(abs: string, o: Pick<FrameDecodeOptions, "size" | "kernel" | "threads">, out = "pipe:1"): string[] {
  return [
    // -filter_threads 1: by default the filter graph gets as many threads as cores, which on a small
    // machine compete with the decoder's frame threads; the squash is < 1 ms a frame, so one thread
    // suffices (quiet 2 cores, 1,200 1080p frames at S=72: 4.18–4.29 s → 3.49–3.68 s, -f null 2.95–3.68 s).
    "-filter_threads", "1",
    "-v", "error", "-nostdin", "-threads", String(o.threads), ...INPUT_GUARD, "-i", `file:${abs}`,
    "-map", "0:v:0", "-fps_mode", "passthrough", "-vf", scaleFilter(o.size, o.kernel),
    // -flush_packets 0: the pipe gets ffmpeg's 32 KiB output buffer per write instead of one write per
    // frame (S=36, 1,200 frames: 143 reads instead of ~1,150; Node's CPU for the pipe 0.40 → 0.14 s).
    "-flush_packets", "0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", out,
  ];
}

/**
 * Decodes the first video stream of `abs` (a checked absolute path), calling onFrame(index, pixels)
 * for each frame in order; `pixels` is only valid during the call. In process through the video
 * addon: the frames of decodeArgs's ffmpeg command, byte for byte (test/data-video-native.test.ts),
 * without starting ffmpeg (0.15–0.22 s a video) or piping its output. Errors of the file are
 * returned, not thrown; an exception from onFrame stops the decode and is rethrown.
 */
export function decodeFrames(abs: string, o: FrameDecodeOptions, onFrame: (index: number, pixels: Buffer) => void): Promise<FrameDecodeResult> {
  return decodeRgb(abs, scaleFilter(o.size, o.kernel), o.size, o.size, o, onFrame);
}

export interface RgbDecodeOptions {
  /** Decoder threads; 0 lets libavcodec choose. */
  threads: number;
  /** The whole decode stops after this long. */
  timeoutMs: number;
  /** Frames larger than this are not decoded (a header can promise a small size, later frames a huge one); no limit of ours when absent. */
  maxPixels?: number;
  /** Only these frame indices are handed over (the others are decoded and skipped); all when absent. */
  want?: (index: number) => boolean;
  /** Stop after this frame index was handed over (the result is clean). */
  last?: number;
}

/**
 * The decode loop under decodeFrames and decodeFullFrames: the video addon runs `chain` (an ffmpeg
 * filter chain ending in width×height rgb24, after the CLI's autorotate) on every decoded frame, and
 * onFrame gets each wanted one in order (awaited: a slow consumer pauses the decode). Frames come in
 * batches (≤ 2 MiB, at least one frame; one call to the thread pool each), two buffers: the next
 * batch decodes while this one is handed over. Memory: two batches and one decoder, whatever the
 * video's length.
 */
export async function decodeRgb(abs: string, chain: string, width: number, height: number, o: RgbDecodeOptions, onFrame: (index: number, pixels: Buffer) => void | Promise<void>): Promise<FrameDecodeResult> {
  const stride = width * height * 3;
  const addon = videoAddon();
  noteVideoCall("decode", abs);
  let decoder;
  try {
    decoder = await addon.open(abs, chain, width, height, o.threads, o.timeoutMs, o.maxPixels ?? 0);
  } catch (e) {
    const f = fileError(e);
    if (!f) throw e;
    return { decoded: 0, error: f.timedOut ? `decoding did not finish within ${o.timeoutMs} ms` : `cannot decode: ${f.why}` };
  }
  const batch = Math.max(1, Math.min(16, Math.floor((2 << 20) / stride)));
  const buffers = [Buffer.allocUnsafe(batch * stride), Buffer.allocUnsafe(batch * stride)];
  let cur = 0;
  let next: Promise<NativeRead> | null = addon.read(decoder, buffers[0]!, batch);
  let decoded = 0;
  try {
    for (;;) {
      const r: NativeRead = await next!;
      next = null;
      const buffer = buffers[cur]!;
      if (!r.done) next = addon.read(decoder, buffers[(cur ^= 1)]!, batch);
      for (let f = 0; f < r.frames; f++) {
        const k = decoded++;
        if (!o.want || o.want(k)) await onFrame(k, buffer.subarray(f * stride, (f + 1) * stride));
        if (o.last !== undefined && k >= o.last) return { decoded, error: null };
      }
      if (r.done) {
        if (r.timedOut) return { decoded, error: `decoding did not finish within ${o.timeoutMs} ms` };
        return { decoded, error: r.error ? `the decoder reported: ${r.error}` : null };
      }
    }
  } finally {
    if (next) await next.catch(() => {}); // stopped early or onFrame threw: the read in flight ends before the decoder is freed
    addon.close(decoder);
  }
}
