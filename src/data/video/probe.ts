// What a video holds before it is decoded: frame count (packets counted by demuxing, not decoding,
// so probing stays cheap), display size after rotation, duration and codec.
// Any failure is the file's fault and becomes an ImageDecodeError (a corrupt-file record), never fatal.
// In process through the video addon; the ffmpeg CLI runs that remain are in cli.ts.
import { ImageDecodeError } from "../decode-error.js";
import { fileError, noteVideoCall, videoAddon } from "./native.js";

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

/** The reason given for a file that content sniffing hands to a demuxer outside the whitelist (the addon's, or the CLI's INPUT_GUARD). */
export function refusedDemuxer(demuxer: string): string {
  return `the file is read by ffmpeg's ${demuxer} demuxer; only MP4/MOV, Matroska/WebM and AVI containers are read`;
}

/** The ImageDecodeError for a file the addon could not probe; anything not the file's fault is rethrown as is. */
function probeFailure(e: unknown, timeoutMs: number): unknown {
  const f = fileError(e);
  if (!f) return e;
  const refused = /\[([\w,]+)\] Format not on whitelist/.exec(f.why);
  if (refused) return new ImageDecodeError("unsupported", refusedDemuxer(refused[1]!));
  if (f.timedOut) return new ImageDecodeError("corrupt", `probing did not finish within ${timeoutMs} ms`);
  return f.kind === "unsupported" ? new ImageDecodeError("unsupported", f.why) : new ImageDecodeError("corrupt", `probe failed: ${f.why}`);
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
    throw probeFailure(e, timeoutMs);
  }
  const frames = knownFrames ?? s.frames;
  if (!(s.width > 0 && s.height > 0)) throw new ImageDecodeError("unsupported", `video stream has no size (codec ${s.codec})`);
  if (!(frames > 0)) throw new ImageDecodeError("truncated", "video stream has no frames");
  const rotation = Math.round(s.rotation);
  const quarter = Math.abs(rotation) % 180 === 90;
  return { frames, width: quarter ? s.height : s.width, height: quarter ? s.width : s.height, rotation, durationS: s.durationS, codec: s.codec };
}
