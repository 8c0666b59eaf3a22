// The ffmpeg CLI runs that remain over dataset files (frames.ts's decodeArgs, the oracle of the tests
// and the bench; src/run/export-frames.ts, which writes selected frames as image files): the input
// guard every such run gets, and a runner whose failures name the reason. Probing and decoding for
// the cache are in process (native.ts).
import { execFile } from "node:child_process";
import { ImageDecodeError } from "../decode-error.js";
import { refusedDemuxer } from "./probe.js";

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
      if (e.code === "ENOENT") return reject(new Error(`${tool} not found: install Debian's ffmpeg package (scripts/setup.sh)`));
      if (e.killed) return reject(new ImageDecodeError("corrupt", `${what} did not finish within ${timeoutMs} ms`));
      const refused = /\[(\w+) @ [^\]]*\] Format not on whitelist/.exec(stderr);
      if (refused) return reject(new ImageDecodeError("unsupported", `${what}: ${refusedDemuxer(refused[1]!)}`));
      reject(new ImageDecodeError("corrupt", `${what} failed: ${lastLine(stderr) || e.message}`));
    });
  });
}

/** The last non-empty line of a tool's stderr (its most specific complaint). */
export function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? "";
}
