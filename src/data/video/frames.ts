// Decoding a video's frames straight into S×S RGB: the ffmpeg CLI streams raw rgb24 frames over a
// pipe (no temporary files), squashed to S×S like the image path (aspect ratio ignored), every
// decoded frame kept (`-fps_mode passthrough`: no frame duplicated or dropped for a constant rate),
// and rotation flags applied (ffmpeg's autorotate). Memory is one frame, whatever the video's length.
import { spawn } from "node:child_process";
import type { DecodeOptions } from "../decode.js";
import { INPUT_GUARD, lastLine } from "./probe.js";

export interface FrameDecodeOptions {
  /** S: frames come out S×S. */
  size: number;
  kernel: DecodeOptions["kernel"];
  /** ffmpeg's decoder threads; 0 lets ffmpeg choose. */
  threads: number;
  /** The whole decode is killed after this long. */
  timeoutMs: number;
}

export interface FrameDecodeResult {
  /** Frames delivered to onFrame. */
  decoded: number;
  /** Why decoding stopped early or reported errors (ffmpeg's last complaint, exit status, timeout); null when clean. */
  error: string | null;
}

/** swscale flags for the cache's resampling kernels (the nearest equivalent of sharp's). */
export function scaleFilter(size: number, kernel: DecodeOptions["kernel"]): string {
  const flags: Record<DecodeOptions["kernel"], string> = {
    nearest: "neighbor",
    linear: "bilinear",
    cubic: "bicubic",
    mitchell: "bicubic:param0=1/3:param1=1/3",
    lanczos2: "lanczos:param0=2",
    lanczos3: "lanczos:param0=3",
  };
  // RGB before the kernel: scaling yuv420p straight to S would leave the chroma at S/2 (colours
  // smeared at small S). A frame larger than 3S is first shrunk to at most 3S×3S with bilinear (into
  // rgb24, chroma then ≥ 1.5S): the kernel's taps grow with the ratio, and lanczos3 from 1080p straight
  // to 36 took 4× the CPU of decoding alone (docs/benchmarks.md "Video decode"). Against
  // sharp's lanczos3 on the full 1080p frame the two steps are about as close as one (testsrc2, mean
  // |diff| 1.29 vs 1.14 levels at S=36, 0.91 vs 0.46 at S=72; 4S measured 0.95/0.72 at ~10% more CPU).
  const final = `format=rgb24,scale=${size}:${size}:flags=${flags[kernel]}`;
  if (kernel === "nearest") return final; // one tap: nothing to save, and no blur added
  const pre = 3 * size;
  return `scale='min(iw,${pre})':'min(ih,${pre})':flags=bilinear,${final}`;
}

/** ffmpeg's arguments for decodeFrames: raw S×S rgb24 frames to `out` (the bench sends them to /dev/null). */
export function decodeArgs(abs: string, o: Pick<FrameDecodeOptions, "size" | "kernel" | "threads">, out = "pipe:1"): string[] {
  return [
    "-v", "error", "-nostdin", "-threads", String(o.threads), ...INPUT_GUARD, "-i", `file:${abs}`,
    "-map", "0:v:0", "-fps_mode", "passthrough", "-vf", scaleFilter(o.size, o.kernel),
    // -flush_packets 0: the pipe gets ffmpeg's 32 KiB output buffer per write instead of one write per
    // frame (S=36, 1,200 frames: 143 reads instead of ~1,150; Node's CPU for the pipe 0.40 → 0.14 s).
    "-flush_packets", "0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", out,
  ];
}

/**
 * Decodes the first video stream of `abs` (a checked absolute path), calling onFrame(index, pixels)
 * for each frame in order; `pixels` is only valid during the call. Errors of the file are returned,
 * not thrown; an exception from onFrame stops the decode and is rethrown.
 */
export function decodeFrames(abs: string, o: FrameDecodeOptions, onFrame: (index: number, pixels: Buffer) => void): Promise<FrameDecodeResult> {
  const stride = o.size * o.size * 3;
  const args = decodeArgs(abs, o);
  return new Promise((resolve, reject) => {
    const child = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "pipe"] });
    const frame = Buffer.allocUnsafe(stride);
    let filled = 0;
    let decoded = 0;
    let stderr = "";
    let thrown: unknown = null;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, o.timeoutMs);
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 64 << 10) stderr += d.toString("utf8");
    });
    child.stdout.on("data", (d: Buffer) => {
      if (thrown) return;
      let off = 0;
      while (off < d.length) {
        const n = Math.min(stride - filled, d.length - off);
        d.copy(frame, filled, off, off + n);
        filled += n;
        off += n;
        if (filled === stride) {
          filled = 0;
          try {
            onFrame(decoded++, frame);
          } catch (e) {
            thrown = e;
            child.kill("SIGKILL");
            return;
          }
        }
      }
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === "ENOENT" ? new Error("ffmpeg not found: install Debian's ffmpeg package (scripts/setup.sh) to read videos") : e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (thrown) return reject(thrown);
      let error: string | null = null;
      if (timedOut) error = `decoding did not finish within ${o.timeoutMs} ms`;
      else if (code !== 0) error = `ffmpeg exited with ${code ?? signal}: ${lastLine(stderr) || "no message"}`;
      else if (lastLine(stderr)) error = `ffmpeg reported: ${lastLine(stderr)}`;
      if (filled !== 0 && !error) error = `output ended inside a frame (${filled} of ${stride} bytes)`;
      resolve({ decoded, error });
    });
  });
}
