// What a cache build takes and reports: options, statistics, limits and their defaults.
import type { Listing } from "../folder.js";
import type { DecodeFailure, DecodeOptions } from "../decode.js";
import type { CropRequests } from "./crops.js";
import type { VideoOptions } from "../video/listing.js";

/** PIL's DecompressionBombError threshold (2 × Image.MAX_IMAGE_PIXELS): what Lightly refuses. */
export const DEFAULT_MAX_PIXELS = 178_956_970;
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;

/**
 * The cache resolution for an input size: 12.5% headroom for crops, at least inputSize. Issue 20
 * measured larger caches for training (64 px instead of 36 for 64 px emoji at input 32; 83 instead
 * of 36 for photo tiles): no difference beyond the seeds' spread, at 3–5× the disk (docs/benchmarks.md).
 */
export function cacheSizeFor(inputSize: number, factor = 1.125): number {
  return Math.max(inputSize, Math.round(inputSize * factor));
}

/**
 * Files in flight at once by default: libuv's pool size (UV_THREADPOOL_SIZE, 4 by default), which
 * runs both the file reads and sharp. More in flight than cores still helps (reads overlap decodes:
 * on 2 cores, 4 at once gave 574 img/s vs 416 with 2); more than the pool only queues.
 */
export function defaultConcurrency(): number {
  return Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);
}

export interface CorruptFile {
  filename: string;
  code: DecodeFailure;
  reason: string;
}
export interface DuplicateFile {
  filename: string;
  /** The first file (in filename order) with the same bytes. */
  duplicateOf: string;
}

export interface CacheStats {
  /** Image files listed (before any failure or duplicate removal). */
  files: number;
  /** Files opened and decoded by this build (failed attempts included). 0 when nothing changed. */
  decoded: number;
  /** Files taken from an earlier build without reading them (cached failures included). */
  reused: number;
  /** Files that could not be used (see corruptFilenames). */
  failed: number;
  /** Slab compacted during this build. */
  compacted: boolean;
  durationMs: number;
}

export interface BuildOptions {
  /** Folder holding caches (one sub-folder per resolution and settings). */
  cacheDir: string;
  /** S: images are stored S×S. See cacheSizeFor(). */
  resolution: number;
  /** Files decoded at once (reads and sharp run on libuv's pool). Default defaultConcurrency(). */
  concurrency?: number;
  /** Declared width*height above this is refused as a decompression bomb. Default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
  /** Files larger than this are refused without reading. Default 1 GiB. */
  maxFileBytes?: number;
  /** Drop files whose bytes equal an earlier file's (Lightly's worker default: true). */
  removeExactDuplicates?: boolean;
  /** Apply EXIF orientation. Default false, as PIL/Lightly. */
  autoOrient?: boolean;
  /** Default "error" (decoder errors and truncation fail, warnings pass). */
  failOn?: DecodeOptions["failOn"];
  /** Default "lanczos3" (sharp's default). */
  kernel?: DecodeOptions["kernel"];
  /** Called after each file is settled (and once at the start with the files reused). */
  onProgress?: (done: number, total: number) => void;
  /** An existing listing of the folder to use instead of listing it again. */
  listing?: Listing;
  /** Write the index every this many decodes, so an interrupted build resumes. Default 2048. */
  checkpointEvery?: number;
  /** How long to wait for another process building the same cache. Default 10 min. */
  lockTimeoutMs?: number;
  /**
   * Object crops instead of whole images: each listed file's boxes become entries named
   * `<file>#<index>` (its own cache folder). See CropRequests.
   */
  crops?: CropRequests;
  /** Take video files too (mp4, mov, avi, mkv, webm), each frame an entry named as Lightly names it (src/data/video). */
  videos?: VideoOptions;
}
