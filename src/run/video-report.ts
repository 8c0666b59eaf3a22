// The report's view of selected video frames: a thumbnail made from the frame's pixels in the decode
// cache (stretched back to the video's aspect ratio) and the frame's time in its video (ffprobe's pts).
// Selected object crops of frames (`<frame>#<index>`) get theirs from the crop cache the same way.
import sharp from "sharp";
import type { ImageCache } from "../data/index.js";
import { formatFrameTime, frameTimes } from "../data/video/times.js";
import { videoPath } from "../data/video/listing.js";
import type { RunVideos } from "./videos.js";
import { parseCropName } from "../predictions/values.js";

export interface FrameThumb {
  video: string;
  frame: number;
  /** Seconds from the video's first frame; null when the container has no time stamps. */
  seconds: number | null;
  /** "clip.mp4 @ 00:01.240" (or "clip.mp4 frame 12" without a time stamp). */
  caption: string;
  /** data: URI of a PNG thumbnail (at most 96 px), or null. */
  uri: string | null;
}

/** Thumbnails and time stamps of the frames (or crops of frames) among `names`, from `cache` (the one holding them); other names are left out. */
export async function frameThumbnails(input: string, cache: ImageCache, videos: RunVideos, names: readonly string[], log: (m: string) => void): Promise<Map<string, FrameThumb>> {
  const out = new Map<string, FrameThumb>();
  const rowOf = new Map(cache.filenames.map((f, i) => [f, i]));
  const times = new Map<string, Array<number | null>>();
  for (const name of names) {
    const f = videos.frameOf(parseCropName(name)?.image ?? name);
    if (!f) continue;
    if (!times.has(f.video)) times.set(f.video, await timesOf(input, f.video, log));
    const seconds = times.get(f.video)![f.frame] ?? null;
    const row = rowOf.get(name);
    out.set(name, {
      ...f, seconds,
      caption: seconds === null ? `${f.video} frame ${f.frame}` : `${f.video} @ ${formatFrameTime(seconds)}`,
      uri: row === undefined ? null : await thumbnailOf(cache, row),
    });
  }
  return out;
}

async function timesOf(input: string, video: string, log: (m: string) => void): Promise<Array<number | null>> {
  try {
    return await frameTimes(await videoPath(input, video));
  } catch (e) {
    log(`report: no frame times for ${video} (${(e as Error).message})`);
    return [];
  }
}

async function thumbnailOf(cache: ImageCache, row: number): Promise<string> {
  const S = cache.resolution;
  const { data } = cache.readBatch([row]);
  const w = cache.widths[row]!;
  const h = cache.heights[row]!;
  const [tw, th] = w >= h ? [96, Math.max(1, Math.round((96 * h) / w))] : [Math.max(1, Math.round((96 * w) / h)), 96];
  const png = await sharp(Buffer.from(data), { raw: { width: S, height: S, channels: 3 } }).resize(tw, th, { fit: "fill" }).png().toBuffer();
  return `data:image/png;base64,${png.toString("base64")}`;
}
