// A folder listing where each video becomes its frames: one entry (one cache slot) per frame, named
// as Lightly names frames, carrying the video's size and mtime (a changed video re-decodes all its
// frames). A video that cannot be probed stays one entry under its own name, failed with the reason.
import * as fs from "node:fs";
import { checkRealInside, compareCodePoints, IMAGE_EXTENSIONS, listImageFolder, resolveInside, PathRefused, type Listing } from "../folder.js";
import { ImageDecodeError, type DecodeFailure } from "../decode-error.js";
import { frameName, isVideoName, VIDEO_EXTENSIONS } from "./names.js";
import { DEFAULT_PROBE_TIMEOUT_MS, probeVideo, type VideoInfo } from "./probe.js";
import { knownFrameCounts, type PreviousEntries } from "./known.js";

export interface VideoOptions {
  /** Per video: ffprobe's limit. Default 30 s. */
  probeTimeoutMs?: number;
  /** Per video: the whole decode's limit. Default 10 min. */
  decodeTimeoutMs?: number;
  /** ffmpeg decoder threads per video; 0 (default) lets ffmpeg choose. */
  threads?: number;
  /** Videos probed at once. Default 2. */
  probeConcurrency?: number;
}

export interface VideoEntry {
  /** The video's relative filename. */
  video: string;
  /** Frame index, or -1 for a video that could not be probed (the entry is the video itself). */
  frame: number;
}

export interface VideoListing {
  /** Entry name (a frame name, or the name of a video that failed to probe) → its video. */
  of: Map<string, VideoEntry>;
  /** Video → what ffprobe said, or why it could not be used. */
  videos: Map<string, { info: VideoInfo } | { failure: { code: DecodeFailure; reason: string } }>;
  options: VideoOptions;
}

/**
 * Lists `root` like listImageFolder, with every video file replaced by its frames. `previous` gives
 * the entries of the cache index built before for this folder (given the resolved root), if any:
 * a video whose frames it lists unchanged keeps that frame count and is probed for headers only.
 */
export async function listFolderWithVideos(
  root: string,
  options: VideoOptions = {},
  previous?: (resolvedRoot: string) => PreviousEntries | null,
): Promise<Listing & { videos: VideoListing }> {
  const base = listImageFolder(root, { extensions: new Set([...IMAGE_EXTENSIONS, ...VIDEO_EXTENSIONS]) });
  const vl: VideoListing = { of: new Map(), videos: new Map(), options };
  const rows: { rel: string; size: number; mtimeNs: bigint }[] = [];
  const videoRows: number[] = [];
  base.filenames.forEach((rel, i) => {
    if (isVideoName(rel)) videoRows.push(i);
    else rows.push({ rel, size: base.sizes[i]!, mtimeNs: base.mtimesNs[i]! });
  });
  const prev = videoRows.length ? previous?.(base.root) : null;
  const known = prev ? knownFrameCounts(prev, videoRows.map((i) => ({ rel: base.filenames[i]!, size: base.sizes[i]!, mtimeNs: base.mtimesNs[i]! }))) : new Map<string, number>();
  const probed = await mapBounded(videoRows, options.probeConcurrency ?? 2, (i) => probeInside(base.root, base.filenames[i]!, base.sizes[i]!, options, known.get(base.filenames[i]!)));
  const images = new Set(rows.map((r) => r.rel));
  videoRows.forEach((i, k) => {
    const rel = base.filenames[i]!;
    const p = probed[k]!;
    const row = { size: base.sizes[i]!, mtimeNs: base.mtimesNs[i]! };
    vl.videos.set(rel, p);
    const clash = "info" in p ? clashWith(rel, p.info.frames, images) : null;
    if (clash) {
      const failure = { code: "unsupported" as const, reason: `frame name ${JSON.stringify(clash)} is taken by an image in the folder` };
      vl.videos.set(rel, { failure });
      vl.of.set(rel, { video: rel, frame: -1 });
      rows.push({ rel, ...row });
      return;
    }
    if ("failure" in p) {
      vl.of.set(rel, { video: rel, frame: -1 });
      rows.push({ rel, ...row });
      return;
    }
    for (let f = 0; f < p.info.frames; f++) {
      const name = frameName(rel, f, p.info.frames);
      vl.of.set(name, { video: rel, frame: f });
      rows.push({ rel: name, ...row });
    }
  });
  rows.sort((a, b) => compareCodePoints(a.rel, b.rel));
  return {
    ...base,
    filenames: rows.map((r) => r.rel),
    sizes: Float64Array.from(rows, (r) => r.size),
    mtimesNs: BigInt64Array.from(rows, (r) => r.mtimeNs),
    videos: vl,
  };
}

/** The first of the video's frame names that an image already has, or null. */
function clashWith(rel: string, frames: number, images: Set<string>): string | null {
  for (let f = 0; f < frames; f++) {
    const name = frameName(rel, f, frames);
    if (images.has(name)) return name;
  }
  return null;
}

/** The absolute path of a listed video, checked again (no symlinks, a regular file). */
export async function videoPath(root: string, rel: string): Promise<string> {
  const abs = resolveInside(root, rel);
  await checkRealInside(abs, rel);
  return abs;
}

/**
 * A tool's message with the video's absolute path (ffmpeg/ffprobe name the `file:` URL they opened)
 * replaced by its name in the folder: reasons go into the run's artifacts and report, and where the
 * folder is a worker's datasource root or S3 mirror, that path is the machine's business.
 */
export function reasonWithName(reason: string, abs: string, rel: string): string {
  return abs ? reason.split(`file:${abs}`).join(rel).split(abs).join(rel) : reason;
}

async function probeInside(root: string, rel: string, size: number, o: VideoOptions, knownFrames?: number): Promise<{ info: VideoInfo } | { failure: { code: DecodeFailure; reason: string } }> {
  let abs = "";
  try {
    if (size === 0) throw new ImageDecodeError("empty", "file is empty (0 bytes)");
    abs = await videoPath(root, rel);
    if (!fs.statSync(abs).isFile()) throw new ImageDecodeError("unreadable", "not a regular file");
    return { info: await probeVideo(abs, o.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, knownFrames) };
  } catch (e) {
    if (e instanceof ImageDecodeError) return { failure: { code: e.code, reason: reasonWithName(e.message, abs, rel) } };
    if (e instanceof PathRefused) return { failure: { code: "unreadable", reason: e.reason } };
    throw e;
  }
}

/** `f` over `items`, at most `limit` at once, results in order. */
async function mapBounded<T, R>(items: T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const k = next++;
      out[k] = await f(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
