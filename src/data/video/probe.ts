// What ffprobe says about a video before it is decoded: frame count (packets counted by demuxing,
// not decoding, so probing stays cheap), display size after rotation, duration and codec.
// Any failure is the file's fault and becomes an ImageDecodeError (a corrupt-file record), never fatal.
import { execFile } from "node:child_process";
import { ImageDecodeError } from "../decode-error.js";

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

/**
 * Probes the video at absolute path `abs` (already checked to be inside the folder). With
 * `knownFrames` (the count an earlier probe of the unchanged file found) only the headers are read:
 * counting packets demuxes the whole file.
 */
export async function probeVideo(abs: string, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS, knownFrames?: number): Promise<VideoInfo> {
  const out = await runTool("ffprobe", [
    "-v", "error", ...INPUT_GUARD, "-select_streams", "v:0", ...(knownFrames === undefined ? ["-count_packets"] : []),
    "-show_streams", "-show_format", "-of", "json", `file:${abs}`,
  ], timeoutMs, "ffprobe");
  let j: { streams?: Record<string, unknown>[]; format?: Record<string, unknown> };
  try {
    j = JSON.parse(out);
  } catch {
    throw new ImageDecodeError("corrupt", "ffprobe gave unreadable output");
  }
  const s = j.streams?.[0];
  if (!s) throw new ImageDecodeError("unsupported", "no video stream");
  const frames = knownFrames ?? Number(s.nb_read_packets);
  const w = Number(s.width);
  const h = Number(s.height);
  if (!(w > 0 && h > 0)) throw new ImageDecodeError("unsupported", `video stream has no size (codec ${String(s.codec_name)})`);
  if (!(frames > 0)) throw new ImageDecodeError("truncated", "video stream has no frames");
  const rotation = rotationOf(s);
  const quarter = Math.abs(rotation) % 180 === 90;
  const durationS = Number(s.duration ?? j.format?.duration);
  return { frames, width: quarter ? h : w, height: quarter ? w : h, rotation, durationS, codec: String(s.codec_name) };
}

function rotationOf(s: Record<string, unknown>): number {
  const side = s.side_data_list as { rotation?: number }[] | undefined;
  for (const d of side ?? []) if (typeof d.rotation === "number") return d.rotation;
  const tag = Number((s.tags as Record<string, string> | undefined)?.rotate);
  return Number.isFinite(tag) ? tag : 0;
}
