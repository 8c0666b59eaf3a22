// Videos in a run: the input listed with every video replaced by its frames (src/data/video), which
// frame each sample is, and Lightly's corruptness_check.corruption_threshold applied per video.
import type { ImageCache, Listing } from "../data/index.js";
import { previousEntriesFor } from "../data/index.js";
import { listFolderWithVideos, type VideoListing } from "../data/video/listing.js";
import type { VideoInfo } from "../data/video/probe.js";
import type { FrameRef } from "../select/index.js";

/** The videos of a run's input: frame names → (video, frame), and what ffprobe said of each video. */
export class RunVideos {
  constructor(readonly listing: VideoListing) {}

  /** The video and frame index of a sample name; undefined for images (and for videos that could not be probed). */
  frameOf(name: string): FrameRef | undefined {
    const e = this.listing.of.get(name);
    return e && e.frame >= 0 ? { video: e.video, frame: e.frame } : undefined;
  }

  /** ffprobe's facts of a probed video; undefined when it could not be probed. */
  info(video: string): VideoInfo | undefined {
    const v = this.listing.videos.get(video);
    return v && "info" in v ? v.info : undefined;
  }

  /** Videos in name order. */
  get names(): string[] {
    return [...this.listing.videos.keys()].sort();
  }
}

/**
 * The input listing with each video replaced by its frames (probed with ffprobe; `threads` ≥ 1 caps
 * ffmpeg's decoder threads). `cache` = the build's cache settings: an unchanged video's frame count
 * comes from that cache's previous index (no demuxing of the whole file again).
 */
export async function listWithVideos(input: string, threads: number, cache: Parameters<typeof previousEntriesFor>[0]): Promise<Listing & { videos: VideoListing }> {
  return listFolderWithVideos(input, threads >= 1 ? { threads } : {}, previousEntriesFor(cache));
}

export interface CorruptVideo {
  video: string;
  reason: string;
}

/**
 * Videos to drop whole: those that could not be probed (one corrupt entry under the video's name),
 * and those whose share of undecodable frames exceeds `threshold` (Lightly's corruption_threshold).
 * `frames`: the usable frames of the dropped videos, to leave out of the dataset.
 */
export function corruptVideos(cache: ImageCache, videos: RunVideos, threshold: number): { corrupt: CorruptVideo[]; frames: string[] } {
  const failed = new Map<string, number>();
  const corrupt: CorruptVideo[] = [];
  for (const c of cache.corruptFilenames) {
    const f = videos.frameOf(c.filename);
    if (f) failed.set(f.video, (failed.get(f.video) ?? 0) + 1);
    else if (videos.listing.videos.has(c.filename)) corrupt.push({ video: c.filename, reason: `${c.code}: ${c.reason}` });
  }
  const dropped = new Set<string>();
  for (const [video, bad] of failed) {
    const n = videos.info(video)?.frames ?? 0;
    if (n > 0 && bad / n > threshold) {
      dropped.add(video);
      corrupt.push({ video, reason: `corrupt_frames: ${bad} of ${n} frames could not be decoded (${(100 * bad / n).toFixed(1)}%), more than corruption_threshold ${threshold}` });
    }
  }
  corrupt.sort((a, b) => (a.video < b.video ? -1 : a.video > b.video ? 1 : 0));
  const frames = cache.filenames.filter((f) => dropped.has(videos.frameOf(f)?.video ?? ""));
  return { corrupt, frames };
}
