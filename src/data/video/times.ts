// Presentation time of each frame of a video, for showing where a frame is (`clip.mp4 @ 00:01.240`).
// ffprobe lists the packets of the first video stream (demuxing only, nothing decoded); their pts,
// sorted, are the frames' times in display order (B-frames come out of order in the file), which is
// the order the decoder delivers frames and frame indices count. Times are relative to the first frame.
import { INPUT_GUARD, runTool } from "./probe.js";

/** Seconds from the first frame for each frame index; null where the container gives no time stamp. */
export async function frameTimes(abs: string, timeoutMs = 30_000): Promise<Array<number | null>> {
  const out = await runTool("ffprobe", [
    "-v", "error", ...INPUT_GUARD, "-select_streams", "v:0",
    "-show_entries", "packet=pts_time,dts_time", "-of", "csv=p=0", `file:${abs}`,
  ], timeoutMs, "ffprobe (frame times)");
  const times: number[] = [];
  let missing = 0;
  for (const line of out.split("\n")) {
    if (!line.trim()) continue;
    const [pts, dts] = line.split(",").map((s) => Number.parseFloat(s ?? ""));
    const t = Number.isFinite(pts) ? pts! : Number.isFinite(dts) ? dts! : NaN;
    if (Number.isFinite(t)) times.push(t);
    else missing++;
  }
  if (missing) return Array.from({ length: times.length + missing }, () => null);
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
