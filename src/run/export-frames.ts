// The selected video frames as image files, as the Lightly worker writes them for a video dataset
// (its `.lightly/frames`): full-size frames named like the sample (`clip-07-mp4.png`), in
// worker_config.output_image_format, here under <output>/frames/ with the video's folders. One ffmpeg
// run per video (and per 200 frames) decodes the video once and keeps the selected frame indices
// (select by decoded-frame number n, every frame passed through, rotation applied as in the cache).
import * as fs from "node:fs";
import * as path from "node:path";
import { INPUT_GUARD, runTool } from "../data/video/cli.js";
import { videoPath } from "../data/video/listing.js";
import type { RunContext } from "./context.js";
import type { RunVideos } from "./videos.js";

const PER_RUN = 200;
const TIMEOUT_MS = 10 * 60_000;

/** The file name a selected frame is written under: its sample name with the format's extension. */
export function frameFileName(sample: string, format: "png" | "jpg" | "jpeg"): string {
  return `${sample.slice(0, -".png".length)}.${format === "png" ? "png" : "jpg"}`;
}

/** Writes the selected frames among `picked` (sample names); returns how many were written. Failures are noted, never fatal. */
export async function exportSelectedFrames(ctx: RunContext, videos: RunVideos, picked: readonly string[]): Promise<number> {
  const format = ctx.config.worker_config.output_image_format;
  const byVideo = new Map<string, Array<{ frame: number; name: string }>>();
  for (const name of picked) {
    const f = videos.frameOf(name);
    if (!f) continue;
    if (!byVideo.has(f.video)) byVideo.set(f.video, []);
    byVideo.get(f.video)!.push({ frame: f.frame, name });
  }
  let written = 0;
  for (const [video, frames] of byVideo) {
    frames.sort((a, b) => a.frame - b.frame);
    for (let k = 0; k < frames.length; k += PER_RUN) {
      try {
        written += await exportChunk(ctx, video, frames.slice(k, k + PER_RUN), format);
      } catch (e) {
        ctx.note(`selected frames of ${video} not exported: ${(e as Error).message}`);
        break;
      }
    }
  }
  if (written) ctx.log(`exported ${written} selected frame(s) as ${format} into ${ctx.paths.frames}`);
  return written;
}

async function exportChunk(ctx: RunContext, video: string, frames: Array<{ frame: number; name: string }>, format: "png" | "jpg" | "jpeg"): Promise<number> {
  const abs = await videoPath(ctx.input, video);
  const ext = format === "png" ? "png" : "jpg";
  const tmp = fs.mkdtempSync(path.join(ctx.paths.output, ".frames-"));
  try {
    const select = frames.map((f) => `eq(n\\,${f.frame})`).join("+");
    await runTool("ffmpeg", [
      "-v", "error", "-nostdin", ...INPUT_GUARD, "-i", `file:${abs}`, "-map", "0:v:0", "-an",
      "-fps_mode", "passthrough", "-vf", `select='${select}'`, "-frames:v", String(frames.length),
      ...(ext === "jpg" ? ["-q:v", "2"] : []), "-f", "image2", path.join(tmp, `%06d.${ext}`),
    ], TIMEOUT_MS, `ffmpeg (exporting frames of ${video})`);
    const made = fs.readdirSync(tmp).sort();
    if (made.length !== frames.length) throw new Error(`ffmpeg wrote ${made.length} of ${frames.length} frames`);
    frames.forEach((f, i) => {
      const dest = path.join(ctx.paths.frames, frameFileName(f.name, format));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.renameSync(path.join(tmp, made[i]!), dest);
    });
    return frames.length;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
