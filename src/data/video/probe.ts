// What a video holds before it is decoded: frame count (packets counted by demuxing, not decoding,
// so probing stays cheap), display size after rotation, duration and codec.
// Any failure is the file's fault and becomes an ImageDecodeError (a corrupt-file record), never fatal.
import { execFile } from "node:child_process";
import { ImageDecodeError } from "../decode-error.js";
import { noteVideoCall, videoAddon } from "./native.js";

export interface VideoInfo {
  /** Frames in the first video stream (packets read by the demuxer). */
  frames: number;
  /** Displayed size: coded size with width/height swapped for a ±90° rotation flag. */
  width: number;
  height: number;
  /** Rotation flag in degrees (display matrix or the legacy `rotate` tag); 0 when none. */
  rotation: number;
  /** Seconds; NaN when the container does not say. */
  durationS: number;
  codec: string;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 30_000;

/**
 * Input options of every ffmpeg/ffprobe run over a dataset file, whose bytes are untrusted (a
 * tenant's folder or bucket). Local files only (no network), and only the demuxers of the video
 * extensions taken (mov: .mp4/.mov; matroska: .mkv/.webm; avi): playlist demuxers such as HLS or
 * DASH, which content sniffing picks for a text file named .mp4, open the files or URLs the playlist
 * names, so a playlist in the dataset could make ffmpeg read another dataset's video on the worker
 * (measured: an HLS playlist named clip.mp4 listing an absolute path was read with
 * `-protocol_whitelist file` alone).
 */
export const INPUT_GUARD: readonly string[] = ["-protocol_whitelist", "file", "-format_whitelist", "mov,matroska,avi"];

/** Runs a tool from the ffmpeg package; resolves with stdout, rejects with an ImageDecodeError naming the reason. */
export function runTool(tool: string, args: string[], timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: timeoutMs, maxBuffer: 16 << 20, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === "ENOENT") return reject(new Error(`${tool} not found: install Debian's ffmpeg package (scripts/setup.sh) to read videos`));
      if (e.killed) return reject(new ImageDecodeError("corrupt", `${what} did not finish within ${timeoutMs} ms`));
      const refused = /\[(\w+) @ [^\]]*\] Format not on whitelist/.exec(stderr);
      if (refused) return reject(new ImageDecodeError("unsupported", `${what}: the file is read by ffmpeg's ${refused[1]} demuxer; only MP4/MOV, Matroska/WebM and AVI containers are read`));
      reject(new ImageDecodeError("corrupt", `${what} failed: ${lastLine(stderr) || e.message}`));
    });
  });
}

/** The last non-empty line of a tool's stderr (its most specific complaint). */
export function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? "";
}

/** The reason for a file that libavformat refused, from the addon's error (kind in `code`, libav's own line in the message). */
function probeFailure(e: Error & { code?: string }, timeoutMs: number): Error {
  const refused = /\[([\w,]+)\] Format not on whitelist/.exec(e.message);
  if (refused) return new ImageDecodeError("unsupported", `the file is read by ffmpeg's ${refused[1]} demuxer; only MP4/MOV, Matroska/WebM and AVI containers are read`);
  if (e.message === "timeout") return new ImageDecodeError("corrupt", `probing did not finish within ${timeoutMs} ms`);
  if (e.code === "unsupported") return new ImageDecodeError("unsupported", e.message);
  if (e.code === "corrupt") return new ImageDecodeError("corrupt", `probe failed: ${e.message}`);
  return e; // not the file's fault (a bug, bad arguments): rethrown as is
}

/**
 * Probes the video at absolute path `abs` (already checked to be inside the folder), in process
 * (the video addon; the same facts as ffprobe's `-count_packets -show_streams`, without starting
 * ffprobe, whose start alone took 0.15–0.22 s a video). With `knownFrames` (the count an earlier
 * probe of the unchanged file found) only the headers are read: counting packets demuxes the whole file.
 */
export async function probeVideo(abs: string, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS, knownFrames?: number): Promise<VideoInfo> {
  const count = knownFrames === undefined;
  const addon = videoAddon();
  noteVideoCall(count ? "count" : "headers", abs);
  let s;
  try {
    s = await addon.probe(abs, count, timeoutMs);
  } catch (e) {
    throw probeFailure(e as Error, timeoutMs);
  }
  const frames = knownFrames ?? s.frames;
  if (!(s.width > 0 && s.height > 0)) throw new ImageDecodeError("unsupported", `video stream has no size (codec ${s.codec})`);
  if (!(frames > 0)) throw new ImageDecodeError("truncated", "video stream has no frames");
  const rotation = Math.round(s.rotation);
  const quarter = Math.abs(rotation) % 180 === 90;
  return { frames, width: quarter ? s.height : s.width, height: quarter ? s.width : s.height, rotation, durationS: s.durationS, codec: s.codec };
}
