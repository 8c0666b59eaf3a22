// A folder of images → the decode-once image cache, with the settings lightly_config implies.
import type { ImageCache } from "../data/index.js";
import { buildImageCache, cacheSizeFor, defaultConcurrency } from "../data/index.js";
import type { LightlyConfig } from "../config/lightly-config.js";

export interface PrepareImagesOptions {
  /** Folder for the cache (keep it outside read-only input folders; hidden names inside the input folder are never listed). */
  cacheDir: string;
  /** collate.input_size sets the cache resolution, loader.num_workers the decodes in flight. */
  config: LightlyConfig;
  /** Cache side S; default cacheSizeFor(collate.input_size) (12.5% headroom for crops). */
  resolution?: number;
  /** Drop files whose bytes equal an earlier file's. Default true (the Lightly worker's remove_exact_duplicates). */
  removeExactDuplicates?: boolean;
  onProgress?: (done: number, total: number) => void;
  log?: (msg: string) => void;
}

/** Decodes (or reuses) every image of `inputDir`; corrupt files are listed in cache.corruptFilenames, never fatal. */
export async function prepareImages(inputDir: string, opts: PrepareImagesOptions): Promise<ImageCache> {
  const nw = opts.config.loader.num_workers;
  const cache = await buildImageCache(inputDir, {
    cacheDir: opts.cacheDir,
    resolution: opts.resolution ?? cacheSizeFor(opts.config.collate.input_size),
    removeExactDuplicates: opts.removeExactDuplicates ?? true,
    // -1 (Lightly: one worker per core): libuv's pool size, which runs the reads and sharp; more only queues.
    concurrency: nw < 0 ? defaultConcurrency() : Math.max(1, nw),
    onProgress: opts.onProgress,
  });
  const s = cache.stats;
  opts.log?.(
    `${cache.length} images (${s.decoded} decoded, ${s.reused} reused from the cache${cache.corruptFilenames.length ? `, ${cache.corruptFilenames.length} skipped` : ""}` +
      `${cache.duplicates.length ? `, ${cache.duplicates.length} exact duplicate(s)` : ""}) in ${(s.durationMs / 1000).toFixed(1)} s`,
  );
  for (const c of cache.corruptFilenames) opts.log?.(`  skipped ${c.filename}: ${c.code} (${c.reason})`);
  return cache;
}
