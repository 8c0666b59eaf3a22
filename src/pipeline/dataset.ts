// A folder of images → the decode-once image cache, with the settings lightly_config implies.
import type { ImageCache, Listing } from "../data/index.js";
import { buildImageCache, cacheSizeFor, defaultConcurrency, listImageFolder } from "../data/index.js";
import { predictionsDirOf, readTaskPredictions, cropBoxes, OBJECT_DETECTION, type TaskPredictions } from "../predictions/index.js";
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
  /** A listing made already (e.g. listFolderWithVideos', which makes video frames entries). */
  listing?: Listing;
}

/** The cache settings a lightly_config implies (shared by whole images, object crops and video listings). */
export function imageCacheOptions(opts: PrepareImagesOptions) {
  const nw = opts.config.loader.num_workers;
  return {
    cacheDir: opts.cacheDir,
    resolution: opts.resolution ?? cacheSizeFor(opts.config.collate.input_size),
    removeExactDuplicates: opts.removeExactDuplicates ?? true,
    // -1 (Lightly: one worker per core): libuv's pool size, which runs the reads and sharp; more only queues.
    concurrency: nw < 0 ? defaultConcurrency() : Math.max(1, nw),
    onProgress: opts.onProgress,
    listing: opts.listing,
  };
}

/** Decodes (or reuses) every image of `inputDir`; corrupt files are listed in cache.corruptFilenames, never fatal. */
export async function prepareImages(inputDir: string, opts: PrepareImagesOptions): Promise<ImageCache> {
  const cache = await buildImageCache(inputDir, imageCacheOptions(opts));
  const s = cache.stats;
  opts.log?.(
    `${cache.length} images (${s.decoded} decoded, ${s.reused} reused from the cache${cache.corruptFilenames.length ? `, ${cache.corruptFilenames.length} skipped` : ""}` +
      `${cache.duplicates.length ? `, ${cache.duplicates.length} exact duplicate(s)` : ""}) in ${(s.durationMs / 1000).toFixed(1)} s`,
  );
  for (const c of cache.corruptFilenames) opts.log?.(`  skipped ${c.filename}: ${c.code} (${c.reason})`);
  return cache;
}

export interface PrepareCropsOptions extends PrepareImagesOptions {
  /** The object-detection task whose boxes are cut. */
  task: string;
  /** Folder holding tasks.json and the task folders. Default <inputDir>/.lightly/predictions. */
  predictionsDir?: string;
  /** Box padding as a fraction of its width/height per side, clipped to the image. Default 0.1 (Lightly's). */
  padding?: number;
}

/**
 * Object crops of `inputDir` as a dataset: each box of the task's predictions, padded and clipped,
 * decoded once into a crop cache whose items are named `<image>#<index>`. The cache is an
 * ImageCache like prepareImages' (train, embedImages and openImageCache take it unchanged); its
 * widths/heights are the crops' sizes in the original image. Prediction problems are in
 * `predictions.issues` (per file), boxes that miss their image in `cache.corruptFilenames` (code
 * bad_box); neither stops the run. With a listing from listFolderWithVideos, frames are sources like
 * images (prediction files under the frame's name, crops cut from the full-size decoded frame).
 */
export async function prepareCrops(inputDir: string, opts: PrepareCropsOptions): Promise<{ cache: ImageCache; predictions: TaskPredictions }> {
  // The run's listing when it has one (with videos: crops are cut from frames too, by frame name).
  const listing = opts.listing ?? listImageFolder(inputDir);
  const predictions = readTaskPredictions(opts.predictionsDir ?? predictionsDirOf(inputDir), opts.task, listing.filenames);
  if (predictions.schema.taskType !== OBJECT_DETECTION) {
    throw new Error(`task "${opts.task}" is a ${predictions.schema.taskType} task; object crops need an ${OBJECT_DETECTION} task`);
  }
  for (const i of predictions.issues) opts.log?.(`  predictions: ${i.message}`);
  const cache = await buildImageCache(inputDir, {
    ...imageCacheOptions(opts),
    listing,
    crops: { boxes: cropBoxes(predictions), padding: opts.padding ?? 0.1 },
  });
  opts.log?.(
    `${cache.length} object crops of task "${opts.task}" from ${predictions.images.size} prediction files` +
      `${predictions.issues.length ? ` (${predictions.issues.length} prediction issue(s))` : ""}` +
      `${cache.corruptFilenames.length ? `, ${cache.corruptFilenames.length} crop(s) skipped` : ""}`,
  );
  for (const c of cache.corruptFilenames) opts.log?.(`  skipped ${c.filename}: ${c.code} (${c.reason})`);
  return { cache, predictions };
}
