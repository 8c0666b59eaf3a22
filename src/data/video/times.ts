// Presentation time of each frame of a video, for showing where a frame is (`clip.mp4 @ 00:01.240`).
// The video addon lists the packets of the first video stream (demuxing only, nothing decoded; what
// `ffprobe -show_entries packet=pts_time,dts_time` gave before 12-07); their pts, sorted, are the
// frames' times in display order (B-frames come out of order in the file), which is
// the order the decoder delivers frames and frame indices count. Times are relative to the first frame.
import { ImageDecodeError } from "../decode-error.js";
import { fileError, noteVideoCall, videoAddon } from "./native.js";

/** Seconds from the first frame for each frame index; null where the container gives no time stamp. */
export async function frameTimes(abs: string, timeoutMs = 30_000): Promise<Array<number | null>> {
  noteVideoCall("times", abs);
  let stamps: Float64Array;
  try {
    stamps = (await videoAddon().probe(abs, "times", timeoutMs)).times!;
  } catch (e) {
    const f = fileError(e);
    if (!f) throw e;
    throw new ImageDecodeError("corrupt", f.timedOut ? `reading frame times did not finish within ${timeoutMs} ms` : `reading frame times failed: ${f.why}`);
  }
  const times = Array.from(stamps).filter((t) => Number.isFinite(t));
  if (times.length < stamps.length) return Array.from({ length: stamps.length }, () => null);
  times.sort((a, b) => a - b);
  const t0 = times[0] ?? 0;
  return times.map((t) => t - t0);
}

/** `mm:ss.mmm` (or `h:mm:ss.mmm` from an hour on). */
export function formatFrameTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const mmss = `${String(m).padStart(2, "0")}:${s.toFixed(3).padStart(6, "0")}`;
  return h ? `${h}:${mmss}` : mmss;
}
