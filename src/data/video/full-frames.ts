// A video's frames at their full (displayed) size, for what needs the frame as the video has it rather
// than the cache's S×S copy: object crops cut from frames, and the worker's `lightly.*` metadata
// (sharpness, SNR, shape) of frames. One ffmpeg run streams raw rgb24 frames over a pipe, converted
// the way ffmpeg writes them to PNG (`-pix_fmt rgb24`), every decoded frame kept and rotation flags
// applied, as the cache's decode (frames.ts). The consumer may be async: the pipe is not read while
// it runs, so ffmpeg waits and memory stays at one frame plus the pipe's buffers whatever the length.
import { spawn } from "node:child_process";
import { decodeOutcome, ffmpegSpawnError, type FrameDecodeResult } from "./frames.js";
import { INPUT_GUARD } from "./probe.js";

export interface FullFrameOptions {
  /** The displayed size (VideoInfo's width/height, rotation applied). */
  width: number;
  height: number;
  /** ffmpeg's decoder threads; 0 lets ffmpeg choose. */
  threads: number;
  /** The whole decode is killed after this long. */
  timeoutMs: number;
  /** Only these frame indices are handed over (the others are decoded and skipped); all when absent. */
  want?: (index: number) => boolean;
  /** Stop after this frame index was handed over (ffmpeg is killed; the result is clean). */
  last?: number;
}

/** ffmpeg's arguments for decodeFullFrames. */
export function fullFrameArgs(abs: string, threads: number): string[] {
  return [
    "-v", "error", "-nostdin", "-threads", String(threads), ...INPUT_GUARD, "-i", `file:${abs}`,
    "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
  ];
}

/**
 * Decodes the first video stream of `abs` (a checked absolute path), awaiting onFrame(index, pixels)
 * for each wanted frame in order; `pixels` (width × height × 3, rows top-down) is only valid until the
 * returned promise settles. Errors of the file are returned, not thrown; an exception from onFrame
 * stops the decode and is rethrown.
 */
export async function decodeFullFrames(abs: string, o: FullFrameOptions, onFrame: (index: number, pixels: Buffer) => void | Promise<void>): Promise<FrameDecodeResult> {
  const stride = o.width * o.height * 3;
  const child = spawn("ffmpeg", fullFrameArgs(abs, o.threads), { stdio: ["ignore", "pipe", "pipe"] });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", (e: NodeJS.ErrnoException) => reject(ffmpegSpawnError(e)));
    child.on("close", (code, signal) => resolve({ code, signal }));
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    if (stderr.length < 64 << 10) stderr += d.toString("utf8");
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, o.timeoutMs);
  const frame = Buffer.allocUnsafe(stride);
  let filled = 0;
  let decoded = 0;
  let stopped = false;
  try {
    for await (const d of child.stdout as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < d.length && !stopped) {
        const keep = !o.want || o.want(decoded);
        const n = Math.min(stride - filled, d.length - off);
        if (keep) d.copy(frame, filled, off, off + n);
        filled += n;
        off += n;
        if (filled < stride) continue;
        filled = 0;
        const k = decoded++;
        if (keep) await onFrame(k, frame);
        if (o.last !== undefined && k >= o.last) stopped = true;
      }
      if (stopped) break;
    }
  } catch (e) {
    child.kill("SIGKILL");
    clearTimeout(timer);
    await closed.catch(() => undefined);
    throw e;
  }
  if (stopped) child.kill("SIGKILL");
  const { code, signal } = await closed.finally(() => clearTimeout(timer));
  if (stopped) return { decoded, error: null };
  return { decoded, error: decodeOutcome({ timedOut, timeoutMs: o.timeoutMs, code, signal, stderr, filled, stride }) };
}
